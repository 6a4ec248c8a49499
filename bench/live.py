"""Responsiveness while a reply streams and a picture renders; memory with both models loaded."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from .common import LoopProbe, Row, peak_rss_mb, qapp, rss_mb, wait_until


def _app():
    from chatapp.app import build
    from chatapp.settings import Settings, resolve_paths
    from .image import model_folder
    qapp()
    folder, _ = model_folder()
    parts = build(resolve_paths(tempfile.mkdtemp(prefix="chatapp-live-")),
                  Settings(temperature=0.0, max_tokens=256, preload_image_model=True, image_model=str(folder)))
    parts.window.resize(1180, 800)
    parts.window.show()
    parts.session.load_models()
    wait_until(lambda: parts.session.llm_status == "ready" and parts.session.images.status in ("ready", "error"))
    if parts.session.images.status == "error":
        parts.session.shutdown()
        raise RuntimeError("the image model did not load")
    return parts


def _both(parts, image_steps):
    s = parts.session
    done = []
    s.reply_finished.connect(done.append)
    s.submit(f"/image a green square on a yellow background --steps {image_steps}")
    s.submit("Write a long story about a lighthouse keeper and a storm.")
    wait_until(lambda: done and not s.images.jobs)
    s.reply_finished.disconnect(done.append)


def responsiveness(image_steps: int = 150) -> list[Row]:
    parts = _app()
    probe = LoopProbe()
    try:
        _both(parts, 10)   # warm-up: first render and reply pay one-time costs
        parts.session.new_conversation()
        probe.start()
        _both(parts, image_steps)
        probe.stop()
    finally:
        parts.session.shutdown()
    longest, p99 = probe.summary_ms()
    return [Row("Event loop: longest stall (reply + picture at once)", longest, "ms", None, None, "<= 50 ms",
                longest <= 50, f"5 ms probe, {len(probe.stalls)} ticks"),
            Row("Event loop: 99th percentile stall", p99, "ms", None, None, "<= 20 ms", p99 <= 20)]


def _memory_child() -> None:
    """Runs in a fresh process so the figures are this app's alone."""
    base = rss_mb()
    parts = _app()
    idle = rss_mb()
    _both(parts, 60)
    print(json.dumps({"before": base, "idle": idle, "peak": peak_rss_mb()}))
    parts.session.shutdown()


def memory() -> list[Row]:
    out = subprocess.run([sys.executable, "-c", "from bench.live import _memory_child; _memory_child()"],
                         capture_output=True, text=True, timeout=600, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return [Row("Memory: resident, both default models loaded, idle", data["idle"], "MB",
                note="a fresh process: Qt, llama.cpp with SmolLM2, torch + diffusers with the embedded image model"),
            Row("Memory: peak resident during a reply + a picture", data["peak"], "MB")]
