"""A training run's progress lines: printed, and appended to <work>/progress.log so a long run can be followed."""
from __future__ import annotations

import time
from pathlib import Path


def log(work: Path, msg: str) -> None:
    line = f"{time.strftime('%H:%M:%S')} {msg}"
    print(line, flush=True)
    with open(work / "progress.log", "a") as f:
        f.write(line + "\n")
