"""Issue 24 items 1, 4 and 5 through the session (VISION_CONTRACT 4): pictures given, sent, stored, sent to a seeing
engine as data URLs, a note for a model that cannot see, restart, delete; real SQLite, scripted engines."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from chatapp.branches import NOT_SHOWN
from chatapp.conversation import ImageRequest
from chatapp.engines.base import ChatCapabilities
from chatapp.engines.fake import FakeChatEngine
from chatapp.pictures.incoming import chat_folder

from .conftest import close_app


class SeeingEngine(FakeChatEngine):
    """A scripted engine that says it sees (image_side 256) and reads list content's text."""

    capabilities = ChatCapabilities(vision=True, image_side=256)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[list[dict]] = []   # the messages as they came (received: as the scripted engine reads them)

    def stream(self, messages, params, should_stop, stats=None):
        self.seen.append(list(messages))
        yield from super().stream([{**m, "content": _text(m["content"])} for m in messages], params, should_stop, stats)


class BlindEngine(FakeChatEngine):
    capabilities = ChatCapabilities()


def _text(content):
    return " ".join(p.get("text", "") for p in content if p.get("type") == "text") if isinstance(content, list) else content


def photo(tmp_path, name="cat.png", size=(800, 600), colour=(200, 40, 40)) -> str:
    path = tmp_path / name
    Image.new("RGB", size, colour).save(path)
    return str(path)


def attach(qtbot, session, paths):
    """Attach and wait until each good picture is pending (the decode runs off the GUI thread)."""
    before = len(session.pictures.pending)
    session.attach_pictures(paths)
    qtbot.waitUntil(lambda: not session.pictures.reading, timeout=30000)
    return session.pictures.pending[before:]


def test_a_picture_sent_to_a_seeing_model_is_stored_sent_and_back_after_a_restart(make_app, qtbot, tmp_path, data_dir):
    engine = SeeingEngine(["A red square."])
    parts = make_app(engine)
    session = parts.session
    shown = []
    session.pending_pictures.connect(shown.append)
    source = photo(tmp_path)
    staged = attach(qtbot, session, [source])
    assert [(p["name"], p["width"], p["height"], p["source"]) for p in staged] == [("cat.png", 800, 600, "file")]
    assert shown[-1] == staged and Path(staged[0]["path"]).is_file()
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        assert session.submit("What is in this picture?")
    assert shown[-1] == []                        # the composer's pictures went with the message
    conv_id = session.current.id
    user, reply = parts.storage.branch(conv_id)
    picture = user.meta["pictures"][0]
    assert Path(picture["path"]).parent == chat_folder(parts.paths.images, conv_id)
    assert Path(picture["path"]).is_file() and not Path(staged[0]["path"]).exists()
    assert reply.content == "A red square." and Path(source).is_file()   # the user's own file untouched
    # The engine got OpenAI's list content: the text, then the picture as a data URL scaled to its image_side.
    sent = engine.seen[-1][-1]["content"]
    assert sent[0] == {"type": "text", "text": "What is in this picture?"} and sent[1]["type"] == "image_url"
    url = sent[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
        assert im.size == (256, 192) and im.convert("RGB").getpixel((100, 100)) == (200, 40, 40)
    close_app(parts)
    again = make_app(SeeingEngine())
    assert again.session.current.id == conv_id
    user_again = again.storage.branch(conv_id)[0]
    assert user_again.meta["pictures"] == user.meta["pictures"] and Path(picture["path"]).is_file()


def test_a_model_that_cannot_see_gets_no_question_and_a_saved_note(make_app, qtbot, tmp_path):
    engine = BlindEngine()
    parts = make_app(engine)
    session = parts.session
    attach(qtbot, session, [photo(tmp_path)])
    assert session.submit("what is this?")
    conv_id = session.current.id
    user, note = parts.storage.branch(conv_id)
    assert user.meta["pictures"][0]["name"] == "cat.png" and Path(user.meta["pictures"][0]["path"]).is_file()
    assert note.role == "notice" and note.content == \
        "Fake model cannot see pictures; choose a vision model (Settings) to ask about it."
    assert engine.received == [] and not session.replies.active   # no reply was started
    # A later question is answered, and the picture reaches the model as a line saying it is not shown.
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("never mind, hello")
    said = [m["content"] for m in engine.received[-1] if m["role"] == "user"]
    # One user message: the unanswered question and the new one (templates refuse two user turns in a row).
    assert said == ["what is this?\n\n" + NOT_SHOWN.format(name="cat.png") + "\n\nnever mind, hello"]


def test_bad_files_are_notices_naming_them_and_nothing_is_pending(make_app, qtbot, tmp_path):
    parts = make_app(SeeingEngine())
    session = parts.session
    notices = []
    session.notice.connect(notices.append)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    good = attach(qtbot, session, [str(empty), str(text), photo(tmp_path, "ok.png")])
    assert [p["name"] for p in good] == ["ok.png"]
    assert notices == ["empty.png cannot be used as a picture: the file is empty (0 bytes).",
                       "notes.png cannot be used as a picture: it is not a picture chatapp can read "
                       "(PNG, JPEG, GIF, WebP, BMP, TIFF, TGA, ICO or PPM)."]
    assert parts.storage.conversations() == []   # nothing saved by a picture being read
    session.remove_pending_picture(0)
    assert session.pictures.pending == [] and not Path(good[0]["path"]).exists()


def test_pictures_only_pastes_and_attach_command(make_app, qtbot, tmp_path):
    engine = SeeingEngine(["two pictures"])
    parts = make_app(engine)
    session = parts.session
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 0, 255)).save(out, "PNG")
    session.paste_picture(out.getvalue())
    qtbot.waitUntil(lambda: len(session.pictures.pending) == 1, timeout=30000)
    assert session.submit(f"/attach {photo(tmp_path, 'dog.jpg')}")   # a picture file: pending, not indexed
    qtbot.waitUntil(lambda: len(session.pictures.pending) == 2, timeout=30000)
    assert parts.storage.conversations() == []
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        assert session.submit("")                 # pictures alone are a message
    user = parts.storage.branch(session.current.id)[0]
    assert [(p["name"], p["source"]) for p in user.meta["pictures"]] == [("pasted picture", "paste"), ("dog.jpg", "file")]
    assert session.current.title == "Picture: pasted picture, dog.jpg"
    assert [p["type"] for p in engine.seen[-1][-1]["content"]] == ["image_url", "image_url"]


