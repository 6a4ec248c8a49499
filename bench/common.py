"""Shared bench helpers: medians, waiting on the Qt loop, the event-loop stall probe, machine facts."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass

from chatapp.engines.cpu import cores


@dataclass
class Row:
    name: str
    value: float
    unit: str
    reference: float | None = None    # the raw library, same run
    ratio: float | None = None
    bar: str = ""
    holds: bool | None = None
    note: str = ""


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def qapp():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication
    return QApplication.instance() or QApplication([])


def wait_until(predicate, timeout=300.0, wake=()):
    """Run the real event loop (idle in Qt's native wait, GIL released) until predicate() holds.

    A processEvents()/sleep() polling loop would keep grabbing the GIL and slow the workers it
    is measuring; a QEventLoop checked by a 10 ms timer costs them little. With `wake` (signals
    that can make the predicate true), the check runs on those and a 250 ms timer only: while the
    app's own path is timed, 100 bench wake-ups a second on its GUI thread would be counted as the
    app's cost.
    """
    from PySide6.QtCore import QEventLoop, QTimer
    qapp()
    if predicate():
        return
    loop, end = QEventLoop(), time.monotonic() + timeout
    timer = QTimer()
    timer.setInterval(250 if wake else 10)

    def check(*_):
        if predicate() or time.monotonic() > end:
            loop.quit()
    timer.timeout.connect(check)
    for signal in wake:
        signal.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    for signal in wake:
        signal.disconnect(check)
    if not predicate():
        raise TimeoutError("bench step timed out")


class LoopProbe:
    """A 5 ms QTimer on the GUI thread; a late tick means the event loop was blocked.

    It also keeps the GUI thread's own CPU time between ticks: on a machine shared with other jobs
    a wall-clock gap includes waiting for a core, the CPU part does not (cpu_ms)."""

    def __init__(self, interval_ms: int = 5):
        from PySide6.QtCore import Qt, QTimer
        self.interval = interval_ms / 1000
        self.stalls: list[float] = []
        self.cpu: list[float] = []
        self._last = self._cpu_last = None
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        now, cpu = time.perf_counter(), time.thread_time()
        if self._last is not None:
            self.stalls.append(max(0.0, now - self._last - self.interval))
            self.cpu.append(cpu - self._cpu_last)
        self._last, self._cpu_last = now, cpu

    def start(self):
        self._last = self._cpu_last = None
        self.stalls.clear()
        self.cpu.clear()
        self.timer.start()

    def stop(self):
        self.timer.stop()

    def summary_ms(self) -> tuple[float, float]:
        if not self.stalls:
            return float("nan"), float("nan")
        s = sorted(self.stalls)
        return s[-1] * 1000, s[min(len(s) - 1, int(len(s) * 0.99))] * 1000

    def cpu_ms(self) -> float:
        """The GUI thread's own CPU time in its longest gap between two ticks."""
        return max(self.cpu, default=float("nan")) * 1000


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Resident memory now."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """The most resident memory this process has had."""
    return _status_mb("VmHWM")


def machine() -> dict:
    import importlib.metadata as md
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for pkg in ("PySide6-Essentials", "llama-cpp-python", "torch", "diffusers", "transformers"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "-"
    return {"cores": cores(), "memory_gib": round(mem, 1), "python": sys.version.split()[0],
            "platform": platform.platform(), "versions": versions}


def write_section(doc, heading: str, text: str) -> None:
    """Replace (or append) the section that starts with heading; the rest of the file is left as it is."""
    from pathlib import Path
    doc = Path(doc)
    old = doc.read_text() if doc.exists() else "# Performance\n"
    start = old.find(heading)
    if start >= 0:
        end = old.find("\n## ", start + len(heading))
        old = old[:start].rstrip() + "\n" + (old[end:] if end >= 0 else "")
    doc.write_text(old.rstrip() + "\n\n" + text.rstrip() + "\n")
