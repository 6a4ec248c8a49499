"""The worker family's base: errors reach a signal, cancel stops a generator between items, shutdown waits, late results are safe."""
from __future__ import annotations

import threading

import pytest
import shiboken6
from PySide6.QtCore import QObject, Qt, Signal, Slot

from chatapp.workers import CancelFlags, Calls, Cancelled, EngineWorker, OwnerThread
from chatapp.workers import base, calls as calls_module


class Receiver(QObject):
    """A GUI-thread object that records what reaches it (a bound method: Qt queues to it)."""

    def __init__(self):
        super().__init__()
        self.done: list = []
        self.items: list = []

    def on_done(self, call_id, result, error):
        self.done.append((call_id, result, error))

    def on_item(self, call_id, item):
        self.items.append((call_id, item))

    def on_any(self, *args):
        self.items.append(args)


def connected(calls: Calls) -> Receiver:
    r = Receiver()
    calls.done.connect(r.on_done)
    calls.yielded.connect(r.on_item)
    return r


def pinned() -> list:
    return list(calls_module._home.pinned.values()) if calls_module._home is not None else []


@pytest.mark.parametrize("own_thread", [False, True])
def test_a_job_that_raises_reaches_the_error_signal(qtbot, own_thread):
    calls = Calls(own_thread=own_thread, unexpected="That did not work")
    r = connected(calls)

    def broken(x):
        raise ValueError(f"bad {x}")
    call_id = calls.call(broken, 7)
    qtbot.waitUntil(lambda: bool(r.done), timeout=10000)
    (got_id, result, error), = r.done
    assert got_id == call_id and result is None and isinstance(error, ValueError)
    assert calls.message(error) == "That did not work: bad 7"
    assert calls.shutdown(5000)


def test_a_result_and_a_generators_items_arrive_in_order(qtbot):
    calls = Calls()
    r = connected(calls)

    def count(n):
        for i in range(n):
            yield i
        return "counted"
    call_id = calls.call(count, 5)
    qtbot.waitUntil(lambda: bool(r.done), timeout=10000)
    assert r.items == [(call_id, i) for i in range(5)]
    assert r.done == [(call_id, "counted", None)]


def test_cancel_stops_a_generator_job_between_items(qtbot):
    calls = Calls(own_thread=True)
    r = connected(calls)
    gate, waiting = threading.Event(), threading.Event()
    produced, closed = [], []

    def items():
        try:
            for i in range(100):
                produced.append(i)
                yield i
                if i == 1:
                    waiting.set()
                    assert gate.wait(30)
        finally:
            closed.append(True)
    call_id = calls.call(items)
    try:
        assert waiting.wait(30)
        calls.cancel(call_id)
    finally:
        gate.set()
    qtbot.waitUntil(lambda: bool(r.done), timeout=10000)
    (_, result, error), = r.done
    assert isinstance(error, Cancelled) and result is None
    # Item 2 was being made when the cancel came; nothing after it was asked for, and the generator was closed.
    assert produced == [0, 1, 2] and closed == [True]
    assert [item for _, item in r.items] == [0, 1, 2]


def test_a_call_cancelled_before_it_starts_never_runs(qtbot):
    calls = Calls(own_thread=True)   # one at a time: the second waits behind the first
    r = connected(calls)
    gate, ran = threading.Event(), []
    try:
        first = calls.call(gate.wait, 30)
        second = calls.call(ran.append, "second ran")
        calls.cancel(second)
    finally:
        gate.set()
    qtbot.waitUntil(lambda: len(r.done) == 2, timeout=10000)
    assert r.done[0] == (first, True, None)
    assert r.done[1][0] == second and isinstance(r.done[1][2], Cancelled) and ran == []


class Spinner(OwnerThread):
    """An owner thread whose job runs until its cancel flag is set."""

    started = Signal(int)
    stopped = Signal(int)
    _go = Signal(int)

    def __init__(self):
        super().__init__("test-spinner")
        self.gate = threading.Event()
        self._go.connect(self._spin)

    def request(self, request_id: int) -> None:
        self._go.emit(request_id)

    @Slot(int)
    def _spin(self, request_id: int) -> None:
        self.started.emit(request_id)
        while not self.flags.is_set(request_id):
            self.gate.wait(0.01)
        self.stopped.emit(request_id)


def spinning(qtbot, worker: Spinner, request_id: int) -> Receiver:
    """Ask for a request and wait until it runs (pytest-qt's waitSignal would run its slot on the worker's thread)."""
    r = Receiver()
    worker.started.connect(r.on_any)
    worker.request(request_id)
    qtbot.waitUntil(lambda: (request_id,) in r.items, timeout=10000)
    return r


def test_shutdown_stops_the_running_request_waits_and_leaves_no_running_thread(qtbot):
    worker = Spinner()
    spinning(qtbot, worker, 1)
    assert worker.thread_running
    assert worker.shutdown(10000)
    assert not worker.thread_running and worker not in base._orphans


def test_cancel_stops_one_request_and_the_next_runs(qtbot):
    worker = Spinner()
    try:
        spinning(qtbot, worker, 1)
        r = Receiver()
        worker.stopped.connect(r.on_any)
        worker.cancel(1)
        spinning(qtbot, worker, 2)
        assert r.items == [(1,)]
    finally:
        assert worker.shutdown(10000)