def chat_with_a_drawing(make_app, qtbot, engine):
    """An app whose open chat has one exchange and picture #1 (a blue circle, 64 x 48)."""
    parts = make_app(engine)
    session = parts.session
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("hi")
    assert session.submit_image(ImageRequest(prompt="a blue circle", width=64, height=48, steps=1, seed=3))
    qtbot.waitUntil(lambda: parts.storage.last_picture(session.current.id) is not None, timeout=60000)
    return parts


def test_a_drawn_picture_named_by_number_goes_to_a_seeing_model(make_app, qtbot):
    engine = SeeingEngine(["ok", "it matches"])
    parts = chat_with_a_drawing(make_app, qtbot, engine)
    session = parts.session
    drawn = parts.storage.last_picture(session.current.id)
    notices = []
    session.notice.connect(notices.append)
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("does #1 match what I asked? and #7? (#7, I mean)")
    # #7 names no picture: the message goes with #1 only, and the user is told, not left to think #7 was seen.
    assert notices == ["This chat has no finished picture #7 (its pictures go up to #1): the message went without it."]
    user = [m for m in parts.storage.branch(session.current.id) if m.role == "user"][-1]
    assert user.meta["pictures"] == [{"path": drawn.image_path, "name": "#1", "width": 64, "height": 48,
                                      "source": "#N"}]
    assert [p["type"] for p in engine.seen[-1][-1]["content"]] == ["text", "image_url"]
    engine.enqueue("same one")
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("Is your last drawing dark enough?")   # the newest picture, named by its number
    user = [m for m in parts.storage.branch(session.current.id) if m.role == "user"][-1]
    assert [p["name"] for p in user.meta["pictures"]] == ["#1"]


def test_deleting_the_chat_deletes_its_pictures(make_app, qtbot, tmp_path):
    parts = make_app(SeeingEngine())
    session = parts.session
    attach(qtbot, session, [photo(tmp_path)])
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("look")
    conv_id = session.current.id
    folder = chat_folder(parts.paths.images, conv_id)
    assert any(folder.iterdir())
    session.delete_conversation(conv_id)
    assert not folder.exists() and parts.storage.conversation(conv_id) is None


