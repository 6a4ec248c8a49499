"""The worker family's base: cancel flags per request, Worker (what every job shares), OwnerThread (a QObject on its own QThread) and EngineWorker."""
from __future__ import annotations

import threading
import traceback
from typing import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..engines.base import EngineError

# Workers whose thread did not end within shutdown's wait (stuck inside a library call): kept alive
# for the rest of the process, because destroying a running QThread aborts it.
_orphans: list = []


class Cancelled(Exception):
    """A job stopped by its cancel flag (between a generator's items, or before it started)."""


class CancelFlags:
    """Request ids asked to stop, plus one flag that stops everything (shutdown).

    Set on the GUI thread and read on the worker between tokens, steps, files or items: never a
    queued call, because the worker's thread is busy inside the loop that must notice it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._ids: set[int] = set()
        self._through: int | None = None   # every id up to this one is cancelled (cancel_through)
        self.all = False

    def cancel(self, request_id: int) -> None:
        with self._lock:
            self._ids.add(request_id)

    def cancel_through(self, request_id: int) -> None:
        """Every request up to and including this id stops; later ones run."""
        with self._lock:
            self._through = request_id if self._through is None else max(self._through, request_id)

    def is_set(self, request_id: int) -> bool:
        with self._lock:
            return (self.all or request_id in self._ids
                    or (self._through is not None and request_id <= self._through))

    def forget(self, request_id: int) -> None:
        with self._lock:
            self._ids.discard(request_id)


class Worker(QObject):
    """What every background job's handle shares (superqt's WorkerBase): cancel flags per request,
    and a shutdown that stops everything and waits; subclasses say what waiting means (_wait)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.flags = CancelFlags()

    def cancel(self, request_id: int) -> None:
        self.flags.cancel(request_id)

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        """Stop whatever runs or waits; True when nothing of this worker runs any more."""
        self.flags.all = True
        return self._wait(timeout_ms)

    def _wait(self, timeout_ms: int) -> bool:
        raise NotImplementedError


class OwnerThread(Worker):
    """A long-lived worker: a QObject moved to a QThread of its own, which owns what it works with.

    Requests enter through plain methods that emit private signals; the emitter's thread differs,
    so Qt queues them and they run in order on the worker. Results leave as signals, which Qt
    queues to GUI-thread receivers (bound methods of GUI objects: a lambda would run here).
    """

    def __init__(self, name: str):
        super().__init__()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.moveToThread(self._thread)
        # Normal priority on purpose: at IdlePriority (SCHED_IDLE on Linux) the OS parks the thread
        # while it holds the GIL, and the GUI thread waits for it (measured: 423 ms stalls, not 12).
        self._thread.start()

    @property
    def thread_running(self) -> bool:
        return self._thread.isRunning()

    def _wait(self, timeout_ms: int) -> bool:
        self._thread.quit()
        ended = self._thread.wait(timeout_ms)
        if not ended and self not in _orphans:
            _orphans.append(self)
        return ended


def failure_message(exc: BaseException, known: tuple = (EngineError,), unexpected: str | None = None) -> str:
    """What the user reads: a known error speaks for itself; anything else is a bug, its traceback
    printed (when `unexpected` words it) and its text after `unexpected`."""
    if isinstance(exc, known):
        return str(exc)
    if unexpected is None:
        return f"{type(exc).__name__}: {exc}"
    traceback.print_exception(exc)
    return f"{unexpected}: {exc}"


class EngineWorker(OwnerThread):
    """An owner thread whose engine is built and loaded on it (chat, image)."""

    loading = Signal()
    ready = Signal(object)          # ModelInfo
    load_failed = Signal(str)
    _load_requested = Signal(object)

    def __init__(self, name: str):
        super().__init__(name)
        self.engine = None
        self.load_error: str | None = None
        self._load_requested.connect(self._load)

    def request_load(self, engine_factory: Callable[[], object]) -> None:
        """Build and load an engine on the worker thread (replacing any previous one)."""
        self._load_requested.emit(engine_factory)

    def no_engine_message(self) -> str:
        return self.load_error or "No model is loaded. Choose one in Settings."

    @Slot(object)
    def _load(self, engine_factory) -> None:
        if self.flags.all:
            return
        self.loading.emit()
        self.engine = None
        try:
            engine = engine_factory()
            info = engine.load()
        except Exception as exc:  # an unexpected library error must not kill the thread
            self.load_error = failure_message(exc, unexpected="The model could not be loaded")
            self.load_failed.emit(self.load_error)
            return
        self.load_error = None
        self.engine = engine
        self.ready.emit(info)
