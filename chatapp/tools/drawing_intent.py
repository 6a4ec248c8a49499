"""Does a message ask for a picture? English rules over its words, and the /image prompt and shape it asks for (no Qt).

For models that cannot call tools: a "Draw this" suggestion is offered only for a message read here as a drawing
request. Precision comes first (a suggestion under "Write a poem about the sea" is worse than none), so a message
is a request only in request form (an imperative drawing verb, "can you make an image of", "I'd like a picture
of", "show me what X would look like"), and questions about drawing, code, idioms ("draw a conclusion", "picture
this") and writing tasks are vetoed. Measured on tests/data/drawing_intent (tools/eval_drawing_intent.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..recipes import RecipeError
from ..recipes.request import ImageRequest, ModelLimits, prompt_and_loras

MAX_CHARS = 300   # a drawing request is a line or two; longer texts (and hostile pastes) are never read
SHAPES = ("square", "wide", "tall")
ASPECT = 3 / 2   # a wide picture's long side to its short one (a tall one is the same turned)


@dataclass(frozen=True)
class DrawingIntent:
    prompt: str
    shape: str | None = None   # "square" | "wide" | "tall": asked for in words ("..., square")

    def meta(self) -> dict:
        """As kept in the asking message's meta["draw_this"]."""
        return {"prompt": self.prompt, **({"shape": self.shape} if self.shape else {})}


