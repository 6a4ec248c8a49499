"""Shared worker life cycle: a QObject on its own QThread, the engine made there, cancel flags, shutdown."""
from __future__ import annotations

import threading
import traceback
from typing import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..engines.base import EngineError


class _CancelFlags:
    """Request ids asked to stop, plus one flag that stops everything (shutdown)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ids: set[int] = set()
        self.all = False

    def cancel(self, request_id: int) -> None:
        with self._lock:
            self._ids.add(request_id)

    def is_set(self, request_id: int) -> bool:
        with self._lock:
            return self.all or request_id in self._ids

    def forget(self, request_id: int) -> None:
        with self._lock:
            self._ids.discard(request_id)


class _Worker(QObject):
    """Shared life cycle: own thread, engine made on that thread, orderly shutdown."""

    loading = Signal()
    ready = Signal(object)          # ModelInfo
    load_failed = Signal(str)
    _load_requested = Signal(object)

    def __init__(self, name: str):
        super().__init__()
        self.engine = None
        self.load_error: str | None = None
        self.flags = _CancelFlags()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.moveToThread(self._thread)
        self._load_requested.connect(self._load)
        self._thread.start()

    def request_load(self, engine_factory: Callable[[], object]) -> None:
        """Build and load an engine on the worker thread (replacing any previous one)."""
        self._load_requested.emit(engine_factory)

    def cancel(self, request_id: int) -> None:
        self.flags.cancel(request_id)

    @property
    def thread_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        """Stop whatever runs, end the thread; True when it ended within the timeout."""
        self.flags.all = True
        self._thread.quit()
        return self._thread.wait(timeout_ms)

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
        except EngineError as exc:
            self.load_error = str(exc)
            self.load_failed.emit(self.load_error)
            return
        except Exception as exc:  # an unexpected library error must not kill the thread
            traceback.print_exc()
            self.load_error = f"The model could not be loaded: {exc}"
            self.load_failed.emit(self.load_error)
            return
        self.load_error = None
        self.engine = engine
        self.ready.emit(info)
