"""Measures how well the embedded image model follows prompts it was never trained on.

Generates pictures for held-out scenes through the app's own engine, reads them back with plain
pixel analysis (tools/shapes.py) and prints the rates. Usage:
    python tools/eval_image_model.py [--model resources/models/tiny-shapes] [--seeds 2] [--limit 150]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import shapes  # noqa: E402

from chatapp.conversation import ImageRequest  # noqa: E402
from chatapp.engines.diffusion import DiffusionImageEngine  # noqa: E402


def evaluate(model: Path, seeds: int = 2, limit: int = 150, steps=None, cfg=None, threads: int = 0,
             grid: Path | None = None) -> dict:
    engine = DiffusionImageEngine(model, threads=threads)
    engine.load()
    counts = {"fg": 0, "bg": 0, "shape": 0, "position": 0, "position_asked": 0, "all": 0, "n": 0}
    times, pictures, misses = [], [], []
    for scene in shapes.held_out_scenes()[:limit]:
        prompt = shapes.eval_caption(scene)
        for seed in range(seeds):
            t0 = time.perf_counter()
            result = engine.generate(ImageRequest(prompt=prompt, steps=steps, cfg=cfg, seed=seed), lambda *a: None, lambda: False)[0]
            times.append(time.perf_counter() - t0)
            a = shapes.analyse(result.image)
            ok_fg, ok_bg, ok_shape = a.fg == scene.fg, a.bg == scene.bg, a.shape == scene.shape
            counts["fg"] += ok_fg
            counts["bg"] += ok_bg
            counts["shape"] += ok_shape
            ok_pos = True
            if scene.position:
                counts["position_asked"] += 1
                ok_pos = a.centroid is not None and shapes.position_ok(scene.position, a.centroid)
                counts["position"] += ok_pos
            counts["all"] += ok_fg and ok_bg and ok_shape and ok_pos
            counts["n"] += 1
            if not (ok_fg and ok_bg and ok_shape and ok_pos):
                misses.append(f"{prompt!r} seed {seed}: saw {a.fg} {a.shape} on {a.bg} at {a.centroid}")
            pictures.append(result.image)
    n = counts["n"]
    rates = {"foreground colour": counts["fg"] / n, "background colour": counts["bg"] / n,
             "shape": counts["shape"] / n, "position": counts["position"] / max(1, counts["position_asked"]),
             "everything right": counts["all"] / n}
    times.sort()
    report = {"prompts": min(limit, len(shapes.held_out_scenes())), "seeds": seeds, "pictures": n,
              "rates": rates, "median_seconds_per_picture": times[len(times) // 2],
              "steps": engine.defaults["steps"] if steps is None else steps,
              "cfg": engine.defaults["cfg"] if cfg is None else cfg, "misses": misses[:20]}
    if grid:
        from PIL import Image
        cols = 12
        sheet = Image.new("RGB", (cols * 64, ((len(pictures[:96]) + cols - 1) // cols) * 64), "white")
        for i, im in enumerate(pictures[:96]):
            sheet.paste(im.resize((64, 64), Image.NEAREST), ((i % cols) * 64, (i // cols) * 64))
        sheet.save(grid)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=Path("resources/models/tiny-shapes"))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--cfg", type=float)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--grid", type=Path)
    ap.add_argument("--json", type=Path, help="also write the report here")
    ap.add_argument("--card", action="store_true", help="write the model card (README.md) with these figures")
    args = ap.parse_args()
    report = evaluate(args.model, args.seeds, args.limit, args.steps, args.cfg, args.threads, args.grid)
    print(f"{report['pictures']} pictures of {report['prompts']} held-out prompts, "
          f"steps {report['steps']}, cfg {report['cfg']}, seeds 0..{args.seeds - 1}")
    for name, rate in report["rates"].items():
        print(f"  {name:<18} {rate:6.1%}")
    print(f"  median time per picture: {report['median_seconds_per_picture']:.2f} s")
    for miss in report["misses"][:8]:
        print("  miss:", miss)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.card:
        from model_card import write_card
        print("wrote", write_card(args.model, report))


if __name__ == "__main__":
    main()