def _words(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


# Anywhere in the message: it is about code, words or meanings, or it says not to draw.
_VETO = re.compile(r"\b" + _words(
    # code and tools: drawing there is programming
    r"(?<!\ba )python", r"matplotlib", r"opencv", r"cv2", r"(?:with|in|using|from) (?:pil|pillow)", r"numpy",
    r"seaborn", r"plotly", r"svg", r"css", r"html", r"javascript", r"typescript", r"js", r"java", r"kotlin",
    r"golang", r"c\+\+",
    r"c#", r"sql", r"regex", r"regular expression", r"latex", r"tikz", r"pygame", r"unity", r"godot", r"opengl",
    r"webgl", r"react", r"django", r"next\.js", r"docker", r"kubernetes", r"bash", r"powershell",
    r"script", r"code", r"function", r"api", r"program", r"algorithm", r"scikit-learn", r"sklearn",
    r"tensorflow", r"pytorch", r"excel", r"spreadsheet", r"markdown", r"json", r"image processing",
    # words, meanings and advice rather than a picture
    r"in words", r"with words", r"describe", r"description", r"explain", r"translate", r"summari[sz]e",
    r"summary", r"idioms?", r"(?:the|this|that)\s+(?:phrase|expression|saying)", r"meaning", r"means?\s*(?:\?|$)",
    r"suggest", r"ideas?", r"tips", r"advice", r"advise", r"poem", r"story", r"essay", r"haiku", r"limerick", r"lyrics",
    r"song", r"email", r"cover letter", r"recipe", r"names?",
    # plans and documents ("sketch a rough plan"), computer images ("an image of my hard drive"), the user's own
    # picture (an edit, not a new one), lotteries ("draw a random number")
    r"plan", r"outline", r"timeline", r"roadmap", r"strategy", r"schedule", r"itinerary", r"proposal", r"budget",
    r"contract", r"agreement", r"workflow", r"database", r"infrastructure", r"system architecture", r"error",
    r"bug", r"screenshot", r"exception", r"stack trace", r"hard drive", r"disk", r"partition", r"usb", r"sd card",
    r"virtual machine", r"vm", r"iso", r"container", r"backup",
    r"(?:this|that|the attached|my attached|the same) (?:photo|image|picture|pic|drawing|shot|selfie)",
    r"portrait mode",
    r"i (?:sent|uploaded|attached|shared)", r"random (?:number|name|card|winner|sample)", r"lottery", r"raffle",
    r"distribution",
    # not asking: "don't draw", "no need to draw", "how do I draw"
    r"don'?t", r"do not", r"no need", r"never (?:draw|paint|sketch)", r"how (?:do|to|can|should|would|did|does)")
    + r"(?!\w)", re.I)

_OPENER = re.compile(r"^(?:(?:hey|hi|hello|ok|okay|so|now|and|also|then|great|thanks|thank you|cool|alright|well|"
                     r"nice|awesome|perfect|next)\b[\s,!.]*)+", re.I)
# How a request is asked: "can you", "please", "I'd like you to" (each optional).
_FRAME = (r"(?:(?:please|pls|plz|kindly)\s+)?"
          r"(?:(?:can|could|would|will)\s+(?:you|u)\s+(?:please\s+|pls\s+|kindly\s+|maybe\s+|just\s+|quickly\s+)?"
          r"|i(?:'d|\s+would)\s+(?:like|love)\s+you\s+to\s+|i\s+(?:want|need)\s+you\s+to\s+"
          r"|go\s+ahead\s+and\s+|try\s+to\s+|(?:please|pls|plz)\s+)?")
# Verbs that mean drawing by themselves: "draw a fox", "paint me a sunset".
_DRAW_VERB = r"(?:draw|paint|sketch|doodle|illustrate|depict)"
# Verbs that make a picture only with a picture noun: "make an image of", "render a low-poly landscape".
_MAKE_VERB = r"(?:make|create|generate|produce|design|render|do|give|get|send|show|whip\s+up)"
# Asking to have one: "I'd like a painting of", "can I get a picture of".
_WANT = (r"(?:i\s+(?:want|need)|i(?:'d|\s+would)\s+(?:like|love)|(?:can|could|may)\s+i\s+(?:have|get|see)"
         r"|i'?m\s+looking\s+for)")
# Nouns for "a picture" itself: left out of the prompt ("an image of a fox" -> "a fox").
_GENERIC = (r"(?:image|picture|pic|photo|photograph|drawing|painting|illustration|sketch|artwork|piece\s+of\s+art"
            r"|rendering|render|graphic|depiction|doodle|art)s?")
# Kinds of picture that belong in the prompt ("a logo for a coffee shop").
_KEPT = (r"(?:portrait|logo|icon|wallpaper|poster|cartoon|comic|caricature|watercolou?r|banner|avatar|sticker"
         r"|mural|map|landscape|cityscape|seascape|still\s+life|scene|cover|mascot|emoji|postcard|pixel\s+art)")
_NOT_ADJ = r"(?!(?:of|for|with|that|to|and|in|on|about|from|this|it)\b)"
_ARTICLE = r"(?:a|an|the|one|some|\d+|two|three|four)\s+"
_A = r"(?:a|an|one|some|\d+|two|three|four)\s+"   # "make the picture" is about one already there; "make a picture" asks
_ADJ = rf"(?:{_NOT_ADJ}[\w'-]+\s+){{0,2}}"
_ME = r"(?:\s+(?:me|us)|\s+for\s+(?:me|us))?"

_DIRECT = re.compile(rf"^{_FRAME}(?P<verb>{_DRAW_VERB}){_ME}\s*[:\-–]?\s+(?P<object>.+)$", re.I)
# A picture noun asks for a picture when what follows says of what ("an image of", "a picture:"), or ends it;
# "an image caption", "a picture frame", "an image smaller" are other things.
_PICTURE = rf"{_A}{_ADJ}(?:{_GENERIC}(?=\s*(?:of\b|showing|depicting|featuring|with\b|:|[.!?]*$))|{_KEPT}\b)"
_MAKE = re.compile(rf"^{_FRAME}{_MAKE_VERB}{_ME}\s+(?P<object>{_PICTURE}.*)$", re.I)
_HAVE = re.compile(rf"^{_FRAME}{_WANT}\s+(?P<object>{_PICTURE}.*)$", re.I)
_LOOKS = re.compile(r"^" + _FRAME + r"(?:show\s+(?:me|us)|draw|paint|sketch)(?:\s+me)?\s+what\s+(?P<object>.+?)\s+"
                    r"(?:would|will|might|could|should|may)?\s*looks?\s+like\b", re.I)
# "A picture of a fox, please": a picture noun alone asks only with a please (else it may be a caption).
_ALONE = re.compile(rf"^(?P<object>(?:a|an)\s+{_GENERIC}\s+of\s+[^?]+?,?\s+(?:please|pls|plz)[.!]*)$", re.I)
# Nothing to draw: "draw a picture", "a picture of this", "a picture of what happened".
_NOTHING = re.compile(r"^(?:this|that|it|these|those|them|you|yourself|me|him|her|us|what|how|why|when|where|which"
                      r"|whether|if)\b", re.I)
# "Illustrate the importance of sleep" explains; "illustrate a knight" draws: these two verbs need an indefinite object.
_INDEFINITE = re.compile(rf"^(?:{_A}|{_ADJ}{_KEPT}\b)", re.I)
_NOUN_ONLY = re.compile(rf"(?:{_ARTICLE})?{_ADJ}{_GENERIC}", re.I)
# "an image of X" / "a painting: X" -> X; adjectives ("an oil painting of") keep the phrase whole.
_OF = re.compile(rf"^(?:{_ARTICLE})?{_GENERIC}\s*(?:of|showing|depicting|featuring|:)\s*(?P<rest>.+)$", re.I)

# What a drawing verb's object must not be: idioms ("draw a conclusion"), particles ("draw up", "sketch out"),
# things that are not pictures ("draw a chart"), pronouns with nothing to draw ("draw it again").
_OBJECT_VETO = re.compile(r"^(?:(?:a|an|the|some|your|my|his|her|their|our)\s+)?" + _words(
    r"up", r"out", r"on", r"upon", r"from", r"in", r"back", r"near", r"closer", r"over", r"together", r"unto",
    r"level", r"even", r"this", r"that", r"it", r"these", r"those", r"them", r"how", r"why", r"what", r"when",
    r"where", r"whether", r"which", r"if", r"conclusions?", r"lines?", r"blank", r"attention",
    r"cards?", r"salary", r"pension", r"money", r"funds", r"cash", r"interest", r"blood", r"water", r"breath",
    r"lots", r"straws?", r"short\s+straw", r"comparisons?", r"parallels?", r"distinctions?", r"curtains",
    r"blinds", r"bath", r"pint", r"fire", r"ire", r"criticism", r"praise", r"crowds?", r"inspiration",
    r"verdict", r"services?", r"decision", r"list", r"chart", r"graph", r"plot", r"winner", r"sample",
    r"tickets?", r"answer", r"example", r"argument", r"concept", r"explanation", r"response", r"reply",
    r"statement", r"claim", r"importance", r"significance", r"benefits?", r"effects?", r"impact",
    r"diagram", r"flowchart", r"table", r"histogram", r"uml", r"schema", r"border", r"boundary", r"data",
    r"results", r"numbers", r"page", r"template", r"text", r"component", r"point", r"difference",
    r"town", r"yourself", r"myself", r"(?:rosy|bleak|grim|clear|vivid|dark|positive|negative"
    r"|different|better|complete|full|fuller|broader|bigger)\s+picture",
    r"(?:sword|gun|weapon|blade|pistol)(?=\s*$)") + r"\b", re.I)
# Not a picture even from a drawing verb: "paint the walls", "draw your sword", "paint the picture: ...".
_OWNED = re.compile(r"^(?:(?:your|his|her|their|my|our)\s+(?:sword|gun|weapon|blade|pistol|bow)\b|the\s+picture\b)", re.I)
_SURFACE = re.compile(r"^(?:my|our|the|your|his|her|their)\s+(?:walls?|room|house|kitchen|bedroom|bathroom|fence|"
                      r"doors?|nails|ceiling|deck|car|furniture|cabinets|garage|office)\b", re.I)

_SHAPE_WORDS = {"square": "square", "1:1": "square", "wide": "wide", "widescreen": "wide", "wide-screen": "wide",
                "landscape": "wide", "horizontal": "wide", "16:9": "wide", "3:2": "wide", "4:3": "wide",
                "21:9": "wide", "tall": "tall", "vertical": "tall", "portrait": "tall", "9:16": "tall",
                "2:3": "tall", "3:4": "tall"}
_SHAPE_WORD = r"(?:square|wide|wide-screen|widescreen|landscape|horizontal|tall|vertical|portrait" \
              r"|1:1|16:9|3:2|4:3|21:9|9:16|2:3|3:4)"
_FORMAT = r"(?:format|orientation|mode|aspect(?:\s+ratio)?|ratio|size|shape|image|picture|one|please|pls)"
# Only a shape set apart from the description: "..., square", "in portrait format"; "a wide river valley" is not one.
_SHAPE = re.compile(rf"(?:\s*[,;(]\s*(?:in\s+|as\s+|make\s+it\s+)?(?:an?\s+)?{_SHAPE_WORD}(?:\s+{_FORMAT})*\s*\)?"
                    rf"|\s+(?:in\s+)?(?:an?\s+)?{_SHAPE_WORD}(?:\s+{_FORMAT})*\s+(?:format|orientation|mode|aspect)"
                    rf"(?:\s+ratio)?|\s+in\s+{_SHAPE_WORD})\s*$", re.I)
_SHAPE_NAME = re.compile(rf"(?<![\w-]){_SHAPE_WORD}(?![\w-])", re.I)
_TAIL = re.compile(r"(?:[\s,.!?:;]+|\s+(?:please|pls|plz|thanks|thank\s+you|for\s+me|if\s+you\s+can|if\s+possible"
                   r"|now|again)|\s*(?:,\s*)?(?:please|pls|plz|thanks|thank\s+you))\s*$", re.I)
_PURPOSE = re.compile(r"\s+for\s+(?:my|our)\s+(?:blog|website|site|post|article|newsletter|presentation|slides?"
                      r"|desktop|phone|wall|room|project|channel|profile)\s*$", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def read(text: str) -> DrawingIntent | None:
    """The picture a message asks for, or None when it does not ask for one (or is not sure)."""
    if not text or len(text) > MAX_CHARS or "```" in text:
        return None
    text = re.sub(r"[ \t]+", " ", text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"'))
    if _VETO.search(text):
        return None
    for sentence in _SENTENCE.split(text):
        found = _request(_OPENER.sub("", sentence.strip()).strip())
        if found is not None:
            return found
    return None


def _request(sentence: str) -> DrawingIntent | None:
    m = _LOOKS.match(sentence)
    if m:
        return _intent(m["object"], strip_noun=False)
    for pattern in (_DIRECT, _MAKE, _HAVE, _ALONE):
        m = pattern.match(sentence)
        if m is None:
            continue
        if pattern is _DIRECT and (_OBJECT_VETO.match(m["object"]) or _OWNED.match(m["object"])
                                   or m["verb"].lower() == "paint" and _SURFACE.match(m["object"])
                                   or m["verb"].lower() in ("illustrate", "depict") and not _INDEFINITE.match(m["object"])):
            continue
        found = _intent(m["object"])
        if found is not None:
            return found
    return None


def _intent(words: str, strip_noun: bool = True) -> DrawingIntent | None:
    words, shape = _trimmed(words), None
    m = _SHAPE.search(words)
    if m:
        words, shape = _trimmed(words[:m.start()]), _SHAPE_WORDS[_SHAPE_NAME.search(m[0])[0].lower()]
    words = _PURPOSE.sub("", words)
    m = _OF.match(words) if strip_noun else None
    if m:
        words = _trimmed(m["rest"])
    if not re.search(r"[^\W\d_]", words) or _NOUN_ONLY.fullmatch(words) or _NOTHING.match(words):
        return None
    return DrawingIntent(words, shape)


def _trimmed(words: str) -> str:
    """Without the closing words that are not the picture: punctuation, "please", "for me"."""
    while (m := _TAIL.search(words)) is not None:
        words = words[:m.start()]
    return words.strip()


def size(shape: str | None, limits: ModelLimits) -> tuple[int, int] | None:
    """A shape as the loaded image model's size: its own side for square, 3:2 or 2:3 around it, kept within
    its limits. None before the model has loaded (its own size is used then)."""
    if shape not in SHAPES or limits.fits is None:
        return None
    side = min(limits.fits)
    step = limits.multiple

    def fit(n: float) -> int:
        return max(step, min(limits.max_side // step * step, round(n / step) * step))
    if shape == "square":
        return fit(side), fit(side)
    long, short = fit(side * ASPECT), fit(side)
    return (long, short) if shape == "wide" else (short, long)


def request(meta: dict, limits: ModelLimits) -> ImageRequest:
    """The /image request a "Draw this" suggestion (a message's meta["draw_this"]) stands for; RecipeError if the
    recipe cannot take it."""
    prompt = meta.get("prompt") if isinstance(meta, dict) else None
    if not isinstance(prompt, str):
        raise RecipeError("This suggestion has no prompt.", "prompt")
    wh = size(meta.get("shape"), limits)
    text, loras = prompt_and_loras(prompt, "")   # <lora:NAME:W> in the words reads as /image reads it
    return ImageRequest.from_fields(prompt=text, loras=loras, width=wh[0] if wh else None,
                                    height=wh[1] if wh else None, limits=limits)
