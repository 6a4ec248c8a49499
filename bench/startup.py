"""Start-up: process start to window shown, and to the model ready; nothing heavy imported at show."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Row, median


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
            "heavy": data["heavy_imported_at_show"]}


def startup(runs: int) -> list[Row]:
    results = [once() for _ in range(runs)]
    window = median([r["window"] for r in results])
    ready = median([r["ready"] for r in results])
    heavy = sorted({m for r in results for m in r["heavy"]})
    return [Row("Start-up: process start to window shown", window * 1000, "ms", None, None, "<= 1000 ms",
                window <= 1.0, f"median of {runs}"),
            Row("Start-up: process start to model ready", ready * 1000, "ms", note="load + warm-up, off the GUI thread"),
            Row("Heavy modules imported when the window shows", len(heavy), "modules", None, None, "0",
                not heavy, ", ".join(heavy) or "none of llama_cpp, torch, diffusers, transformers")]
