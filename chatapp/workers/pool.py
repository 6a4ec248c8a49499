"""Short bounded jobs on Qt's thread pool (a server's model list, a dropped file, long markdown)."""
from __future__ import annotations

import itertools
from typing import Callable

from PySide6.QtCore import QObject, QThreadPool, Signal

from ..engines.base import EngineError


class BackgroundCall(QObject):
    """Runs a short blocking function (a network look-up) on Qt's thread pool; the answer comes back as a
    signal, queued to this object's (GUI) thread. For the Settings dialog's model list."""

    done = Signal(int, object)    # call id, result
    failed = Signal(int, str)     # call id, message for the user
    _ids = 0

    def run(self, fn: Callable[[], object]) -> int:
        from PySide6.QtCore import QThreadPool
        BackgroundCall._ids += 1
        call_id = BackgroundCall._ids
        QThreadPool.globalInstance().start(lambda: self._run(call_id, fn))
        return call_id

    def _run(self, call_id: int, fn) -> None:   # on a pool thread
        try:
            result, error = fn(), None
        except EngineError as exc:
            result, error = None, str(exc)
        except Exception as exc:
            result, error = None, f"{type(exc).__name__}: {exc}"
        try:
            if error is None:
                self.done.emit(call_id, result)
            else:
                self.failed.emit(call_id, error)
        except RuntimeError:   # the dialog that asked was closed meanwhile
            pass
class PoolCalls(QObject):
    """Short jobs that are not inference (reading a dropped file) on Qt's thread pool, so a slow
    disk or a hostile file never blocks the GUI. The result comes back as a signal, which Qt
    queues to the receiving GUI-thread object. Jobs must be bounded: the pool is waited on at exit.
    """
    done = Signal(int, object, object)   # call id, result, exception (None when it worked)

    def __init__(self):
        super().__init__()
        self._ids = itertools.count(1)

    def call(self, fn: Callable, *args) -> int:
        call_id = next(self._ids)
        QThreadPool.globalInstance().start(lambda: self._run(call_id, fn, args))
        return call_id

    def _run(self, call_id: int, fn: Callable, args: tuple) -> None:
        try:
            result, error = fn(*args), None
        except Exception as exc:  # handed to the GUI, which says what went wrong
            result, error = None, exc
        self.done.emit(call_id, result, error)
