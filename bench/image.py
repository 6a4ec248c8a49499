"""Image: seconds per denoising step through the app's engine + worker vs the raw diffusers pipeline."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from .common import Row, median, qapp, wait_until


def model_folder() -> tuple[Path, str]:
    from chatapp.engines.defaults import default_image_model_path
    path = default_image_model_path()
    if path:
        return path, "embedded tiny-shapes"
    from tests.tiny_pipeline import build_random_pipeline
    return build_random_pipeline(Path(tempfile.mkdtemp()) / "random-sd"), "random-weight SD (embedded model missing)"


def _raw(path, steps, runs, threads):
    import torch
    from diffusers import DiffusionPipeline
    torch.set_num_threads(threads)
    pipe = DiffusionPipeline.from_pretrained(path, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    times = []
    for i in range(runs + 1):
        t = time.perf_counter()
        pipe("a red circle on a blue background", num_inference_steps=steps, guidance_scale=4.0,
             generator=torch.Generator("cpu").manual_seed(i))
        if i:  # the first call warms up
            times.append((time.perf_counter() - t) / steps)
    return median(times)


def _app(path, steps, runs):
    from chatapp.conversation import ImageRequest
    from chatapp.engines.diffusion import DiffusionImageEngine
    from chatapp.workers import ImageWorker
    qapp()
    worker = ImageWorker()
    ready, done = [], []
    worker.ready.connect(ready.append)
    worker.finished.connect(lambda rid, saved: done.append((rid, time.perf_counter())))
    worker.request_load(lambda: DiffusionImageEngine(path))
    wait_until(lambda: ready)
    out = Path(tempfile.mkdtemp())
    times = []
    for i in range(runs + 1):
        t = time.perf_counter()
        worker.request_image(i, ImageRequest("a red circle on a blue background", steps=steps, cfg=4.0, seed=i), out)
        wait_until(lambda: len(done) > i)
        if i:
            times.append((done[-1][1] - t) / steps)
    worker.shutdown()
    return median(times)


def image(runs: int, steps: int = 20) -> list[Row]:
    path, label = model_folder()
    threads = max(1, (os.cpu_count() or 2) // 2)   # what the app's engine uses on CPU
    raw = _raw(path, steps, runs, threads)
    app = _app(path, steps, runs)
    ratio = app / raw
    return [Row("Image: seconds per step (app engine + worker)", app, "s/step", raw, ratio, "<= 1.05", ratio <= 1.05,
                f"{label}, {steps} steps, PNG save included, median of {runs}"),
            Row("Image: one picture at default settings", app * steps, "s", note=f"{label}, {steps} steps")]
