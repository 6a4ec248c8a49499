"""One-shot calls off the GUI thread, their answers back as signals (superqt's FunctionWorker and GeneratorWorker in one)."""
from __future__ import annotations

import inspect
import itertools
from functools import partial
from typing import Callable

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot

from ..engines.base import EngineError
from .base import CancelFlags, Cancelled, Worker, failure_message


class _Home(QObject):
    """Lives on the GUI thread. A Calls object is pinned here while a job of its runs and let go
    here, so its last reference, and the Qt object with it, never dies on a pool thread."""

    _let_go = Signal(int)

    def __init__(self):
        super().__init__()
        self.pinned: dict[int, QObject] = {}
        self._let_go.connect(self._unpin)

    @Slot(int)
    def _unpin(self, token: int) -> None:
        self.pinned.pop(token, None)


_home: _Home | None = None
_tokens = itertools.count(1)


def _pin(calls: QObject) -> tuple[_Home, int]:
    global _home
    if _home is None:
        _home = _Home()
    token = next(_tokens)
    _home.pinned[token] = calls
    return _home, token


def _emit(box: list, name: str, *args) -> None:
    try:
        getattr(box[0], name).emit(*args)
    except RuntimeError:   # its parent deleted the Calls object (a dialog closed): nobody waits for this
        pass


def _run(box: list, flags: CancelFlags, home: _Home, token: int, call_id: int, fn: Callable, args: tuple) -> None:
    """On a pool thread. box holds the Calls object; it is emptied before the GUI thread lets go of it."""
    result = error = None
    try:
        if flags.is_set(call_id):
            raise Cancelled()
        result = fn(*args)
        if inspect.isgenerator(result):
            result = _drain(result, box, flags, call_id)
    except Exception as exc:  # handed to the GUI thread, which words it for the user (Calls.message)
        result, error = None, exc
    try:
        _emit(box, "done", call_id, result, error)
    finally:
        box.clear()
        flags.forget(call_id)
        try:
            home._let_go.emit(token)
        except RuntimeError:   # the process is ending and the home went first: nothing to let go of
            pass


def _drain(gen, box: list, flags: CancelFlags, call_id: int):
    """A generator job: each item goes out as `yielded`; the cancel flag is read between items."""
    while True:
        if flags.is_set(call_id):
            gen.close()
            raise Cancelled()
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        _emit(box, "yielded", call_id, item)


class Calls(Worker):
    """Runs fn(*args) off the GUI thread; the answer comes back as a signal queued to this object's thread.

    By default on Qt's shared thread pool, for short bounded jobs (a server's model list, a dropped
    file's header, long markdown): the pool is waited on at exit. With own_thread=True, on a pool of
    one thread that belongs to this object, one call after another, for jobs that may take minutes
    (export, import) and must not hold a shared slot; deleting the object waits for its job.
    A generator function's items arrive as `yielded`, and cancel(call_id) stops it between items
    (a call not started yet never starts).
    Receivers must be bound methods of GUI-thread objects (a lambda would run on the pool thread).
    """

    done = Signal(int, object, object)   # call id, result, exception (None when it worked; Cancelled after a cancel)
    yielded = Signal(int, object)        # call id, an item a generator job yielded (progress)

    def __init__(self, parent: QObject | None = None, *, own_thread: bool = False,
                 known: tuple = (EngineError,), unexpected: str | None = None):
        super().__init__(parent)
        self.known, self.unexpected = known, unexpected   # how message() words an error
        self._ids = itertools.count(1)
        self._pool = QThreadPool.globalInstance()
        if own_thread:
            self._pool = QThreadPool(self)
            self._pool.setMaxThreadCount(1)

    def call(self, fn: Callable, *args) -> int:
        """Start fn(*args) (a function or a generator function); returns the call's id."""
        call_id = next(self._ids)
        self._pool.start(partial(_run, [self], self.flags, *_pin(self), call_id, fn, args))
        return call_id

    def _wait(self, timeout_ms: int) -> bool:
        # The shared pool is Qt's to wait for, at exit; this object's own thread is waited for here.
        return self._pool is QThreadPool.globalInstance() or self._pool.waitForDone(timeout_ms)

    def message(self, error: BaseException) -> str:
        """The user's words for a call's error (see failure_message)."""
        return failure_message(error, self.known, self.unexpected)
