"""Image: seconds per denoising step through the app's engine + worker vs the raw diffusers pipeline."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from .common import Row, median, qapp, wait_until

PROMPT = "a red circle on a blue background"


def model_folder() -> tuple[Path, str]:
    from chatapp.engines.defaults import default_image_model_path
    path = default_image_model_path()
    if path:
        return path, f"embedded {path.name}"
    from tests.tiny_pipeline import build_random_pipeline
    return build_random_pipeline(Path(tempfile.mkdtemp()) / "random-sd"), "random-weight SD (embedded model missing)"


class _Raw:
    def __init__(self, path, threads):
        import torch
        from diffusers import DiffusionPipeline
        torch.set_num_threads(threads)
        self.pipe = DiffusionPipeline.from_pretrained(path, local_files_only=True)
        self.pipe.set_progress_bar_config(disable=True)

    def picture(self, steps, seed, cfg):
        import torch
        t = time.perf_counter()
        self.pipe(PROMPT, num_inference_steps=steps, guidance_scale=cfg, generator=torch.Generator("cpu").manual_seed(seed))
        return time.perf_counter() - t


class _App:
    def __init__(self, path):
        from chatapp.engines.diffusion import DiffusionImageEngine
        from chatapp.workers import ImageWorker
        qapp()
        self.worker = ImageWorker()
        ready, self.done = [], []
        self.worker.ready.connect(ready.append)
        # Timestamped where the worker emits: no event-loop latency in the figure.
        self.worker.finished.connect(lambda rid, saved: self.done.append(time.perf_counter()))
        self.worker.request_load(lambda: DiffusionImageEngine(path))
        wait_until(lambda: ready)
        self.out = Path(tempfile.mkdtemp())

    def picture(self, steps, seed, cfg):
        from chatapp.conversation import ImageRequest
        n = len(self.done)
        t = time.perf_counter()
        self.worker.request_image(seed, ImageRequest(prompt=PROMPT, steps=steps, cfg=cfg, seed=seed), self.out)
        wait_until(lambda: len(self.done) > n)
        return self.done[-1] - t


def image(runs: int, steps: int = 20) -> list[Row]:
    path, label = model_folder()
    threads = max(1, (os.cpu_count() or 2) // 2)   # what the app's engine uses on CPU
    raw, app = _Raw(path, threads), _App(path)
    cfg = 3.0
    raw.picture(steps, 0, cfg)                       # warm both up
    app.picture(steps, 0, cfg)
    raw_t, app_t = [], []
    for i in range(runs):                            # interleaved, so drift hits both alike
        raw_t.append(raw.picture(steps, i + 1, cfg) / steps)
        app_t.append(app.picture(steps, i + 1, cfg) / steps)
    app.worker.shutdown()
    ratio = median(app_t) / median(raw_t)
    return [Row("Image: seconds per step (app engine + worker)", median(app_t), "s/step", median(raw_t), ratio,
                "<= 1.05", ratio <= 1.05, f"{label}, {steps} steps, PNG save included, median of {runs}, interleaved"),
            Row("Image: one picture at default settings", median(app_t) * steps, "s", note=f"{label}, {steps} steps")]
