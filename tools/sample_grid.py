"""Draws a labelled sample sheet of an image model for the README and model card: each prompt once, fixed seed.

Usage: python tools/sample_grid.py [--model resources/models/tiny-things] [--out docs/tiny-things-samples.png]
The pictures go through chatapp's own image engine at the model's default settings, enlarged smoothly as
the app shows them; the caption under each is the prompt exactly as typed.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).parent.parent
# The issue's own examples first, then one per group of things, then a tiny-shapes prompt (still understood).
PROMPTS = [
    "a cat", "a red car on a blue background", "a small tree in the bottom left", "an apple and a banana",
    "a dog on a green background", "a pizza", "a house", "a bicycle on a white background",
    "the sun on a blue background", "a large rocket", "a hammer on a yellow background", "a smiling face",
    "a fish on the right", "a guitar", "a cup of coffee and a cake", "a red circle on the left on a blue background",
]


def draw_sheet(model: Path, out: Path, prompts: list[str], seed: int = 0, cols: int = 4, side: int = 128) -> None:
    from PIL import Image, ImageDraw, ImageFont

    from chatapp.conversation import ImageRequest
    from chatapp.engines.diffusion import DiffusionImageEngine
    engine = DiffusionImageEngine(model)
    engine.load()
    font = ImageFont.load_default(size=12)
    label = 34                                   # two lines of caption under each picture
    rows = (len(prompts) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (side + 8) + 8, rows * (side + label + 8) + 8), "white")
    pen = ImageDraw.Draw(sheet)
    for i, prompt in enumerate(prompts):
        image = engine.generate(ImageRequest(prompt=prompt, seed=seed), lambda *a: None, lambda: False)[0].image
        x, y = 8 + (i % cols) * (side + 8), 8 + (i // cols) * (side + label + 8)
        sheet.paste(image.resize((side, side), Image.BICUBIC), (x, y))
        words, lines = prompt.split(), [""]
        for w in words:   # wrap to the picture's width
            trial = (lines[-1] + " " + w).strip()
            if pen.textlength(trial, font=font) > side and lines[-1]:
                lines.append(w)
            else:
                lines[-1] = trial
        pen.multiline_text((x, y + side + 3), "\n".join(lines[:2]), fill="black", font=font, spacing=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=ROOT / "resources" / "models" / "tiny-things")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "tiny-things-samples.png")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("prompts", nargs="*", help="prompts to draw (default: the README's sixteen)")
    args = ap.parse_args()
    draw_sheet(args.model, args.out, args.prompts or PROMPTS, args.seed)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
