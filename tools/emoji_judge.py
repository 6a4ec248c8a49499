"""The emoji model's automatic judge: which object a picture shows (nearest clean glyph render), and its
background colour, position and size read from pixels. Trained on the glyph renders only, never on model output."""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

import emoji_objects
import emoji_scenes
import shapes

SIZE = emoji_scenes.SIZE
CROP = 16                                   # crops are compared at 16x16
TEMPLATE_BACKGROUNDS = ("white", "black", "blue", "yellow", "green", "red")
TEMPLATE_SIZES = ("small", None, "large")
FEATURES_VERSION = 1                        # bump when the features change: the cache is rebuilt


def background(img: np.ndarray) -> tuple[str, np.ndarray]:
    """The background's colour name and RGB: the median of the picture's border."""
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]]).astype(float)
    rgb = np.median(border, axis=0)
    return shapes.nearest_colour(rgb), rgb


def object_mask(img: np.ndarray, bg_rgb: np.ndarray) -> np.ndarray:
    return np.sqrt(((img.astype(float) - bg_rgb) ** 2).sum(-1)) > 48


@dataclass
class Seen:
    """What one region of a picture shows."""
    box: tuple[int, int, int, int] | None   # x0, y0, x1, y1 (exclusive) of the object, or None: empty
    features: np.ndarray | None

    @property
    def centre(self) -> tuple[float, float] | None:
        if self.box is None:
            return None
        x0, y0, x1, y1 = self.box
        return ((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2)

    @property
    def extent(self) -> int:
        return 0 if self.box is None else max(self.box[2] - self.box[0], self.box[3] - self.box[1])


def look(img: np.ndarray, bg_rgb: np.ndarray, x_from: int = 0, x_to: int = SIZE) -> Seen:
    """The object inside columns [x_from, x_to): its box and a 16x16 crop with the background greyed."""
    from PIL import Image
    mask = object_mask(img, bg_rgb)
    mask[:, :x_from] = False
    mask[:, x_to:] = False
    if mask.sum() < 4:
        return Seen(None, None)
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    side = max(x1 - x0, y1 - y0)
    # Square crop around the box, the background replaced by mid grey so its colour cannot vote.
    canvas = np.full((side, side, 4), 0.0, dtype=np.float32)
    canvas[..., :3] = 128
    oy, ox = (side - (y1 - y0)) // 2, (side - (x1 - x0)) // 2
    patch = img[y0:y1, x0:x1].astype(np.float32)
    m = mask[y0:y1, x0:x1]
    canvas[oy:oy + y1 - y0, ox:ox + x1 - x0, :3] = np.where(m[..., None], patch, 128)
    canvas[oy:oy + y1 - y0, ox:ox + x1 - x0, 3] = m * 255
    small = np.stack([np.asarray(Image.fromarray(canvas[..., c].astype(np.uint8)).resize((CROP, CROP), Image.BILINEAR))
                      for c in range(4)], -1).astype(np.float32)
    f = (small - 128).ravel()
    return Seen((int(x0), int(y0), int(x1), int(y1)), f / (np.linalg.norm(f) + 1e-6))


class Judge:
    """1-nearest-neighbour over clean renders of every object (several sizes and backgrounds)."""

    def __init__(self, names: list[str] | None = None, seed: int = 0):
        self.names = names or list(emoji_scenes.catalogue())
        rng = random.Random(seed)
        feats, labels = [], []
        for i, name in enumerate(self.names):
            for bg in TEMPLATE_BACKGROUNDS:
                for size in TEMPLATE_SIZES:
                    img = emoji_scenes.render(emoji_scenes.Scene((name,), bg, size), rng)
                    seen = look(img, background(img)[1])
                    if seen.features is not None:
                        feats.append(seen.features)
                        labels.append(i)
        self.features = np.stack(feats)
        self.labels = np.array(labels)

    def recognise(self, seen: Seen) -> str | None:
        if seen.features is None:
            return None
        return self.names[int(self.labels[int(np.argmax(self.features @ seen.features))])]

    def rank(self, seen: Seen, name: str) -> int:
        """Where `name` comes among the objects ordered by their nearest render (0: recognised): identity emerging
        shows here before the 1-nearest answer is right."""
        if seen.features is None:
            return len(self.names)
        best = np.full(len(self.names), -np.inf)
        np.maximum.at(best, self.labels, self.features @ seen.features)
        return int((best > best[self.names.index(name)]).sum())

    def judge(self, img, scene: emoji_scenes.Scene) -> dict[str, bool]:
        """Per-aspect verdicts for a picture drawn for `scene` (a single object or a left/right pair)."""
        img = np.asarray(img.convert("RGB") if hasattr(img, "convert") else img)
        if img.shape[0] != SIZE:   # pictures shown enlarged: judge at native size
            from PIL import Image
            img = np.asarray(Image.fromarray(img).resize((SIZE, SIZE), Image.BILINEAR))
        bg, bg_rgb = background(img)
        out = {"background": bg == scene.bg}
        if len(scene.objects) == 2:
            left, right = look(img, bg_rgb, 0, SIZE // 2), look(img, bg_rgb, SIZE // 2, SIZE)
            out["left object"] = self.recognise(left) == scene.objects[0]
            out["right object"] = self.recognise(right) == scene.objects[1]
            out["both objects"] = out["left object"] and out["right object"]
            return out
        seen = look(img, bg_rgb)
        out["object"] = self.recognise(seen) == scene.objects[0]
        out["object in top 10"] = self.rank(seen, scene.objects[0]) < 10   # of 552; chance: 1.8%
        if scene.position:
            out["position"] = seen.centre is not None and shapes.position_ok(scene.position, seen.centre)
        if scene.size:
            out["size"] = seen.box is not None and ((seen.extent <= 13) if scene.size == "small" else (seen.extent >= 19))
        return out


@lru_cache(maxsize=1)
def default_judge() -> Judge:
    return Judge()


def category(name: str) -> str:
    return emoji_scenes.catalogue()[name]["category"]


__all__ = ["Judge", "default_judge", "background", "look", "category", "emoji_objects"]
