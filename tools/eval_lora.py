"""Measures the white-background LoRA on held-out prompts through the app's own engine.

Usage: python tools/eval_lora.py [--limit 150] [--lora white-background] [--weights 0 0.5 1]
A background counts as white when the picture's 1-pixel border averages over 230 on every channel
(the same rule as tests/test_lora_engine.py). Prompts with a white object or background are left out.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import shapes  # noqa: E402

from chatapp.conversation import ImageRequest  # noqa: E402
from chatapp.engines.defaults import DEFAULT_IMAGE_MODEL  # noqa: E402
from chatapp.engines.diffusion import DiffusionImageEngine  # noqa: E402
from chatapp.engines.lora import BUILTIN_DIR  # noqa: E402


def white_border(image) -> bool:
    a = np.asarray(image.convert("RGB")).astype(float)
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    return bool((border.mean(axis=0) > 230).all())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--lora", default="white-background")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    engine = DiffusionImageEngine(DEFAULT_IMAGE_MODEL, threads=args.threads)
    engine.load()
    engine.lora_dirs = [BUILTIN_DIR]
    scenes = [s for s in shapes.held_out_scenes() if "white" not in (s.fg, s.bg)][:args.limit]
    report = {"prompts": len(scenes), "lora": args.lora}
    for weight in args.weights:
        white = fg = shape = 0
        for i, scene in enumerate(scenes):
            req = ImageRequest(prompt=shapes.eval_caption(scene), seed=i, loras=[(args.lora, weight)])
            image = engine.generate(req, lambda e: None, lambda: False)[0].image
            white += white_border(image)
            a = shapes.analyse(image)
            fg += a.fg == scene.fg
            shape += a.shape == scene.shape
        n = len(scenes)
        report[f"weight {weight:g}"] = {"white background": round(white / n, 3), "object colour right": round(fg / n, 3),
                                        "shape right": round(shape / n, 3)}
        print(json.dumps({f"weight {weight:g}": report[f"weight {weight:g}"]}), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
