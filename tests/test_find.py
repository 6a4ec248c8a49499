"""Ctrl+F finds text in the open conversation (older pages load to reach a match); Ctrl+K searches chats."""
from PySide6.QtCore import Qt

from chatapp.engines.fake import FakeChatEngine


def test_ctrl_f_finds_and_steps_through_matches_loading_older_pages(make_app, qtbot):
    parts = make_app(FakeChatEngine())
    s, w = parts.session, parts.window
    conv = s.storage.create_conversation("long")
    for i in range(150):
        s.storage.add_message(conv.id, "user" if i % 2 == 0 else "assistant",
                              "the Needle is here" if i in (3, 120) else f"hay {i}")
    s.open_conversation(conv.id)
    needle_ids = [m.id for m in s.storage.branch(conv.id) if "Needle" in m.content]
    assert needle_ids[0] not in w.view.widgets                 # far up, not loaded yet
    w.composer.editor.setFocus()
    qtbot.keyClick(w.composer.editor, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert w.find_bar.isVisible() and w.find_bar.edit.hasFocus()
    qtbot.keyClicks(w.find_bar.edit, "needle")
    assert w.find_bar.count.text() == "2 of 2"
    assert w.view.widgets[needle_ids[1]].property("found")
    qtbot.keyClick(w.find_bar.edit, Qt.Key.Key_Return)          # next (wraps to the first)
    assert w.find_bar.count.text() == "1 of 2"
    assert needle_ids[0] in w.view.widgets and w.view.widgets[needle_ids[0]].property("found")
    assert not w.view.widgets[needle_ids[1]].property("found")
    qtbot.keyClick(w.find_bar.edit, Qt.Key.Key_Escape)
    assert not w.find_bar.isVisible() and not w.view.widgets[needle_ids[0]].property("found")
    w.find_bar.open_bar()
    w.find_bar.edit.setText("nothing like this")
    assert w.find_bar.count.text() == "No matches"


def test_ctrl_k_focuses_chat_search_even_from_the_message_box(make_app, qtbot):
    parts = make_app()
    w = parts.window
    w.composer.editor.setPlainText("keep this text")
    w.composer.editor.setFocus()
    cursor = w.composer.editor.textCursor()
    cursor.setPosition(4)
    w.composer.editor.setTextCursor(cursor)
    qtbot.keyClick(w.composer.editor, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert w.sidebar.search.hasFocus()
    assert w.composer.editor.toPlainText() == "keep this text"   # not "delete to end of line"
