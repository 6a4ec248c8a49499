"""Start-up: process start to window shown and to the model ready; memory and imports of a chat-only
session; time to the first picture when torch is not loaded yet."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Row, median

BASELINE_RSS_MB = 739   # both default models loaded, before issue 14 (docs/PERFORMANCE.md, 2026-11-29)
LIGHT = ("torch", "diffusers", "transformers")


def once() -> dict:
    d = Path(tempfile.mkdtemp(prefix="chatapp-start-"))
    report = d / "startup.json"
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               CHATAPP_STARTUP_REPORT=str(report), CHATAPP_QUIT_WHEN_READY="1")
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "chatapp", "--data-dir", str(d / "data")], env=env, check=True,
                   timeout=180, capture_output=True)
    data = json.loads(report.read_text())
    return {"window": data["window_shown"] - t0, "ready": data.get("model_ready", float("nan")) - t0,
            "heavy": data["heavy_imported_at_show"], "rss": data.get("rss_mb_at_ready") or float("nan"),
            "heavy_ready": [m for m in data.get("heavy_imported_at_ready", []) if m in LIGHT]}


def startup(runs: int) -> list[Row]:
    results = [once() for _ in range(runs)]
    window = median([r["window"] for r in results])
    ready = median([r["ready"] for r in results])
    heavy = sorted({m for r in results for m in r["heavy"]})
    rss = median([r["rss"] for r in results])
    heavy_ready = sorted({m for r in results for m in r["heavy_ready"]})
    bar = 0.6 * BASELINE_RSS_MB
    return [Row("Start-up: process start to window shown", window * 1000, "ms", None, None, "<= 1000 ms",
                window <= 1.0, f"median of {runs}"),
            Row("Start-up: process start to model ready", ready * 1000, "ms", note="load + warm-up, off the GUI thread"),
            Row("Heavy modules imported when the window shows", len(heavy), "modules", None, None, "0",
                not heavy, ", ".join(heavy) or "none of llama_cpp, torch, diffusers, transformers"),
            Row("Memory: resident after start-up, chat only (model ready)", rss, "MB", BASELINE_RSS_MB,
                rss / BASELINE_RSS_MB, f"<= {bar:.0f} MB (60% of {BASELINE_RSS_MB})", rss <= bar,
                f"median of {runs}; reference: both models loaded before image loading was made lazy"),
            Row("torch, diffusers, transformers imported in a chat-only session", len(heavy_ready), "modules", None,
                None, "0", not heavy_ready, ", ".join(heavy_ready) or "none (llama_cpp only)")]


def _first_picture_child() -> None:
    """Runs in a fresh process: the real app, chat model ready, then the first /image (torch not yet loaded)."""
    from bench.common import qapp, rss_mb, wait_until
    from chatapp.app import build, go_offline
    from chatapp.settings import Settings, resolve_paths
    go_offline()
    qapp()
    parts = build(resolve_paths(tempfile.mkdtemp(prefix="chatapp-pic-")), Settings())
    parts.window.show()
    s = parts.session
    s.load_models()
    wait_until(lambda: s.llm_status == "ready")
    torch_before = "torch" in sys.modules
    rss_before = rss_mb()
    t0 = time.perf_counter()
    s.submit("/image a red circle on a blue background")
    wait_until(lambda: s.images.status == "ready")
    loaded = time.perf_counter()
    wait_until(lambda: not s.images.jobs)
    done = time.perf_counter()
    rss_after = rss_mb()
    s.images.unload()   # what the idle timer does after Settings' minutes
    wait_until(lambda: s.images.status == "idle")
    print(json.dumps({"torch_before": torch_before, "load_s": loaded - t0, "total_s": done - t0,
                      "rss_before": rss_before, "rss_after": rss_after, "rss_unloaded": rss_mb()}))
    s.shutdown()
    sys.stdout.flush()
    os._exit(0)   # skip interpreter teardown: PySide6 + torch can crash while finalizing


def first_picture(runs: int) -> list[Row]:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    root = Path(__file__).resolve().parent.parent
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-m", "bench.startup", "first-picture"], cwd=root, env=env,
                             check=True, timeout=300, capture_output=True, text=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    total, load = median([r["total_s"] for r in results]), median([r["load_s"] for r in results])
    return [Row("Time to the first picture, torch not yet loaded", total, "s", None, None, "", None,
                f"median of {runs}: {load:.1f} s importing torch + diffusers and loading the embedded image model, the rest "
                f"rendering (20 steps); torch imported before: {any(r['torch_before'] for r in results)}"),
            Row("Memory: resident after the first picture", median([r["rss_after"] for r in results]), "MB",
                note=f"before it: {median([r['rss_before'] for r in results]):.0f} MB; after the idle unload: "
                     f"{median([r['rss_unloaded'] for r in results]):.0f} MB (torch stays imported)")]


if __name__ == "__main__" and sys.argv[1:] == ["first-picture"]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _first_picture_child()
