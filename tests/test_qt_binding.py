"""Guards against binding bugs that crash a long-running app (found in PySide6 6.12.0 on Python 3.11)."""
import sys
import threading

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal(int)
    anything = Signal(int, object)


def test_emitting_signals_keeps_reference_counts():
    # PySide6 6.12.0 dropped a reference to the bool emit() returns: after a few thousand
    # emits Python aborts ("bool_dealloc"). The app emits one signal per token.
    e = _Emitter()
    e.anything.connect(lambda i, x: None)
    before = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    for i in range(200):
        e.plain.emit(i)
        e.anything.emit(i, None)
    after = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    assert all(abs(a - b) < 50 for a, b in zip(after, before)), (before, after)


def test_emitting_from_a_thread_keeps_reference_counts():
    e = _Emitter()
    before = sys.getrefcount(True) + sys.getrefcount(False)
    t = threading.Thread(target=lambda: [e.plain.emit(i) for i in range(200)])
    t.start()
    t.join()
    assert abs(sys.getrefcount(True) + sys.getrefcount(False) - before) < 50
