"""Everyday objects for the emoji image model: the chosen glyphs, their words, and cached renders.

`python tools/emoji_objects.py --write-manifest` rebuilds tools/emoji_objects.json (needs the
`emoji` package, the project's `train` extra, and Debian's fonts-noto-color-emoji); training and
evaluation read only the manifest and the font.
"""
from __future__ import annotations

import argparse
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

MANIFEST = Path(__file__).with_name("emoji_objects.json")
FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_SIZE = 109  # Noto Color Emoji is a bitmap font: its one native size
GLYPH_SOURCE = {"name": "Noto Color Emoji (Debian fonts-noto-color-emoji)", "licence": "SIL OFL 1.1",
                "url": "https://github.com/googlefonts/noto-emoji"}
CACHE = Path(os.environ.get("CHATAPP_TRAIN_CACHE", Path.home() / ".cache" / "chatapp-train"))

# The chosen glyphs by category: everyday things a person asks to see, readable at 32x32.
CATEGORIES = {
    "faces": "😀😂😊😍😎🤓🥳😢😭😡😱😴🤔😷🤠😈👻💀👽🤖🎃💩🤡😺🙈",
    "animals": "🐶🐱🐭🐹🐰🦊🐻🐼🐨🐯🦁🐮🐷🐸🐵🐔🐧🐦🐤🦆🦅🦉🦇🐺🐗🐴🦄🐝🐛🦋🐌🐞🐜🕷🦂🐢🐍🦎🦖🦕🐙🦑🦐🦞🦀"
               "🐡🐠🐟🐬🐳🦈🐊🐅🐆🦓🦍🐘🦛🦏🐪🦒🦘🐃🐄🐎🐖🐏🐑🦙🐐🦌🐕🐩🐈🐓🦃🦚🦜🦢🦩🕊🐇🦝🦨🦡🦦🦥🐁🐿🦔🐾🐉",
    "plants": "💐🌸🌹🥀🌺🌻🌼🌷🌱🌲🌳🌴🌵🌾🌿🍀🍁🍂🍃🍄🌰",
    "food": "🍏🍎🍐🍊🍋🍌🍉🍇🍓🍈🍒🍑🥭🍍🥥🥝🍅🍆🥑🥦🥬🥒🌶🌽🥕🧄🧅🥔🍠🥐🥯🍞🥖🥨🧀🥚🍳🧈🥞🧇🥓🥩🍗🍖🌭🍔🍟🍕🥪🥙🧆🌮🌯"
            "🥗🥘🥫🍝🍜🍲🍛🍣🍱🥟🍤🍙🍚🍘🍥🥠🍢🍡🍧🍨🍦🥧🧁🍰🎂🍮🍭🍬🍫🍿🍩🍪🥜🍯🥛🍼☕🍵🧃🥤🍶🍺🍻🥂🍷🥃🍸🍹🧉🍾🧊🥄🍴🥢🧂",
    "vehicles": "🚗🚕🚙🚌🚎🏎🚓🚑🚒🚐🛻🚚🚛🚜🛴🚲🛵🏍🛺🚨🚡🚠🚟🚃🚋🚄🚂🚆🚇🚊✈🛩🚀🛸🚁🛶⛵🚤🛥🛳⛴🚢⚓🚧⛽🚦🛑",
    "buildings": "🏠🏡🏘🏚🏗🏭🏢🏬🏣🏤🏥🏦🏨🏪🏫🏩💒🏛⛪🕌🕍🛕⛩🗼🗽🗿🏰🏯🏟🎡🎢🎠⛲⛱🏖🏝🏜🌋⛰🏔🗻🏕⛺🌉🌁",
    "weather": "☀🌤⛅🌥☁🌦🌧⛈🌩🌨❄☃⛄🌬🌪🌫🌈☂☔⚡🔥💧🌊🌙⭐🌟☄🌍🪐",
    "tools": "🔨🪓⛏🔧🔩⚙🧱⛓🧲🔫💣🧨🔪🗡⚔🛡🔦🕯💡🔌🔋🧰🪛🪚🧹🧺🧻🧽🧴🪒🧯🔑🗝🔒🔓📎🖇📌📍✂🖊✏🖍🖌📏📐🔍🔭🔬💊💉🩹🌡🧪",
    "objects": "⌚📱💻⌨🖥🖨🖱💾💿📷📹🎥📞☎📺📻🎙⏰⏳🧭💰💵💳💎⚖🔔📦✉📫📝📚📖📒📕📰🗑🚪🪑🛋🛏🚽🚿🛁🪞🧸🖼🛒🎁🎈🎀🎉🏮"
               "👓🕶🥽👔👕👖🧣🧤🧥🧦👗👘👙👚👛👜🎒👞👟🥾👠👡👢👑👒🎩🎓🧢⛑💄💍💼🌂⚽⚾🏀🏐🏈🏉🎾🎳🏓🏸🥊⛳🎣🛹🛷🎯🪁🎱"
               "🎮🕹🎲🧩♟🎨🧵🧶🎷🎸🎹🎺🎻🥁🏆🥇🏅⚱🏺🔮🧿🎭🪀🛎🧬🦠🧫❤💔🔔",
}

