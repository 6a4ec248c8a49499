"""Reference cycles are freed on the GUI thread, never on a worker or pool thread that happened to allocate."""
import gc
import threading

from chatapp.workers.collector import collect_on_gui_thread


class _Cycle:
    freed_on: list = []

    def __init__(self):
        self.me = self

    def __del__(self):
        _Cycle.freed_on.append(threading.current_thread().name)


def test_a_cycle_left_behind_is_freed_on_the_gui_thread(qapp, qtbot):
    collector = collect_on_gui_thread(qapp)
    assert not gc.isenabled()
    _Cycle.freed_on.clear()
    _Cycle()   # unreachable at once, but only the cyclic collector can free it

    def allocate():   # with automatic collection on, this thread's allocations would collect the cycle here
        junk = [[] for _ in range(200_000)]
        del junk
    worker = threading.Thread(target=allocate, name="busy-worker")
    worker.start()
    worker.join()
    assert _Cycle.freed_on == []            # nobody collected on the worker
    kept = [[] for _ in range(gc.get_threshold()[0] + 100)]   # past gen 0's threshold, as an app allocates
    # Freed by the collector's timer, or by another collection on the GUI thread (an earlier test's app freeing an
    # image pipeline calls gc.collect() there, which also resets the counts the timer looks at): either way here.
    qtbot.waitUntil(lambda: bool(_Cycle.freed_on), timeout=30000)
    del kept
    assert _Cycle.freed_on == [threading.main_thread().name]
    # The collector itself: once allocations pass the threshold, its check collects (the timer calls it each second).
    kept = [[] for _ in range(gc.get_threshold()[0] + 100)]
    before = collector.collections
    collector.check()
    assert collector.collections == before + 1 and gc.get_count()[0] < 100
    del kept
