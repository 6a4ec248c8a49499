"""How often streaming text is shown: at once after a quiet spell, then as often as the GUI thread can afford."""
import chatapp.ui.conversation_view as cv
from chatapp.conversation import STREAMING, Message
from chatapp.engines.cpu import cores
from chatapp.engines.fake import FakeChatEngine


class _Clocks:
    """Wall clock and GUI-thread CPU clock, moved by the test."""

    def __init__(self):
        self.wall, self.cpu = 1000.0, 50.0

    def perf_counter(self):
        return self.wall

    def thread_time(self):
        return self.cpu


def _streaming_bubble(parts):
    view = parts.window.view
    view.add_message(Message(901, parts.session.current.id if parts.session.current else 1, "assistant", "",
                             status=STREAMING))
    return view


def test_text_after_a_quiet_spell_is_shown_at_once(make_app):
    parts = make_app()
    view = _streaming_bubble(parts)
    view.set_reply_text(901, "The first **word**")
    # No event loop ran: the first token of a reply is not held back for a frame.
    assert "<strong>word</strong>" in view.text_of(901)


def test_frame_time_follows_what_a_frame_costs_the_gui_thread(make_app, monkeypatch):
    parts = make_app()
    clocks = _Clocks()
    monkeypatch.setattr(cv, "time", clocks)
    view = _streaming_bubble(parts)
    frames = []
    view.frame_ms_changed.connect(frames.append)
    view.render_share = cv.SHARED_CORE_RENDER_SHARE

    def frame(text, wall_ms, cpu_ms):
        clocks.wall += wall_ms / 1000
        clocks.cpu += cpu_ms / 1000
        view.set_reply_text(901, text)
        return view.text_of(901)

    assert "one" in frame("one", 0, 0)                     # quiet spell: shown at once, nothing to go by
    assert "two" in frame("one two", 60, 2)                # 2 ms of GUI work in the last frame...
    assert frames[-1] == round(2 / cv.SHARED_CORE_RENDER_SHARE)   # ...so frames are 80 ms apart now
    assert parts.session.llm.pump.frame_s == frames[-1] / 1000    # and text is handed over no more often
    assert "three" not in frame("one two three", 50, 0.5)  # 50 ms after the last frame: waits for 80
    assert view._repaint.isActive()
    clocks.wall += 0.03                                    # the frame's timer fires
    view._repaint.stop()
    view._flush_text()
    assert "three" in view.text_of(901)
    clocks.wall += 1
    view.render_share = cv.RENDER_SHARE                    # the GUI has a core of its own
    frame("one two three four five", 0, 0)
    frame("one two three four five six", 60, 2)            # 2 ms per 50 ms frame is well within 15%
    assert frames[-1] == cv.REPAINT_MS and "six" in view.text_of(901)
    frame("one two three four five six seven", 60, 40)     # a 40 ms frame: never slower than 5 a second
    assert frames[-1] == cv.SLOWEST_REPAINT_MS


def test_the_window_spares_the_decoding_cores_only_when_it_shares_them(make_app):
    alone = make_app(FakeChatEngine(cpu_threads=0))         # a server (or the GPU) decodes
    assert alone.window.view.render_share == cv.RENDER_SHARE
    shared = make_app(FakeChatEngine(cpu_threads=cores()))  # decoding takes every core this process has
    assert shared.window.view.render_share == cv.SHARED_CORE_RENDER_SHARE