# Words people type for a glyph, beside its CLDR name (first word: the name captions use most).
SYNONYMS = {
    "🐱": "cat kitten kitty", "🐶": "dog puppy doggy", "🐭": "mouse", "🐰": "rabbit bunny", "🦊": "fox",
    "🐻": "bear", "🐼": "panda", "🐨": "koala", "🐯": "tiger", "🦁": "lion", "🐮": "cow", "🐷": "pig",
    "🐸": "frog", "🐵": "monkey", "🐔": "chicken hen", "🐧": "penguin", "🐦": "bird", "🐤": "chick",
    "🦆": "duck", "🦅": "eagle", "🦉": "owl", "🦇": "bat", "🐺": "wolf", "🐴": "horse pony", "🦄": "unicorn",
    "🐝": "bee honeybee", "🐛": "caterpillar worm", "🦋": "butterfly", "🐌": "snail", "🐞": "ladybug ladybird",
    "🐜": "ant", "🕷": "spider", "🐢": "turtle tortoise", "🐍": "snake", "🦎": "lizard", "🦖": "dinosaur t-rex",
    "🐙": "octopus", "🦀": "crab", "🐟": "fish", "🐠": "tropical fish", "🐬": "dolphin", "🐳": "whale",
    "🦈": "shark", "🐊": "crocodile alligator", "🐘": "elephant", "🦒": "giraffe", "🐪": "camel",
    "🦓": "zebra", "🦍": "gorilla ape", "🐑": "sheep lamb", "🐐": "goat", "🦌": "deer", "🐓": "rooster",
    "🦃": "turkey", "🦜": "parrot", "🦢": "swan", "🐇": "hare", "🐿": "squirrel", "🦔": "hedgehog",
    "🐉": "dragon", "🐈": "house cat", "🐕": "hound", "🐎": "racehorse", "🐖": "hog",
    "🌹": "rose", "🌻": "sunflower", "🌷": "tulip", "🌸": "blossom", "🌲": "pine tree fir christmas tree",
    "🌳": "tree", "🌴": "palm tree", "🌵": "cactus", "🍀": "clover", "🍁": "maple leaf", "🍂": "autumn leaves",
    "🍄": "mushroom", "💐": "bouquet flowers", "🌼": "flower daisy", "🌱": "seedling sprout plant",
    "🍎": "apple red apple", "🍏": "green apple", "🍐": "pear", "🍊": "orange tangerine", "🍋": "lemon",
    "🍌": "banana", "🍉": "watermelon", "🍇": "grapes", "🍓": "strawberry", "🍒": "cherries cherry",
    "🍑": "peach", "🍍": "pineapple", "🥥": "coconut", "🥝": "kiwi", "🍅": "tomato", "🍆": "eggplant aubergine",
    "🥑": "avocado", "🥦": "broccoli", "🥕": "carrot", "🌽": "corn", "🥔": "potato", "🍞": "bread loaf",
    "🧀": "cheese", "🥚": "egg", "🍔": "burger hamburger", "🍟": "fries chips", "🍕": "pizza", "🌭": "hot dog",
    "🥪": "sandwich", "🌮": "taco", "🍜": "noodles ramen", "🍣": "sushi", "🍦": "ice cream", "🍩": "doughnut donut",
    "🍪": "cookie biscuit", "🎂": "cake birthday cake", "🧁": "cupcake", "🍫": "chocolate", "🍬": "candy sweet",
    "🍭": "lollipop", "🍿": "popcorn", "☕": "coffee", "🍵": "tea", "🍺": "beer", "🍷": "wine", "🥛": "milk",
    "🍯": "honey", "🥐": "croissant", "🥞": "pancakes", "🌶": "chili pepper",
    "🚗": "car automobile", "🚕": "taxi cab", "🚌": "bus", "🚓": "police car", "🚑": "ambulance",
    "🚒": "fire engine fire truck", "🚚": "truck lorry", "🚜": "tractor", "🚲": "bicycle bike", "🏍": "motorcycle motorbike",
    "🛵": "scooter", "🚂": "train locomotive steam engine", "✈": "airplane aeroplane plane", "🚀": "rocket",
    "🚁": "helicopter", "⛵": "sailboat boat", "🚢": "ship", "🛸": "ufo flying saucer", "🏎": "racing car race car",
    "🚦": "traffic light", "🛑": "stop sign", "⚓": "anchor", "🛶": "canoe",
    "🏠": "house home", "🏡": "cottage", "🏰": "castle", "🏢": "office building", "🏥": "hospital",
    "🏫": "school", "⛪": "church", "🗼": "tower", "🗽": "statue of liberty", "⛺": "tent", "🌋": "volcano",
    "⛰": "mountain", "🏖": "beach", "🏝": "island", "🌉": "bridge", "🎡": "ferris wheel", "🏭": "factory",
    "☀": "sun sunny", "☁": "cloud cloudy", "🌧": "rain rainy", "⛈": "storm thunderstorm", "❄": "snowflake snow",
    "⛄": "snowman", "🌈": "rainbow", "☂": "umbrella", "⚡": "lightning", "🔥": "fire flame", "💧": "drop water",
    "🌊": "wave sea", "🌙": "moon", "⭐": "star", "🌍": "earth globe world", "🪐": "planet saturn",
    "🔨": "hammer", "🪓": "axe", "🔧": "wrench spanner", "🔩": "bolt nut", "⚙": "gear cog", "🧲": "magnet",
    "🔑": "key", "🔒": "lock padlock", "✂": "scissors", "✏": "pencil", "🖊": "pen", "📏": "ruler",
    "🔍": "magnifying glass", "💡": "light bulb lamp", "🕯": "candle", "🔦": "flashlight torch", "🔋": "battery",
    "🧹": "broom", "🪚": "saw", "🪛": "screwdriver", "🧰": "toolbox", "💊": "pill", "🌡": "thermometer",
    "⌚": "watch", "📱": "phone mobile phone smartphone", "💻": "laptop computer", "⌨": "keyboard",
    "📷": "camera", "☎": "telephone", "📺": "television tv", "📻": "radio", "⏰": "alarm clock clock",
    "💰": "money bag", "💎": "diamond gem", "🔔": "bell", "📦": "box package parcel", "✉": "envelope letter",
    "📚": "books", "📖": "book", "🚪": "door", "🪑": "chair", "🛋": "sofa couch", "🛏": "bed", "🧸": "teddy bear",
    "🎁": "gift present", "🎈": "balloon", "👓": "glasses spectacles", "🕶": "sunglasses", "👕": "t-shirt shirt",
    "👖": "jeans trousers", "🧦": "socks", "👗": "dress", "👟": "sneaker trainer shoe", "👑": "crown",
    "🎩": "top hat hat", "🧢": "cap", "🎒": "backpack", "💍": "ring", "💼": "briefcase", "⚽": "football soccer ball ball",
    "🏀": "basketball", "🎾": "tennis", "🎮": "video game controller", "🎲": "dice", "🧩": "puzzle",
    "🎨": "palette paint", "🎸": "guitar", "🎹": "piano", "🎺": "trumpet", "🎻": "violin", "🥁": "drum",
    "🏆": "trophy cup", "❤": "heart love", "💔": "broken heart",
    "😀": "smiley happy face smile", "😂": "laughing", "😊": "blush", "😍": "heart eyes", "😎": "cool sunglasses face",
    "😢": "sad crying", "😡": "angry", "😱": "scared scream", "😴": "sleepy sleeping", "🤔": "thinking",
    "👻": "ghost", "💀": "skull", "👽": "alien", "🤖": "robot", "🎃": "pumpkin jack-o-lantern", "🤡": "clown",
    "🙈": "see no evil monkey",
}