def test_an_edited_question_keeps_its_pictures_and_deleting_one_branch_keeps_the_others(make_app, qtbot, tmp_path):
    engine = SeeingEngine(["first", "second"])
    parts = make_app(engine)
    session = parts.session
    attach(qtbot, session, [photo(tmp_path)])
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("what colour?")
    original = parts.storage.branch(session.current.id)[0]
    file = Path(original.meta["pictures"][0]["path"])
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        assert session.edit_message(original, "which colour is it?")
    edited = parts.storage.branch(session.current.id)[0]
    assert edited.id != original.id and edited.meta["pictures"] == original.meta["pictures"]
    assert [p["type"] for p in engine.seen[-1][-1]["content"]] == ["text", "image_url"]
    session.delete_branch(original)
    assert file.is_file()                         # the edited copy still shows it
    session.delete_branch(parts.storage.branch(session.current.id)[0])
    assert not file.exists()                      # no message has it any more


def test_regenerate_for_a_model_that_cannot_see_is_a_note_too(make_app, qtbot, tmp_path):
    parts = make_app(BlindEngine())
    session = parts.session
    attach(qtbot, session, [photo(tmp_path)])
    session.submit("what is it?")
    first_note = parts.storage.branch(session.current.id)[-1]
    session.regenerate(first_note)                # not a reply: nothing to regenerate, a notice
    assert len(parts.storage.messages(session.current.id)) == 2
    question = parts.storage.branch(session.current.id)[0]
    session.edit_message(question, "and now?")
    shown = parts.storage.branch(session.current.id)
    assert [m.role for m in shown] == ["user", "notice"] and shown[0].content == "and now?"
    assert shown[0].meta["pictures"] == question.meta["pictures"] and not session.replies.active


def test_a_full_disk_keeps_the_message_and_its_pictures_in_the_box(make_app, qtbot, tmp_path):
    # SQLite's own page limit gives a real SQLITE_FULL (as tests/test_disk_full_anywhere.py does).
    engine = SeeingEngine(["seen"])
    parts = make_app(engine)
    session = parts.session
    notices = []
    session.notice.connect(notices.append)
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("hello")
    attach(qtbot, session, [photo(tmp_path)])
    db = parts.storage._db
    db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")
    assert session.submit("what is it? " + "x" * 200_000) is False
    assert notices[-1].startswith("The disk holding your chats is full, so your message was not sent")
    (kept,) = session.pictures.pending
    assert Path(kept["path"]).is_file() and kept["name"] == "cat.png"   # nothing lost: still above the box
    db.execute("PRAGMA max_page_count=1073741823")
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        assert session.submit("what is it?")
    user = [m for m in parts.storage.branch(session.current.id) if m.role == "user"][-1]
    assert user.meta["pictures"][0]["path"] == kept["path"] and session.pictures.pending == []


class CannotSee(SeeingEngine):
    """A scripted engine that cannot see; tools as the test says."""

    def __init__(self, *args, tools: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.capabilities = ChatCapabilities(vision=False, tools=tools)


@pytest.mark.parametrize("tools", [False, True])
def test_a_drawn_picture_named_to_a_model_that_cannot_see_is_never_described_unseen(make_app, qtbot, tools):
    # Asked "does #1 match?", a model that cannot see made an answer up. One that calls tools may still act on
    # the picture (its recipe, an edit) and is told it was not shown; one that cannot gets the saved note instead.
    engine = CannotSee(["ok", "I cannot see it, but its recipe says a blue circle."], tools=tools)
    parts = chat_with_a_drawing(make_app, qtbot, engine)
    session = parts.session
    asked_before = len(engine.seen)
    if tools:
        with qtbot.waitSignal(session.reply_finished, timeout=30000):
            session.submit("does #1 match what I asked?")
        sent = engine.seen[-1][-1]["content"]
        assert isinstance(sent, str) and "[picture: #1 (not shown: this model cannot see pictures)]" in sent
    else:
        session.submit("does #1 match what I asked?")
        qtbot.waitUntil(lambda: parts.storage.branch(session.current.id)[-1].role == "notice", timeout=30000)
        assert "cannot see pictures" in parts.storage.branch(session.current.id)[-1].content
        assert len(engine.seen) == asked_before
    user = [m for m in parts.storage.branch(session.current.id) if m.role == "user"][-1]
    assert [(p["name"], p["source"]) for p in user.meta["pictures"]] == [("#1", "#N")]


def test_a_number_in_a_chat_without_pictures_is_just_text(make_app, qtbot):
    engine = SeeingEngine(["ok", "fixed"])
    parts = make_app(engine)
    session = parts.session
    notices = []
    session.notice.connect(notices.append)
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("hi")
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("is issue #7 fixed in 2.1?")
    user = [m for m in parts.storage.branch(session.current.id) if m.role == "user"][-1]
    assert "pictures" not in user.meta and notices == []
