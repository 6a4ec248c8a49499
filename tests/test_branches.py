"""Conversations as trees: edit forks, regenerate keeps every answer, switching, deleting, restart, migration."""
from __future__ import annotations

import sqlite3

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from chatapp.app import build
from chatapp.conversation import DONE
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
from chatapp.settings import Settings, resolve_paths
from chatapp.storage import MIGRATIONS, Storage

from .conftest import close_app


def shown(parts):
    """The texts of the branch the window shows, top to bottom."""
    view = parts.window.view
    ids = [m.id for m in parts.storage.branch(parts.session.current.id)]
    assert sorted(view.widgets) == sorted(ids)
    return [parts.storage.message(i).content for i in ids]


def ask(parts, qtbot, text):
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        assert parts.session.submit(text)


def test_storage_branch_siblings_and_subtree_delete(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    c = s.create_conversation("t")
    q = s.add_message(c.id, "user", "q")
    a1 = s.add_message(c.id, "assistant", "a1")
    a2 = s.add_message(c.id, "assistant", "a2", parent_id=q.id, make_current=True)
    follow = s.add_message(c.id, "user", "more")
    assert [m.content for m in s.branch(c.id)] == ["q", "a2", "more"]
    assert [m.branch for m in s.branch(c.id)] == [(1, 1), (2, 2), (1, 1)]
    assert [m.content for m in s.branch(c.id, a1.id)] == ["q", "a1"]
    assert s.newest_leaf_under(q.id) == follow.id
    s.delete_subtree(a2.id)
    assert s.message(follow.id) is None and s.message(a1.id) is not None
    assert [m.content for m in s.branch(c.id)] == ["q", "a1"]          # back on the surviving branch
    assert s.integrity_ok()


def test_switching_back_to_a_branch_with_a_spliced_picture_shows_all_of_it(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    c = s.create_conversation("t")
    ask = s.add_message(c.id, "user", "/image x --n 2")
    pic1 = s.add_message(c.id, "assistant", "x", kind="image")
    chat = s.add_message(c.id, "user", "meanwhile")
    reply = s.add_message(c.id, "assistant", "answer")
    s.add_message(c.id, "assistant", "x", kind="image", parent_id=pic1.id, splice=True)   # newest id, not a leaf
    other = s.add_message(c.id, "user", "another first message", parent_id=None, make_current=True)
    assert [m.content for m in s.branch(c.id)] == ["another first message"]
    assert s.newest_leaf_under(ask.id) == reply.id
    s.delete_subtree(other.id)             # the branch shown goes: the newest leaf left is shown
    assert s.conversation(c.id).current_leaf == reply.id
    assert [m.content for m in s.branch(c.id)] == ["/image x --n 2", "x", "x", "meanwhile", "answer"]
    assert s.branch(c.id)[3].id == chat.id


def test_a_long_branch_deletes_without_hitting_trigger_depth(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    c = s.create_conversation("long")
    first = s.add_message(c.id, "user", "m0")
    for i in range(1, 2500):
        s.add_message(c.id, "user" if i % 2 == 0 else "assistant", f"m{i}")
    assert len(s.branch(c.id)) == 2500
    s.delete_subtree(first.id)
    assert s.count_messages(c.id) == 0 and s.branch(c.id) == []


def test_edit_forks_switch_back_and_forth_and_restart_keeps_branch(make_app, qtbot, data_dir):
    engine = FakeChatEngine(["about cats", "more cats", "about dogs"])
    parts = make_app(engine)
    s, w = parts.session, parts.window
    ask(parts, qtbot, "tell me about cats")
    ask(parts, qtbot, "and more?")
    original = s.storage.branch(s.current.id)[0]
    # Edit the first message from its bubble: the composer gets its text; sending forks.
    qtbot.mouseClick(w.view.widgets[original.id].edit_button, Qt.MouseButton.LeftButton)
    assert w.composer.editing.id == original.id
    assert w.composer.editor.toPlainText() == "tell me about cats"
    w.composer.editor.setPlainText("tell me about dogs")
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        qtbot.keyClick(w.composer.editor, Qt.Key.Key_Return)
    assert shown(parts) == ["tell me about dogs", "about dogs"]
    # Only the visible branch went to the model.
    assert [m["content"] for m in engine.received[-1][1:]] == ["tell me about dogs"]
    new_first = s.storage.branch(s.current.id)[0]
    assert w.view.widgets[new_first.id].switcher.label.text() == "2/2"
    s.switch_branch(new_first, -1)
    assert shown(parts) == ["tell me about cats", "about cats", "and more?", "more cats"]
    s.switch_branch(s.storage.branch(s.current.id)[0], +1)
    assert shown(parts) == ["tell me about dogs", "about dogs"]
    s.switch_branch(s.storage.branch(s.current.id)[0], -1)
    conv_id = s.current.id
    s.shutdown()
    again = build(resolve_paths(str(data_dir)), Settings(), llm_engine_factory=FakeChatEngine,
                  image_engine_factory=FakeImageEngine)
    qtbot.addWidget(again.window)
    try:
        assert again.session.current.id == conv_id
        assert shown(again) == ["tell me about cats", "about cats", "and more?", "more cats"]
    finally:
        close_app(again)


def test_regenerate_three_times_shows_3_of_3_and_history_is_the_visible_branch(make_app, qtbot):
    engine = FakeChatEngine(["one", "two", "three", "four"])
    parts = make_app(engine)
    s, w = parts.session, parts.window
    ask(parts, qtbot, "question")
    for _ in range(3):
        with qtbot.waitSignal(s.reply_finished, timeout=30000):
            qtbot.keyClick(w, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    branch = s.storage.branch(s.current.id)
    assert [m.content for m in branch] == ["question", "four"]
    assert w.view.widgets[branch[1].id].switcher.label.text() == "4/4"
    # Every regeneration saw exactly the same history: the question, no other answer.
    assert all(r == engine.received[0] for r in engine.received[1:])
    s.switch_branch(branch[1], -1)
    assert shown(parts) == ["question", "three"]
    engine.enqueue("follow-up answer")
    ask(parts, qtbot, "follow up")
    assert [m["content"] for m in engine.received[-1][1:]] == ["question", "three", "follow up"]


def test_up_in_an_empty_box_edits_the_last_message_and_esc_cancels(make_app, qtbot):
    parts = make_app(FakeChatEngine(["a", "b"]))
    w = parts.window
    ask(parts, qtbot, "first")
    ask(parts, qtbot, "second")
    w.composer.editor.setFocus()
    qtbot.keyClick(w.composer.editor, Qt.Key.Key_Up)
    assert w.composer.editing is not None and w.composer.editor.toPlainText() == "second"
    assert w.composer.edit_banner.isVisible()
    qtbot.keyClick(w.composer.editor, Qt.Key.Key_Escape)
    assert w.composer.editing is None and w.composer.editor.toPlainText() == ""


def test_edited_image_command_renders_again_as_a_sibling(make_app, qtbot):
    parts = make_app(image_engine=FakeImageEngine())
    s = parts.session
    s.submit("/image a red circle --seed 1")
    qtbot.waitUntil(lambda: not s.images.jobs, timeout=30000)
    first = s.storage.branch(s.current.id)[0]
    assert s.edit_message(first, "/image a blue square --seed 2")
    qtbot.waitUntil(lambda: not s.images.jobs, timeout=30000)
    user, picture = s.storage.branch(s.current.id)
    assert user.content == "/image a blue square --seed 2" and user.branch == (2, 2)
    assert picture.kind == "image" and picture.status == DONE and picture.meta["request"]["seed"] == 2
    assert len(s.storage.children(None, s.current.id)) == 2


def test_delete_branch_asks_and_removes_the_subtree_with_its_pictures(make_app, qtbot, monkeypatch):
    parts = make_app(FakeChatEngine(["a1", "a2"]), FakeImageEngine())
    s, w = parts.session, parts.window
    ask(parts, qtbot, "q1")
    s.submit("/image a red circle")
    qtbot.waitUntil(lambda: not s.images.jobs, timeout=30000)
    picture = [m for m in s.storage.branch(s.current.id) if m.kind == "image"][0]
    assert picture.image_path and parts.paths.images.joinpath(picture.image_path).exists()
    target = s.storage.branch(s.current.id)[1]        # the first reply, and all after it
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    w._on_message_action("delete_branch", target)
    assert len(s.storage.branch(s.current.id)) == 4   # cancelled: nothing gone
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    w._on_message_action("delete_branch", target)
    assert shown(parts) == ["q1"]
    assert not parts.paths.images.joinpath(picture.image_path).exists()
    assert s.storage.integrity_ok()


def test_second_picture_of_a_batch_stays_with_the_first(make_app, qtbot):
    parts = make_app(FakeChatEngine(["meanwhile"]), FakeImageEngine(step_delay=0.01))
    s = parts.session
    s.submit("/image a red circle --n 2 --steps 3")
    ask(parts, qtbot, "talk meanwhile")
    qtbot.waitUntil(lambda: not s.images.jobs, timeout=30000)
    kinds = [m.kind for m in s.storage.branch(s.current.id)]
    assert kinds == ["text", "image", "image", "text", "text"]
    assert shown(parts)[-1] == "meanwhile"
    view = parts.window.view
    # The second picture was made after the chat turn, yet it sits right under the first one.
    order = [view.column_layout.indexOf(view.widgets[m.id]) for m in s.storage.branch(s.current.id)]
    assert order == sorted(order) and len(set(order)) == 5


def test_v2_database_from_the_first_release_becomes_one_branch(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:2], start=1):
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    db.execute("INSERT INTO conversations(title, created_at, updated_at) VALUES ('old', 0, 0)")
    db.execute("INSERT INTO conversations(title, created_at, updated_at) VALUES ('empty', 0, 0)")
    for i, role in enumerate(["user", "assistant", "user", "assistant"]):
        db.execute("INSERT INTO messages(conversation_id, role, content, created_at) VALUES (1, ?, ?, ?)",
                   (role, f"old words {i}", i))
    db.commit()
    db.close()
    s = Storage(path)
    assert s.schema_version == len(MIGRATIONS)
    branch = s.branch(1)
    assert [m.content for m in branch] == [f"old words {i}" for i in range(4)]
    assert [m.parent_id for m in branch] == [None] + [m.id for m in branch[:-1]]
    assert s.conversation(2).current_leaf is None and s.branch(2) == []
    assert [c.title for c in s.search_conversations("words")] == ["old"]
    s.add_message(1, "user", "new words")
    assert s.branch(1)[-1].content == "new words" and s.integrity_ok()


def test_a_page_of_a_long_branch_costs_the_page_not_the_branch(tmp_path):
    """Scrolling up a 10,000-message chat loads 12 at a time: the query must stop after 12, not walk to the root."""
    storage = Storage(tmp_path / "db.sqlite")
    cid = storage.create_conversation("long").id
    ids = [storage.add_message(cid, "user", f"m{i}").id for i in range(3000)]

    def vm_steps(leaf):
        steps = [0]

        def count():
            steps[0] += 1
        storage._db.set_progress_handler(count, 100)
        page = storage.branch(cid, leaf, limit=12)
        storage._db.set_progress_handler(None, 0)
        assert [m.id for m in page] == ids[ids.index(leaf) - 11:ids.index(leaf) + 1]
        return steps[0]
    near_root, deep = vm_steps(ids[20]), vm_steps(ids[-1])
    assert deep <= 2 * near_root + 5   # SQLite VM steps, not time: the same work at any depth
