"""Procedural scenes for the embedded image model: vocabulary, captions, rendering, pixel checks."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

SIZE = 32  # native resolution of the embedded model, in pixels

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 165, 50),
    "blue": (30, 70, 225),
    "yellow": (245, 220, 30),
    "orange": (245, 135, 20),
    "purple": (135, 45, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "medium", "large")
# Object centres (x, y) in a 32x32 frame; clamped later so the object stays inside.
POSITIONS = {
    "centre": (16, 16), "left": (7, 16), "right": (25, 16), "top": (16, 7), "bottom": (16, 25),
    "top left": (8, 8), "top right": (24, 8), "bottom left": (8, 24), "bottom right": (24, 24),
}
RADIUS = {"small": (3.8, 4.8), "medium": (6.0, 7.2), "large": (8.5, 9.5)}

SIZE_WORDS = {"small": ("small", "tiny", "little"), "large": ("large", "big", "huge")}
POSITION_PHRASES = {
    "centre": ("in the centre", "in the center", "in the middle", "centre", "center"),
    "left": ("on the left", "left", "at the left", "on the left side"),
    "right": ("on the right", "right", "at the right", "on the right side"),
    "top": ("at the top", "top", "near the top", "upper"),
    "bottom": ("at the bottom", "bottom", "near the bottom", "lower"),
    "top left": ("in the top left corner", "top left", "upper left", "at the top left"),
    "top right": ("in the top right corner", "top right", "upper right", "at the top right"),
    "bottom left": ("in the bottom left corner", "bottom left", "lower left", "at the bottom left"),
    "bottom right": ("in the bottom right corner", "bottom right", "lower right", "at the bottom right"),
}
FILLER = ("a", "an", "the", "on", "in", "at", "of", "with", "and", "is", "near", "picture",
          "image", "drawing", "background", "corner", "side", ",", ".")


def vocabulary() -> list[str]:
    """Every word the tokenizer knows, special tokens first."""
    words: list[str] = ["[PAD]", "[UNK]", "[BOS]"]
    pools = [FILLER, COLOURS, SHAPES, *SIZE_WORDS.values(), ("medium",)]
    pools += [" ".join(POSITION_PHRASES[p]).split() for p in POSITION_PHRASES]
    for pool in pools:
        for w in pool:
            if w not in words:
                words.append(w)
    return words


@dataclass(frozen=True)
class Scene:
    fg: str
    bg: str
    shape: str
    size: str | None = None      # None: medium, not mentioned
    position: str | None = None  # None: centre, not mentioned

    @property
    def key(self) -> tuple:
        return (self.fg, self.bg, self.shape, self.size, self.position)


def random_scene(rng: random.Random) -> Scene:
    fg = rng.choice(list(COLOURS))
    bg = rng.choice([c for c in COLOURS if c != fg])
    size = rng.choice([None, None, "small", "large"])
    position = rng.choice([None, None, None] + list(POSITIONS))
    return Scene(fg, bg, rng.choice(SHAPES), size, position)


def held_out_scenes(count: int = 150, seed: int = 1234) -> list[Scene]:
    """Scenes never drawn or captioned in training; the evaluation uses only these."""
    rng = random.Random(seed)
    out: dict[tuple, Scene] = {}
    while len(out) < count:
        s = random_scene(rng)
        # Every held-out scene names a size or position, so it is a full, specific prompt.
        if s.size is None and s.position is None:
            s = Scene(s.fg, s.bg, s.shape, rng.choice(["small", "large"]), rng.choice(list(POSITIONS)))
        out[s.key] = s
    return list(out.values())


def caption(scene: Scene, rng: random.Random, background: bool = True) -> str:
    """One English phrasing of the scene, picked at random from many; background False: one that names none."""
    a = "an" if scene.fg == "orange" else "a"
    size = f"{rng.choice(SIZE_WORDS[scene.size])} " if scene.size in SIZE_WORDS else ""
    if size:
        a = "a"
    pos = rng.choice(POSITION_PHRASES[scene.position]) if scene.position else ""
    obj = f"{size}{scene.fg} {scene.shape}"
    bg = scene.bg
    templates = [
        f"{a} {obj} {pos} on a {bg} background",
        f"{obj} {pos} on {bg}",
        f"{bg} background, {obj} {pos}",
        f"{obj}, {pos}, {bg} background",
        f"on a {bg} background, {a} {obj} {pos}",
        f"a picture of {a} {obj} {pos} on a {bg} background",
        f"{a} {obj} on a {bg} background {pos}",
        f"the {scene.shape} is {scene.fg}, the background is {bg}, {size}{pos}",
        f"{a} {obj} {pos} with a {bg} background",
    ]
    if not background:
        templates = [f"{a} {obj} {pos}", f"{obj} {pos}", f"a picture of {a} {obj} {pos}",
                     f"the {scene.shape} is {scene.fg}, {size}{pos}"]
    text = rng.choice(templates)
    text = " ".join(text.split()).replace(" ,", ",")
    while ",," in text:
        text = text.replace(",,", ",")
    return text.strip(" ,")


def eval_caption(scene: Scene) -> str:
    """The one fixed phrasing the evaluation uses for a held-out scene."""
    size = f"{scene.size} " if scene.size in SIZE_WORDS else ""
    pos = f" {POSITION_PHRASES[scene.position][0]}" if scene.position else ""
    a = "an" if (not size and scene.fg == "orange") else "a"
    return f"{a} {size}{scene.fg} {scene.shape}{pos} on a {scene.bg} background"


def render(scene: Scene, rng: random.Random, supersample: int = 4) -> np.ndarray:
    """Draw the scene as a SIZE x SIZE uint8 RGB array, anti-aliased by supersampling."""
    lo, hi = RADIUS[scene.size or "medium"]
    r = rng.uniform(lo, hi)
    tx, ty = POSITIONS[scene.position or "centre"]
    # The triangle's centroid sits 1/3 up from its base: extend it so the centroid is the centre.
    up, down = (r * 1.1, r * 0.55) if scene.shape == "triangle" else (r, r)
    cx = min(max(tx + rng.uniform(-1.5, 1.5), r + 1), SIZE - r - 1)
    cy = min(max(ty + rng.uniform(-1.5, 1.5), up + 1), SIZE - down - 1)
    n = SIZE * supersample
    ys, xs = (np.mgrid[0:n, 0:n] + 0.5) / supersample
    if scene.shape == "circle":
        mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    elif scene.shape == "square":
        h = r * 0.88
        mask = (abs(xs - cx) <= h) & (abs(ys - cy) <= h)
    else:  # upward triangle inside the same box as the square
        top, bottom = cy - up, cy + down
        t = np.clip((ys - top) / (bottom - top), 0, 1)
        mask = (ys >= top) & (ys <= bottom) & (abs(xs - cx) <= t * r)
    cover = mask.reshape(SIZE, supersample, SIZE, supersample).mean(axis=(1, 3))[..., None]
    def jitter(colour):
        return np.clip(np.array(colour) + [rng.uniform(-8, 8) for _ in range(3)], 0, 255)

    img = cover * jitter(COLOURS[scene.fg]) + (1 - cover) * jitter(COLOURS[scene.bg])
    return img.round().astype(np.uint8)


# --- pixel analysis: what the picture shows, with no model involved -------------------------

def nearest_colour(rgb) -> str:
    rgb = np.asarray(rgb, dtype=float)
    return min(COLOURS, key=lambda c: float(((np.array(COLOURS[c]) - rgb) ** 2).sum()))


@dataclass
class Analysis:
    fg: str | None
    bg: str
    shape: str | None
    centroid: tuple[float, float] | None
    fill: float
    corners: float = 0.0


def analyse(img: np.ndarray) -> Analysis:
    """Read background colour, object colour, shape and position from a picture's pixels."""
    img = np.asarray(img.convert("RGB") if hasattr(img, "convert") else img)
    if img.shape[0] != SIZE:  # pictures shown upscaled: analyse at native size
        from PIL import Image
        img = np.asarray(Image.fromarray(img).resize((SIZE, SIZE), Image.BILINEAR))
    img = img.astype(float)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    bg_rgb = np.median(border, axis=0)
    bg = nearest_colour(bg_rgb)
    dist = np.sqrt(((img - bg_rgb) ** 2).sum(-1))
    mask = dist > 60
    if mask.sum() < 6:
        return Analysis(None, bg, None, None, 0.0)
    fg = nearest_colour(np.median(img[mask], axis=0))
    ys, xs = np.nonzero(mask)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    fill = float(mask.sum() / box)
    # A triangle is much narrower at the top than at the bottom; a square fills the corners of
    # its bounding box (even drawn with slightly pinched sides), a circle leaves them empty.
    sub = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    band = max(1, sub.shape[0] // 4)
    top_w, bottom_w = sub[:band].sum(), sub[-band:].sum()
    c = max(1, round(min(sub.shape) / 5))
    corners = float(np.mean([sub[:c, :c].mean(), sub[:c, -c:].mean(), sub[-c:, :c].mean(), sub[-c:, -c:].mean()]))
    if top_w < 0.6 * bottom_w and corners < 0.75:
        shape = "triangle"
    else:
        shape = "square" if corners > 0.5 else "circle"
    return Analysis(fg, bg, shape, (float(xs.mean()), float(ys.mean())), fill, corners)


def position_ok(position: str, centroid: tuple[float, float]) -> bool:
    x, y = centroid
    c = (SIZE - 1) / 2
    checks = {
        "left": x < c - 2.5, "right": x > c + 2.5, "top": y < c - 2.5, "bottom": y > c + 2.5,
        "centre": abs(x - c) < 3 and abs(y - c) < 3,
    }
    return all(checks[p] for p in position.split())