def _cldr_names(char: str) -> list[str]:
    import emoji
    data = emoji.EMOJI_DATA.get(char) or emoji.EMOJI_DATA.get(char + "\ufe0f")
    if data is None:
        raise KeyError(f"{char!r} is not an emoji the emoji package knows")
    names = [data["en"], *data.get("alias", [])]
    return [n.strip(":").replace("_", " ").lower() for n in names]


def build_manifest() -> dict:
    """Every chosen glyph with its words; a phrase belongs to the first glyph that claims it."""
    import emoji
    claimed: dict[str, str] = {}
    objects = []
    order = [(cat, ch) for cat, chars in CATEGORIES.items() for ch in chars]
    seen = set()
    # Hand-written synonyms claim their words before any CLDR name does ("cat" is the cat face).
    for pass_ in ("synonyms", "cldr"):
        for cat, ch in order:
            pool = SYNONYMS.get(ch, "") if pass_ == "synonyms" else ""
            phrases = _split_synonyms(pool) if pass_ == "synonyms" else _cldr_names(ch)
            for p in phrases:
                claimed.setdefault(p, ch)
    for cat, ch in order:
        if ch in seen:
            continue
        seen.add(ch)
        words = [p for p in _split_synonyms(SYNONYMS.get(ch, "")) + _cldr_names(ch) if claimed.get(p) == ch]
        words = list(dict.fromkeys(words))
        if not words or render_glyph(ch) is None:
            continue
        objects.append({"name": words[0], "words": words, "category": cat, "char": ch,
                        "codepoints": " ".join(f"U+{ord(c):04X}" for c in ch), "source": "noto"})
    return {"glyph_sources": {"noto": GLYPH_SOURCE}, "emoji_package": emoji.__version__, "objects": objects}


