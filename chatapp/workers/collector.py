"""Python's cyclic garbage collector runs on the GUI thread only, from a timer: Qt objects must die on their own thread."""
from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

CHECK_MS = 1000         # how often the GUI thread looks whether a collection is due
FULL_EVERY_S = 60.0     # a full collection walks every object (torch's too): at most once a minute

_installed: GuiThreadCollector | None = None


class GuiThreadCollector(QObject):
    """Replaces automatic collection, which runs on whichever thread happens to allocate.

    A thread-pool thread importing a module set off a collection that destroyed a QObject left in a
    reference cycle; it then waited for a Qt lock the GUI thread held while waiting for the GIL: a
    hang in the test suite (and, in the app, a frozen window). Collecting here, on a timer, frees
    such objects where they belong. The generations follow the interpreter's own thresholds (the
    same scheme as pyqtgraph's GarbageCollector); full collections, which the interpreter also rations,
    come at most once a minute.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.collections = 0
        self._last_full = time.monotonic()
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_MS)
        self.timer.timeout.connect(self.check)
        gc.disable()
        self.timer.start()

    def check(self) -> None:
        young, middle, old = gc.get_count()
        first, second, third = gc.get_threshold()
        if young <= first:
            return
        generation = 1 if middle > second else 0
        if generation == 1 and old > third and time.monotonic() - self._last_full > FULL_EVERY_S:
            generation, self._last_full = 2, time.monotonic()
        gc.collect(generation)
        self.collections += 1


def collect_on_gui_thread(app) -> GuiThreadCollector:
    """Install once per process (a test builds many apps); the collector lives with the QApplication."""
    global _installed
    if _installed is None:
        _installed = GuiThreadCollector(app)
    return _installed
