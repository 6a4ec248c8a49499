"""Issue 23: a picture tool's card shows its picture's progress while it draws (the image part's progress reaches the
call's card through the assistant's ServiceDesk: ToolCard.set_progress), step by step, then goes away when done."""
import json
import threading

from chatapp.conversation import DONE, RENDERING
from chatapp.engines.events import ToolCallDelta
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine

STEPS = 4


def call(name: str, arguments: dict, call_id: str = "call_1") -> list:
    """A scripted reply that calls one tool, its arguments streamed in two pieces as an engine would."""
    text = json.dumps(arguments)
    return [ToolCallDelta(0, call_id, name, text[:5]), ToolCallDelta(0, arguments=text[5:])]


class Stepwise(FakeImageEngine):
    """The fake image model, taking each step (and the decode) only when the test lets it: the card is read
    mid-draw, at a point the test chose, with no timing involved."""

    def __init__(self):
        super().__init__(default_steps=STEPS)
        self.go = threading.Semaphore(0)

    def generate(self, request, on_progress, should_stop):
        def gated(event):
            if event.phase in ("step", "decoding"):
                while not self.go.acquire(timeout=0.05):   # woken by the test; let go at Stop or quit
                    if should_stop():
                        return
            on_progress(event)
        return super().generate(request, gated, should_stop)


def branch(parts):
    return parts.storage.branch(parts.session.current.id)


def test_a_picture_tools_card_shows_the_pictures_progress_as_it_draws(make_app, qtbot):
    chat = FakeChatEngine([call("draw_picture", {"prompt": "a slow square", "steps": STEPS, "seed": 5}), "Here."])
    images = Stepwise()
    parts = make_app(chat, images)
    seen = []   # what the card showed as each line of progress reached it

    def shown(card_id, text, fraction):
        w = parts.window.view.widgets.get(card_id)
        seen.append((text, fraction, w.progress.maximum(), w.progress.value(), w.progress_text.text()))
    parts.session.tool_progress.connect(shown)   # after the view's own slot: the card has taken it

    parts.session.submit("draw a slow square")

    def card():
        return next((m for m in branch(parts) if m.kind == "tool"), None)
    qtbot.waitUntil(lambda: any(m.kind == "image" and m.status == RENDERING for m in branch(parts)), timeout=30000)
    widget = parts.window.view.widgets[card().id]
    assert card().meta["state"] == "running" and widget.state.text() == "Running…"
    assert widget.progress.isVisible() and widget.progress_text.isVisible()

    for step in range(1, STEPS + 1):
        images.go.release()
        qtbot.waitUntil(lambda: widget.progress_text.text().startswith(f"Step {step}/{STEPS}"), timeout=30000)
        # Mid-draw: the bar is a measured one (not busy), the call still runs and the reply has not gone on.
        assert widget.progress.maximum() == 1000 and 0 < widget.progress.value() < 1000
        assert widget.progress.isVisible() and card().meta["state"] == "running"
        assert not any(m.role == "assistant" and m.content == "Here." for m in branch(parts))
    images.go.release()
    qtbot.waitUntil(lambda: widget.progress_text.text().startswith("Decoding…"), timeout=30000)

    firsts = {}   # each line of state as it first reached the card (steps, then the decode)
    for text, fraction, maximum, value, on_card in seen:
        key = text.split(" · ")[0]
        firsts.setdefault(key, (fraction, maximum, value, on_card))
    assert [k for k in firsts if k.startswith("Step") or k.startswith("Decoding")] == \
        [f"Step {n}/{STEPS}" for n in range(1, STEPS + 1)] + ["Decoding…"]
    for key, (fraction, maximum, value, on_card) in firsts.items():
        if fraction is not None:   # a measured line: the bar shows its fraction, the label its words
            assert maximum == 1000 and value == int(fraction * 1000) and on_card.startswith(key)
    assert firsts["Decoding…"][2] > firsts[f"Step 1/{STEPS}"][2]   # the bar moved on during the draw

    qtbot.waitUntil(lambda: any(m.role == "assistant" and m.content == "Here." and m.status == DONE
                                for m in branch(parts)), timeout=30000)
    assert card().meta["state"] == "done" and widget.state.text() == "Done"
    assert not widget.progress.isVisible()   # a finished call shows no progress
