"""Run a test's child module and SIGKILL it right after it reports some progress: crash-resume tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_and_kill(module: str, args: list[str], marker: str, after: int) -> list[str]:
    """Start `python -m module args`; kill it once `after` lines starting with `marker` came (or it
    printed DONE, exited, or 120 s passed). Returns every line it printed."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while (sum(line.startswith(marker) for line in lines) < after and "DONE\n" not in lines
           and time.monotonic() < deadline and proc.poll() is None):
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    reader.join(5)
    return lines
