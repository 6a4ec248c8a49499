"""Editing pictures: seconds per executed step of img2img vs txt2img through the app's engine, and vs raw
diffusers' StableDiffusionImg2ImgPipeline, at the same size and seed.

`python -m bench.img2img [--quick] [--sd15]`: the figures are the median gap between step callbacks, so
the one-off parts of a picture (text encoder, the VAE encode of the source, the decode) stay out of the
per-step figure. --sd15 adds the SD 1.5-shaped random model bench.sd_cpu caches, at 64x64 (a few minutes).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Row, median  # noqa: E402

PROMPT = "a green circle on a blue background"
STRENGTH = 0.75


def _gaps(stamps: list[float]) -> list[float]:
    return [b - a for a, b in zip(stamps, stamps[1:])]


class _App:
    def __init__(self, path):
        from chatapp.engines.diffusion import DiffusionImageEngine
        self.engine = DiffusionImageEngine(path)
        self.engine.load()

    def run(self, steps, seed, size, init=None):
        from chatapp.conversation import ImageRequest
        stamps = []
        req = ImageRequest(prompt=PROMPT, steps=steps, seed=seed, width=size, height=size, init=init,
                           strength=STRENGTH if init else None)
        self.engine.generate(req, lambda e: stamps.append(time.perf_counter()) if e.phase == "step" else None,
                             lambda: False)
        return _gaps(stamps), len(stamps)


class _Raw:
    """diffusers' own img2img pipeline, loaded on its own, with the same threads as the app's engine."""

    def __init__(self, path, threads, dtype):
        import torch
        from diffusers import StableDiffusionImg2ImgPipeline

        from chatapp.engines.torch_runtime import dtype_keyword
        torch.set_num_threads(threads)
        self.pipe = StableDiffusionImg2ImgPipeline.from_pretrained(path, local_files_only=True, safety_checker=None,
                                                                   requires_safety_checker=False,
                                                                   **{dtype_keyword(): dtype})
        self.pipe.set_progress_bar_config(disable=True)

    def run(self, steps, seed, init):
        import torch
        from PIL import Image
        stamps = []

        def callback(pipe, i, t, kwargs):
            stamps.append(time.perf_counter())
            return kwargs
        self.pipe(PROMPT, image=Image.open(init).convert("RGB"), strength=STRENGTH, num_inference_steps=steps,
                  guidance_scale=self.cfg, generator=torch.Generator("cpu").manual_seed(seed),
                  callback_on_step_end=callback)
        return _gaps(stamps), len(stamps)


def img2img(runs: int, steps: int = 20, path=None, size=None, label=None) -> list[Row]:
    from chatapp.engines.defaults import default_image_model_path
    path = path or default_image_model_path()
    label = label or f"embedded {path.name}"
    app = _App(path)
    size = size or int(app.engine.defaults["width"])
    cfg = float(app.engine.defaults["cfg"])
    source = Path(tempfile.mkdtemp()) / "source.png"
    from chatapp.conversation import ImageRequest
    app.engine.generate(ImageRequest(prompt="a red circle on a blue background", steps=steps, seed=1, width=size,
                                     height=size), lambda e: None, lambda: False)[0].image.save(source)
    raw = _Raw(path, app.engine._threads_now or 1, app.engine.dtype)   # the app's own threads and dtype
    raw.cfg = cfg
    app.run(steps, 0, size, str(source))            # warm every path once
    raw.run(steps, 0, str(source))
    t2i, i2i, ref, counts = [], [], [], set()
    for i in range(runs):                           # interleaved, so drift on a shared machine hits all alike
        t2i += app.run(steps, i + 1, size)[0]      # every step's gap, pooled: one median over all runs
        gaps, n = app.run(steps, i + 1, size, str(source))
        i2i += gaps
        counts.add(n)
        ref += raw.run(steps, i + 1, str(source))[0]
    executed = int(steps * STRENGTH)
    r1, r2 = median(i2i) / median(t2i), median(i2i) / median(ref)
    dtype = str(app.engine.dtype).replace("torch.", "")
    note = (f"{label}, {dtype}, {size}x{size}, {steps} steps at strength {STRENGTH} (int(steps x strength) = "
            f"{executed}), median of every step gap in {runs} runs")
    return [Row("img2img s/step / txt2img s/step (app engine, per executed step)", median(i2i), "s/step",
                median(t2i), r1, "<= 1.05", r1 <= 1.05, note + f"; steps the scheduler ran: {sorted(counts)}"),
            Row("img2img s/step: app engine vs raw StableDiffusionImg2ImgPipeline", median(i2i), "s/step",
                median(ref), r2, "<= 1.05", r2 <= 1.05, note)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sd15", action="store_true", help="also the SD 1.5-shaped model bench.sd_cpu caches")
    args = ap.parse_args()
    from bench.__main__ import table
    rows = img2img(1 if args.quick else 9, 8 if args.quick else 20)
    if args.sd15:
        from bench.sd_cpu import CACHE
        folder = CACHE / "sd15-random-fp16"
        if folder.is_dir():
            rows += img2img(2, 8, folder, 64, "SD 1.5-shaped random model (fp16 folder)")
    print(table(rows))


if __name__ == "__main__":
    main()
