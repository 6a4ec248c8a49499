"""Compositions for the emoji image model: glyph x background x position x size, one or two objects.

Like tools/shapes.py for tiny-shapes: vocabulary, captions in many phrasings, rendering at 32x32,
a fixed held-out set never drawn in training, and training batches that mix shapes scenes in so
the shapes prompts keep working.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

import emoji_objects
import shapes

SIZE = shapes.SIZE
BACKGROUNDS = shapes.COLOURS
POSITIONS = shapes.POSITIONS
PIXELS = {"small": 11, None: 16, "large": 23}   # the object's longer side, in pixels
PAIR_PIXELS = 14
PAIR_CENTRES = ((8, 16), (24, 16))             # two objects: left, then right
SHAPES_SHARE = 0.15                            # of a training batch: tiny-shapes' own scenes
# Of the emoji scenes: two objects. 0.2 until step ~11,100 of the long run; then 0.35 for its last (annealing) steps,
# where two-object prompts were furthest behind (both right 30% against 68% for one object, at step 10,794).
PAIR_SHARE = 0.35
# Of the emoji scenes and the shapes ones: a caption that names no background, drawn on white. A person's first
# prompt names none ("a cat"); with every caption naming one, such a prompt was outside what the model learnt
# (tiny-shapes, trained so, drew "a red circle" red on red). Added at step 8800 of the long run (2026-12-07).
UNNAMED_BG_SHARE = 0.15
DEFAULT_BG = "white"


@dataclass(frozen=True)
class Scene:
    objects: tuple[str, ...]     # object names from the manifest: one, or two (left, right)
    bg: str
    size: str | None = None      # None: medium, not mentioned
    position: str | None = None  # None: centre, not mentioned

    @property
    def key(self) -> tuple:
        return (self.objects, self.bg, self.size, self.position)


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict]:
    return {o["name"]: o for o in emoji_objects.objects()}


@lru_cache(maxsize=1)
def _glyphs() -> dict[str, np.ndarray]:
    return emoji_objects.glyphs()


def vocabulary() -> list[str]:
    """tiny-shapes' words first (their ids stay put), then every word of the objects' phrases."""
    words = shapes.vocabulary()
    extra = ["and", "next", "to", "beside", "two", "things", "emoji", "icon", "small", "large"]
    from tokenizers import pre_tokenizers   # split exactly as the model's tokenizer will ("t-rex": t - rex)
    split = pre_tokenizers.Whitespace().pre_tokenize_str
    for o in catalogue().values():
        for phrase in o["words"]:
            extra += [w for w, _ in split(phrase.lower())]
    for w in extra:
        if w not in words:
            words.append(w)
    return words


def random_scene(rng: random.Random) -> Scene:
    names = list(catalogue())
    bg = rng.choice(list(BACKGROUNDS))
    if rng.random() < PAIR_SHARE:
        a, b = rng.sample(names, 2)
        return Scene((a, b), bg)
    return Scene((rng.choice(names),), bg, rng.choice([None, None, "small", "large"]),
                 rng.choice([None, None, None] + list(POSITIONS)))


def held_out_scenes(count: int = 300, pairs: int = 60, seed: int = 4321) -> list[Scene]:
    """Compositions never drawn in training; the evaluation uses only these (singles, then pairs)."""
    rng = random.Random(seed)
    names = list(catalogue())
    out: dict[tuple, Scene] = {}
    while len(out) < count:
        # Every held-out single names a size or a position: a full, specific prompt.
        s = Scene((rng.choice(names),), rng.choice(list(BACKGROUNDS)), rng.choice([None, "small", "large"]),
                  rng.choice(list(POSITIONS)))
        out[s.key] = s
    while len(out) < count + pairs:
        s = Scene(tuple(rng.sample(names, 2)), rng.choice(list(BACKGROUNDS)))
        out[s.key] = s
    return list(out.values())


@lru_cache(maxsize=1)
def held_out_keys() -> frozenset:
    return frozenset(s.key for s in held_out_scenes())


def _article(phrase: str) -> str:
    return "an" if phrase[0] in "aeiou" else "a"


def _word(name: str, rng: random.Random) -> str:
    words = catalogue()[name]["words"]
    return words[0] if rng.random() < 0.5 else rng.choice(words)


def caption(scene: Scene, rng: random.Random, background: bool = True) -> str:
    """One English phrasing of the scene, picked at random from many; background False: one that names none."""
    bg = scene.bg
    if len(scene.objects) == 2:
        a, b = (_word(n, rng) for n in scene.objects)
        templates = [f"{_article(a)} {a} and {_article(b)} {b} on a {bg} background",
                     f"{a} and {b} on {bg}", f"{bg} background, {a} and {b}",
                     f"{_article(a)} {a} on the left and {_article(b)} {b} on the right, {bg} background",
                     f"{a} left, {b} right, {bg} background", f"a picture of {_article(a)} {a} and {_article(b)} {b} on {bg}"]
        if not background:
            templates = [f"{_article(a)} {a} and {_article(b)} {b}", f"{a} and {b}", f"{a} left, {b} right",
                         f"{_article(a)} {a} on the left and {_article(b)} {b} on the right",
                         f"a picture of {_article(a)} {a} and {_article(b)} {b}"]
    else:
        w = _word(scene.objects[0], rng)
        size = f"{rng.choice(shapes.SIZE_WORDS[scene.size])} " if scene.size else ""
        obj = f"{size}{w}"
        a = _article(obj)
        pos = rng.choice(shapes.POSITION_PHRASES[scene.position]) if scene.position else ""
        templates = [f"{a} {obj} {pos} on a {bg} background", f"{obj} {pos} on {bg}", f"{bg} background, {obj} {pos}",
                     f"{obj}, {pos}, {bg} background", f"on a {bg} background, {a} {obj} {pos}",
                     f"a picture of {a} {obj} {pos} on a {bg} background", f"{a} {obj} with a {bg} background {pos}",
                     f"{a} {obj} {pos}, {bg} background"]
        if not background:
            templates = [f"{a} {obj} {pos}", f"{obj} {pos}", f"{obj}, {pos}", f"a picture of {a} {obj} {pos}",
                         f"{pos}, {a} {obj}" if pos else f"{a} {obj}"]
    text = " ".join(rng.choice(templates).split()).replace(" ,", ",")
    while ",," in text:
        text = text.replace(",,", ",")
    return text.strip(" ,")


def eval_caption(scene: Scene) -> str:
    """The one fixed phrasing the evaluation uses for a held-out scene."""
    if len(scene.objects) == 2:
        a, b = scene.objects
        return f"{_article(a)} {a} and {_article(b)} {b} on a {scene.bg} background"
    name = scene.objects[0]
    obj = f"{scene.size} {name}" if scene.size else name
    pos = f" {shapes.POSITION_PHRASES[scene.position][0]}" if scene.position else ""
    return f"{_article(obj)} {obj}{pos} on a {scene.bg} background"


@lru_cache(maxsize=8192)
def _sized(name: str, pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """The glyph scaled so its longer side is `pixels`: (RGB float, alpha 0..1)."""
    from PIL import Image
    g = Image.fromarray(_glyphs()[catalogue()[name]["char"]])
    scale = pixels / max(g.size)
    g = g.resize((max(1, round(g.width * scale)), max(1, round(g.height * scale))), Image.LANCZOS)
    a = np.asarray(g).astype(np.float32)
    return a[..., :3], a[..., 3:] / 255.0


def _paste(canvas: np.ndarray, name: str, pixels: int, cx: float, cy: float) -> None:
    rgb, alpha = _sized(name, pixels)
    h, w = alpha.shape[:2]
    x0 = int(round(min(max(cx - w / 2, 0), SIZE - w)))
    y0 = int(round(min(max(cy - h / 2, 0), SIZE - h)))
    region = canvas[y0:y0 + h, x0:x0 + w]
    region[:] = alpha * rgb + (1 - alpha) * region


def render(scene: Scene, rng: random.Random) -> np.ndarray:
    """Draw the scene as a SIZE x SIZE uint8 RGB array."""
    bg = np.clip(np.array(BACKGROUNDS[scene.bg]) + [rng.uniform(-8, 8) for _ in range(3)], 0, 255)
    canvas = np.broadcast_to(bg.astype(np.float32), (SIZE, SIZE, 3)).copy()
    if len(scene.objects) == 2:
        for name, (cx, cy) in zip(scene.objects, PAIR_CENTRES):
            _paste(canvas, name, PAIR_PIXELS + rng.randint(-1, 1), cx + rng.uniform(-1, 1), cy + rng.uniform(-2, 2))
    else:
        tx, ty = POSITIONS[scene.position or "centre"]
        _paste(canvas, scene.objects[0], PIXELS[scene.size] + rng.randint(-1, 1),
               tx + rng.uniform(-1.5, 1.5), ty + rng.uniform(-1.5, 1.5))
    return canvas.round().clip(0, 255).astype(np.uint8)


def _ground(scene, rng: random.Random, keep: bool = False):
    """(scene, whether its caption names the background): UNNAMED_BG_SHARE of them are drawn on DEFAULT_BG with a
    caption that names none (unless keep). Shapes and emoji scenes alike: both have a bg field."""
    named = rng.random() >= UNNAMED_BG_SHARE or keep
    return (scene, True) if named else (replace(scene, bg=DEFAULT_BG), False)


def training_example(rng: random.Random, drop: float = 0.1) -> tuple[np.ndarray, str]:
    """One picture and its caption ('' for caption dropout); held-out scenes of either kind never come."""
    if rng.random() < SHAPES_SHARE:
        held = shapes_held_out_keys()
        while True:
            s = shapes.random_scene(rng)
            s, named = _ground(s, rng, keep=s.fg == DEFAULT_BG)   # a white shape keeps its named ground
            if s.key not in held:
                return shapes.render(s, rng), ("" if rng.random() < drop else shapes.caption(s, rng, background=named))
    while True:
        s, named = _ground(random_scene(rng), rng)
        if s.key not in held_out_keys():
            return render(s, rng), ("" if rng.random() < drop else caption(s, rng, background=named))


@lru_cache(maxsize=1)
def shapes_held_out_keys() -> frozenset:
    return frozenset(s.key for s in shapes.held_out_scenes())