def test_a_thread_that_does_not_end_in_time_is_kept_alive_not_destroyed(qtbot):
    class Stuck(Spinner):
        @Slot(int)
        def _spin(self, request_id: int) -> None:   # a library call that never looks at the flag
            self.started.emit(request_id)
            self.gate.wait(60)

    worker = Stuck()
    spinning(qtbot, worker, 1)
    try:
        assert not worker.shutdown(1)
        assert worker in base._orphans and worker.thread_running
    finally:
        worker.gate.set()
    qtbot.waitUntil(lambda: not worker.thread_running, timeout=10000)
    base._orphans.remove(worker)


def test_own_thread_shutdown_waits_for_the_running_call(qtbot):
    calls = Calls(own_thread=True)
    r = connected(calls)
    running, escape = threading.Event(), threading.Event()

    def endless():   # ends only by its cancel flag (escape: so a broken cancel fails the test, not hangs it)
        running.set()
        while not escape.is_set():
            yield None
    calls.call(endless)
    try:
        assert running.wait(30)
        assert calls.shutdown(10000)
    finally:
        escape.set()
    assert calls._pool.activeThreadCount() == 0
    qtbot.waitUntil(lambda: bool(r.done), timeout=10000)
    assert isinstance(r.done[0][2], Cancelled)


def meanwhile(qtbot, calls: Calls, action) -> None:
    """Start a call that waits on a gate, do action() while it waits, let it finish, wait until it is let go."""
    gate = threading.Event()
    try:
        calls.call(gate.wait, 30)
        action()
    finally:
        gate.set()
    qtbot.waitUntil(lambda: calls not in pinned(), timeout=10000)


def test_a_result_after_its_receiver_is_gone_does_not_crash(qtbot):
    calls = Calls()
    r = connected(calls)
    meanwhile(qtbot, calls, lambda: shiboken6.delete(r))   # the dialog that asked was closed meanwhile
    after = connected(calls)   # the Calls object still works for a new receiver
    calls.call(int, "5")
    qtbot.waitUntil(lambda: bool(after.done), timeout=10000)
    assert after.done[0][1:] == (5, None)


def test_a_result_after_the_calls_object_was_deleted_by_its_parent_does_not_crash(qtbot):
    parent = QObject()
    calls = Calls(parent)
    meanwhile(qtbot, calls, lambda: shiboken6.delete(parent))   # raised "Signal source has been deleted" once
    assert not shiboken6.isValid(calls)


def test_a_calls_object_dropped_while_its_job_runs_dies_on_the_gui_thread(qtbot):
    calls = Calls()
    died_on: list = []
    calls.destroyed.connect(lambda *_: died_on.append(threading.current_thread()),
                            Qt.ConnectionType.DirectConnection)
    gate = threading.Event()
    try:
        calls.call(gate.wait, 30)
        del calls   # the GUI lets go while the pool thread still works for it
    finally:
        gate.set()
    qtbot.waitUntil(lambda: bool(died_on), timeout=10000)
    assert died_on == [threading.main_thread()]


def test_an_engine_that_fails_to_load_reaches_load_failed(qtbot):
    worker = EngineWorker("test-engine")
    try:
        def factory():
            raise RuntimeError("no such file")
        r = Receiver()
        worker.load_failed.connect(r.on_any)
        worker.request_load(factory)
        qtbot.waitUntil(lambda: bool(r.items), timeout=10000)
        assert r.items == [("The model could not be loaded: no such file",)]
        assert worker.engine is None and worker.no_engine_message() == r.items[0][0]
    finally:
        assert worker.shutdown(10000)


def test_cancel_through_stops_every_request_up_to_it():
    flags = CancelFlags()
    flags.cancel_through(3)
    assert [flags.is_set(i) for i in (1, 3, 4)] == [True, True, False]
    flags.cancel(9)
    assert flags.is_set(9) and not flags.is_set(8)
    flags.all = True
    assert flags.is_set(8)


def test_no_request_id_is_cancelled_before_anything_was_cancelled():
    # Request ids are the caller's (the image bench numbers its pictures by seed, from 0): a fresh
    # flag set must stop none of them, 0 and negatives included.
    flags = CancelFlags()
    assert [flags.is_set(i) for i in (-1, 0, 1)] == [False, False, False]
    flags.cancel_through(0)
    assert flags.is_set(0) and not flags.is_set(1)


def test_a_call_that_ends_after_the_home_is_gone_does_not_raise(qtbot, monkeypatch):
    # At interpreter exit the GUI-thread home can be deleted while the pool still finishes a render.
    calls = Calls()
    r = connected(calls)
    gate, ended = threading.Event(), threading.Event()

    def wait_then_note():
        gate.wait(30)
        return "late"
    original_run = calls_module._run

    def run_and_note(*args):
        original_run(*args)   # an exception here would be raised in the pool thread (pytest-qt reports it)
        ended.set()
    monkeypatch.setattr(calls_module, "_run", run_and_note)
    try:
        calls.call(wait_then_note)
        shiboken6.delete(calls_module._home)
        monkeypatch.setattr(calls_module, "_home", None)   # later calls make a new home
    finally:
        gate.set()
    assert ended.wait(30)
    qtbot.waitUntil(lambda: bool(r.done), timeout=10000)
    assert r.done[0][1:] == ("late", None)
