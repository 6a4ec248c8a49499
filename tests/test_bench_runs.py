"""The bench runs end to end in its quick mode (timing bars are checked by `make bench`, not here)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.real
@pytest.mark.timeout(1800)   # a busy 2-core machine runs every benchmark several times slower
def test_bench_quick_mode_measures_every_row(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path / "perf.md")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=1700)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    names = " ".join(r.split("|")[1] for r in rows)
    for expected in ("Chat throughput", "Time to first token", "Start-up", "Image: seconds per step",
                     "Event loop", "Memory", "conversation"):
        assert expected in names
    assert not any("(failed)" in r or "nan" in r.split("|")[2] for r in rows), "\n".join(rows)
