"""Issue 24: a message with pictures sent while the chat model loads is saved with them and waits; once the model is
ready it gets a reply (it sees) or the can't-see note ("them" for several pictures), and a failed load leaves it saved
with the failure said under it. Real SQLite, a fake model whose load the test holds (tests/test_gui_draw_this.py's)."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from chatapp.engines.base import ChatCapabilities
from chatapp.session_doors.pictures import NOT_LOADED

from .test_session_pictures import SeeingEngine, attach, photo


class StillLoading(SeeingEngine):
    """A chat model (seeing or not) whose load waits until the test lets it finish."""

    def __init__(self, replies=None, *, vision: bool, **kwargs):
        super().__init__(replies, **kwargs)
        self.capabilities = ChatCapabilities(vision=vision, image_side=256 if vision else 0)
        self.loaded = threading.Event()

    def load(self):
        self.loaded.wait(120)   # a safety net only: the test sets it
        return super().load()


@pytest.mark.parametrize("vision, fails", [(True, None), (False, None), (True, "The model file is damaged.")])
def test_pictures_sent_while_the_model_loads_wait_for_it(make_app, qtbot, tmp_path, vision, fails):
    engine = StillLoading(["Two red squares."], vision=vision, fail_load=fails)
    parts = make_app(engine, load=False)
    session = parts.session
    try:
        session.load_models()
        assert session.llm_status == "loading"
        attach(qtbot, session, [photo(tmp_path), photo(tmp_path, "dog.png", colour=(10, 200, 10))])
        assert session.submit("What are these?")   # accepted: saved with its pictures, waiting
        assert session.pictures.pending == [] and parts.window.composer.busy
        (user,) = parts.storage.branch(session.current.id)
        assert [p["name"] for p in user.meta["pictures"]] == ["cat.png", "dog.png"]
        assert all(Path(p["path"]).is_file() for p in user.meta["pictures"])
        assert not session.submit("and now?")   # one waiting message per chat: the next stays in the box
        assert engine.received == []
    finally:
        engine.loaded.set()
    qtbot.waitUntil(lambda: session.llm_status in ("ready", "error"), timeout=60000)
    qtbot.waitUntil(lambda: not parts.window.composer.busy, timeout=30000)
    shown = parts.storage.branch(session.current.id)
    assert shown[0].id == user.id and len(shown[0].meta["pictures"]) == 2   # kept whatever happened
    if fails:
        assert [m.role for m in shown] == ["user", "notice"] and engine.received == []
        assert shown[1].content == NOT_LOADED.format(detail="The model file is damaged")
    elif vision:
        assert [(m.role, m.content) for m in shown[1:]] == [("assistant", "Two red squares.")]
        sent = engine.seen[-1][-1]["content"]
        assert [p["type"] for p in sent] == ["text", "image_url", "image_url"]
    else:
        assert [m.role for m in shown] == ["user", "notice"] and engine.received == []
        assert shown[1].content == \
            "Fake model cannot see pictures; choose a vision model (Settings) to ask about them."


def test_stop_while_pictures_wait_leaves_the_message_unanswered(make_app, qtbot, tmp_path):
    engine = StillLoading(["never"], vision=True)
    parts = make_app(engine, load=False)
    session = parts.session
    try:
        session.load_models()
        attach(qtbot, session, [photo(tmp_path)])
        assert session.submit("What is this?") and parts.window.composer.busy
        session.stop()
        assert not parts.window.composer.busy
    finally:
        engine.loaded.set()
    qtbot.waitUntil(lambda: session.llm_status == "ready", timeout=60000)
    assert [m.role for m in parts.storage.branch(session.current.id)] == ["user"] and engine.received == []


@pytest.mark.parametrize("vision", [True, False])
def test_a_chat_picture_named_while_the_model_loads_is_shown_or_said_not_seen(make_app, qtbot, tmp_path, vision):
    engine = StillLoading(["It is red."], vision=vision)
    parts = make_app(engine, load=False)
    session = parts.session
    conv = parts.storage.create_conversation("Drawn")
    drawn = session.log.add(conv.id, "assistant", "a red square", kind="image", image_path=photo(tmp_path),
                            meta={"number": 1, "request": {"width": 800, "height": 600}})
    session.open_conversation(conv.id)
    try:
        session.load_models()
        assert session.submit("Is #1 red?")
        asked = parts.storage.branch(conv.id)[-1]
        assert [p["name"] for p in asked.meta["pictures"]] == ["#1"] and engine.received == []
    finally:
        engine.loaded.set()
    if vision:   # the picture went with the question
        qtbot.waitUntil(lambda: any(m.content == "It is red." for m in parts.storage.branch(conv.id)), timeout=60000)
        sent = engine.seen[-1][-1]["content"]
        assert parts.storage.message(asked.id).meta["pictures"][0]["path"] == drawn.image_path
        assert sent[1]["type"] == "image_url"
    else:        # a model that cannot see (nor call tools) would make the answer up: the saved note instead
        qtbot.waitUntil(lambda: parts.storage.branch(conv.id)[-1].role == "notice", timeout=60000)
        note = parts.storage.branch(conv.id)[-1]
        assert "cannot see pictures" in note.content and note.parent_id == asked.id
        assert engine.seen == [] and parts.storage.message(asked.id).meta["pictures"][0]["name"] == "#1"