"""Reply text reaches the GUI thread at most once per frame: the first piece at once, none lost, never late."""
import threading

from chatapp.engines.events import TextDelta, ToolCallDelta
from chatapp.workers.token_pump import FRAME_S, TokenPump


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _collect(pump):
    got = []
    pump.pieces.connect(lambda rid, text: got.append((rid, text)))
    pump.tool_call.connect(lambda rid, event: got.append((rid, event)))
    pump.finished.connect(lambda rid, stats: got.append((rid, "<finished>")))
    pump.failed.connect(lambda rid, message: got.append((rid, f"<failed: {message}>")))
    return got


def _from_worker_thread(fn):
    """Call fn on another thread, as the decoding thread does."""
    t = threading.Thread(target=fn)
    t.start()
    t.join()


def test_first_piece_at_once_then_joined_per_frame(qtbot):
    clock = _Clock()
    pump = TokenPump(clock)
    got = _collect(pump)
    _from_worker_thread(lambda: pump.put(1, TextDelta("Hel")))
    qtbot.waitUntil(lambda: got == [(1, "Hel")], timeout=10000)   # the first token is never held back
    clock.now += FRAME_S / 5

    def more():
        for piece in ("lo", ",", " world"):
            pump.put(1, TextDelta(piece))
    _from_worker_thread(more)
    # Inside the frame: held by a GUI-side timer, then handed over joined, in order, with no
    # further piece needed to push it out (a stream that pauses never holds text back).
    qtbot.waitUntil(lambda: len(got) == 2, timeout=10000)
    assert got == [(1, "Hel"), (1, "lo, world")]


def test_the_end_comes_after_every_piece(qtbot):
    clock = _Clock()
    pump = TokenPump(clock)
    got = _collect(pump)

    def reply():
        pump.put(7, TextDelta("a"))
        pump.put(7, TextDelta("b"))      # within the frame: waiting when the end is posted
        pump.finish(7, object())
        pump.put(8, TextDelta("x"))
        pump.fail(8, "server went away")
    _from_worker_thread(reply)
    qtbot.waitUntil(lambda: (8, "<failed: server went away>") in got, timeout=10000)
    for rid, text, end in ((7, "ab", "<finished>"), (8, "x", "<failed: server went away>")):
        mine = [t for r, t in got if r == rid]
        assert "".join(mine[:-1]) == text and mine[-1] == end    # every piece, then the end


def test_deliver_posted_hands_over_what_the_worker_left_queued(qtbot):
    pump = TokenPump(_Clock())
    got = _collect(pump)
    _from_worker_thread(lambda: (pump.put(3, TextDelta("partial ")), pump.put(3, TextDelta("reply")), pump.finish(3, None)))
    pump.deliver_posted()          # no event loop ran: shutdown takes them in directly
    assert "".join(t for _, t in got[:-1]) == "partial reply" and got[-1] == (3, "<finished>")


def test_worker_sends_every_piece_before_finished(qtbot):
    """Fast tokens arrive joined, but all of them, and before the reply's end."""
    from chatapp.conversation import GenParams
    from chatapp.engines.fake import FakeChatEngine
    from chatapp.workers.chat import LlmWorker

    worker = LlmWorker()
    try:
        engine = FakeChatEngine(["one two three four five six seven eight"], token_delay=0.0)
        ready = []   # (ready comes from the worker thread: waitSignal's timer must not be touched there)
        worker.ready.connect(ready.append)
        worker.request_load(lambda: engine)
        qtbot.waitUntil(lambda: bool(ready), timeout=30000)
        got, order = [], []
        worker.token.connect(lambda rid, text: (got.append(text), order.append("token")))
        worker.finished.connect(lambda rid, stats: order.append("finished"))
        with qtbot.waitSignal(worker.finished, timeout=30000) as blocker:
            worker.request_reply(1, [{"role": "user", "content": "count"}], GenParams(max_tokens=100))
        stats = blocker.args[1]
        assert "".join(got) == "one two three four five six seven eight"
        assert 1 <= len(got) < stats.completion_tokens == 8   # joined: fewer hand-overs than tokens
        assert order[-1] == "finished" and order.count("finished") == 1
    finally:
        assert worker.shutdown(5000)


def test_a_tool_call_reaches_the_gui_between_the_texts_around_it(qtbot):
    """Text runs and one call's parts are each joined per frame, in the order the engine made them."""
    clock = _Clock()
    pump = TokenPump(clock)
    got = _collect(pump)
    _from_worker_thread(lambda: pump.put(2, TextDelta("Drawing")))
    qtbot.waitUntil(lambda: len(got) == 1, timeout=10000)

    def rest():
        for event in (TextDelta(" it"), TextDelta(" now."), ToolCallDelta(0, "call_1", "draw", '{"prompt": '),
                      ToolCallDelta(0, arguments='"a lighthouse"}'), ToolCallDelta(1, "call_2", "search"),
                      TextDelta("Done")):
            pump.put(2, event)
        pump.finish(2, None)
    _from_worker_thread(rest)
    qtbot.waitUntil(lambda: got[-1] == (2, "<finished>"), timeout=10000)
    assert got == [(2, "Drawing"), (2, " it now."),
                   (2, ToolCallDelta(0, "call_1", "draw", '{"prompt": "a lighthouse"}')),
                   (2, ToolCallDelta(1, "call_2", "search")), (2, "Done"), (2, "<finished>")]


def test_worker_hands_a_scripted_tool_call_to_the_gui(qtbot):
    """An engine's tool-call events go through the worker and the pump to the GUI thread, whole."""
    from chatapp.conversation import GenParams
    from chatapp.engines.events import Reply
    from chatapp.engines.fake import FakeChatEngine
    from chatapp.workers.chat import LlmWorker

    worker = LlmWorker()
    try:
        script = [TextDelta("Let me draw."), ToolCallDelta(0, "c1", "draw_picture", '{"prompt":'),
                  ToolCallDelta(0, arguments=' "a cat"}')]
        engine = FakeChatEngine([script])
        ready = []
        worker.ready.connect(ready.append)
        worker.request_load(lambda: engine)
        qtbot.waitUntil(lambda: bool(ready), timeout=30000)
        reply, texts = Reply(), []
        worker.token.connect(lambda rid, text: texts.append(text))
        worker.tool_call.connect(lambda rid, event: reply.add(event))
        with qtbot.waitSignal(worker.finished, timeout=30000):
            worker.request_reply(1, [{"role": "user", "content": "draw a cat"}], GenParams())
        assert "".join(texts) == "Let me draw."
        [call] = reply.tool_calls
        assert (call.id, call.name, call.parsed_arguments()) == ("c1", "draw_picture", {"prompt": "a cat"})
    finally:
        assert worker.shutdown(5000)