def _split_synonyms(pool: str) -> list[str]:
    """'fire engine fire truck' is two phrases: known multi-word phrases are kept whole."""
    multi = ("tropical fish", "house cat", "pine tree", "christmas tree", "palm tree", "maple leaf",
             "autumn leaves", "red apple", "green apple", "birthday cake", "ice cream", "hot dog",
             "police car", "fire engine", "fire truck", "steam engine", "racing car", "race car",
             "traffic light", "stop sign", "flying saucer", "office building", "statue of liberty",
             "ferris wheel", "magnifying glass", "light bulb", "alarm clock", "money bag", "teddy bear",
             "mobile phone", "laptop computer", "video game controller", "soccer ball", "top hat",
             "broken heart", "happy face", "heart eyes", "cool sunglasses face", "see no evil monkey",
             "chili pepper")
    words, out = pool.split(), []
    while words:   # left to right, so the first phrase stays first (it becomes the object's name)
        n = next((len(m.split()) for m in multi if words[:len(m.split())] == m.split()), 1)
        out.append(" ".join(words[:n]))
        words = words[n:]
    return out


@lru_cache(maxsize=None)
def _font():
    from PIL import ImageFont
    if not FONT.exists():
        raise FileNotFoundError(f"{FONT} is missing: install Debian's fonts-noto-color-emoji")
    return ImageFont.truetype(str(FONT), FONT_SIZE)


def render_glyph(char: str) -> np.ndarray | None:
    """The glyph as a tight RGBA uint8 array (about 128 px a side); None where the font lacks it."""
    from PIL import Image, ImageDraw
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((8, 8), char, font=_font(), embedded_color=True)
    box = canvas.getbbox()
    if box is None or (box[2] - box[0]) < 40:   # missing glyphs draw nothing or a narrow box
        return None
    return np.asarray(canvas.crop(box))


def load_manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def objects() -> list[dict]:
    return load_manifest()["objects"]


def glyphs() -> dict[str, np.ndarray]:
    """char -> RGBA render, rendered once and cached outside the repository (CHATAPP_TRAIN_CACHE)."""
    cache = CACHE / "noto_glyphs.npz"
    chars = [o["char"] for o in objects()]
    if cache.exists():
        with np.load(cache) as data:
            found = {k: data[k] for k in data.files}
        by_char = {o["char"]: found.get(o["codepoints"]) for o in objects()}
        if all(v is not None for v in by_char.values()):
            return by_char
    by_char = {ch: render_glyph(ch) for ch in chars}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache.with_suffix(".tmp.npz"), **{o["codepoints"]: by_char[o["char"]] for o in objects()})
    os.replace(cache.with_suffix(".tmp.npz"), cache)
    return by_char


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write-manifest", action="store_true")
    args = ap.parse_args()
    if args.write_manifest:
        m = build_manifest()
        # One object a line: the file stays readable and its diffs small.
        rows = ",\n".join("  " + json.dumps(o, ensure_ascii=False) for o in m["objects"])
        head = json.dumps({k: v for k, v in m.items() if k != "objects"}, ensure_ascii=False)[:-1]
        MANIFEST.write_text(f'{head}, "objects": [\n{rows}\n]}}\n', encoding="utf-8")
        cats = {}
        for o in m["objects"]:
            cats[o["category"]] = cats.get(o["category"], 0) + 1
        print(f"{len(m['objects'])} objects -> {MANIFEST}: {cats}")


if __name__ == "__main__":
    main()
