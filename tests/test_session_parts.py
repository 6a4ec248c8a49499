"""Each part of the session is built and driven alone: a MessageLog, a read-only settings view and a notice sink, no session."""
from __future__ import annotations

import pytest

from pathlib import Path

from chatapp.conversation import DONE, ImageRequest
from chatapp.parts.documents import DocumentJobs
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
from chatapp.message_log import MessageLog
from chatapp.parts import SettingsView
from chatapp.pictures.jobs import ImageJobs
from chatapp.parts.replies import Replies
from chatapp.settings import Settings, resolve_paths
from chatapp.storage import Storage
from chatapp.workers import LlmWorker


@pytest.fixture
def log(tmp_path):
    storage = Storage(tmp_path / "chats.db")
    yield MessageLog(storage)
    storage.close()


def test_settings_view_reads_the_latest_and_refuses_writes():
    current = {"s": Settings(library_folder="/a")}
    view = SettingsView(lambda: current["s"])
    current["s"] = Settings(library_folder="/b")
    assert view.library_folder == "/b"
    with pytest.raises(AttributeError):
        view.library_folder = "/c"


def test_document_part_attaches_and_indexes_with_a_log_a_view_and_a_notice_sink(log, qtbot, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("The spare key is under the blue flowerpot.\n", encoding="utf-8")
    notices: list[str] = []
    chats = []

    def open_chat(title, _when_full):
        if not chats:
            chats.append(log.storage.create_conversation(title))
        return chats[0]
    docs = DocumentJobs(log, SettingsView.of(Settings()), notices.append, open_chat)
    added, changed = [], []
    log.message_added.connect(added.append)
    log.message_changed.connect(changed.append)
    try:
        assert docs.attach([str(notes)])
        # Announced once, already with its chip; then the worker's result updates it through the log.
        assert [m.meta["attachments"][0]["name"] for m in added] == ["notes.txt"]
        message_id = added[0].id
        qtbot.waitUntil(lambda: any(m.id == message_id and m.meta["attachments"][0]["status"] == "ready"
                                    for m in changed), timeout=30000)
        saved = log.storage.message(message_id)
        assert saved.kind == "attachment" and saved.meta["attachments"][0]["status"] == "ready"
        assert chats[0].title == "Files: notes.txt"
        # The library needs a folder: the part says so through its sink, and creates no chat for it.
        assert docs.set_library(True) is False
        assert notices == ["No library folder is set. Choose one in Settings (Library folder)."]
    finally:
        assert docs.shutdown()


def test_document_commands_where_no_index_can_be_kept_say_why_and_touch_nothing(qtbot):
    # A throw-away database (":memory:") has no second connection for the index: /attach's documents and /library
    # are refused in words, and no chat is made for them.
    storage = Storage(":memory:")
    notices: list[str] = []
    opened = []
    docs = DocumentJobs(MessageLog(storage), SettingsView.of(Settings(library_folder="/tmp")), notices.append,
                        lambda title, _when_full: opened.append(title))
    try:
        assert docs.attach_command(["/tmp/notes.txt"]) is False and docs.library_command(True) is False
        assert notices == ["Files cannot be attached: the database is not saved in this session."] * 2
        assert opened == [] and storage.conversations() == []
    finally:
        assert docs.shutdown()
        storage.close()


def test_picture_part_draws_and_saves_with_a_log_a_view_and_a_notice_sink(log, qtbot, tmp_path):
    paths = resolve_paths(str(tmp_path / "data"))
    paths.images.mkdir(parents=True, exist_ok=True)
    notices: list[str] = []
    images = ImageJobs(log, SettingsView.of(Settings(image_size="48x40")), paths, notices.append,
                       lambda: FakeImageEngine())
    chat = log.storage.create_conversation("pictures")
    changed = []
    log.message_changed.connect(changed.append)
    try:
        images.enqueue(chat.id, ImageRequest(prompt="a red square", seed=7))
        qtbot.waitUntil(lambda: any(m.status == DONE for m in changed), timeout=30000)
        picture = log.storage.messages(chat.id)[-1]
        assert picture.kind == "image" and picture.status == DONE and Path(picture.image_path).is_file()
        # Settings' default size reached the request through the read-only view; the number is the chat's first.
        assert (picture.meta["request"]["width"], picture.meta["request"]["height"]) == (48, 40)
        assert picture.meta["number"] == 1 and notices == []
        # An edit naming a picture the chat does not have: the part says so through its sink.
        assert images.edits.submit(chat.id, ImageRequest(prompt="x", init="#9"), None) is False
        assert notices and "There is no picture #9" in notices[-1]
    finally:
        images.shutdown_jobs()
        assert images.worker.shutdown(3000)


def test_reply_part_streams_and_saves_with_a_log_a_notice_sink_and_its_worker(log, qtbot):
    worker = LlmWorker()
    worker.request_load(lambda: FakeChatEngine(["the key is under the flowerpot"]))
    notices: list[str] = []
    replies = Replies(log, notices.append, worker)
    chat = log.storage.create_conversation("keys")
    question = log.add(chat.id, "user", "where is the key?")
    texts, ended = [], []
    replies.text.connect(lambda _id, text: texts.append(text))
    replies.ended.connect(ended.append)
    try:
        rid, reply = replies.start(chat.id, question.id, waiting=True)
        assert replies.streaming_in(chat.id) and reply.meta == {"waiting": True}
        replies.request(rid, [{"role": "user", "content": question.content}], Settings().gen_params())
        qtbot.waitUntil(lambda: ended == [reply.id], timeout=30000)
        saved = log.storage.message(reply.id)
        assert saved.status == DONE and saved.content == "the key is under the flowerpot"
        assert texts[-1] == saved.content and saved.parent_id == question.id
        assert not replies.streaming_in(chat.id) and notices == []
    finally:
        assert worker.shutdown(3000)
