"""Frees the image model after some idle minutes (GUI-side timer; the worker does the unloading)."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QTimer


class IdleUnloader(QObject):
    """Restarts a single-shot timer whenever the image worker goes quiet; on timeout, asks ImageJobs to unload.

    minutes() is read each time the timer starts, so a Settings change applies from the next idle spell;
    0 means never unload.
    """

    def __init__(self, jobs, minutes: Callable[[], float]):
        super().__init__(jobs)
        self.jobs, self.minutes = jobs, minutes
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._on_timeout)
        w = jobs.worker
        # Bound methods of this GUI-thread object only, so Qt queues the worker's signals here.
        w.ready.connect(self._restart)
        w.started.connect(self._on_busy)
        w.finished.connect(self._restart)
        w.cancelled.connect(self._restart)
        w.failed.connect(self._restart)

    def _on_busy(self, *_args) -> None:
        self.timer.stop()

    def _restart(self, *_args) -> None:
        minutes = self.minutes()
        if minutes and minutes > 0 and not self.jobs.jobs and not self.jobs.worker.flags.all:  # not after shutdown
            self.timer.start(int(minutes * 60_000))
        else:
            self.timer.stop()

    def _on_timeout(self) -> None:
        if self.jobs.jobs:      # a picture was queued meanwhile; its end restarts the timer
            return
        self.jobs.unload()
