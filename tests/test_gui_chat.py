"""GUI flows with a scripted fake engine: send, stream, stop, regenerate, conversations, restart."""
from __future__ import annotations

from PySide6.QtCore import Qt

from chatapp.conversation import DONE, STOPPED
from chatapp.engines.fake import FakeChatEngine

from .conftest import close_app


def last_messages(parts, n=None):
    """The branch shown (root to current leaf)."""
    msgs = parts.storage.branch(parts.session.current.id)
    return msgs if n is None else msgs[-n:]


def test_enter_sends_and_reply_streams_into_view(make_app, qtbot):
    # The model pauses after its first word: that word must be on screen while it thinks (no waiting
    # for a batch). Later words may arrive joined (one hand-over per frame), never lost.
    engine = FakeChatEngine(["Hello **there**, friend"], token_delay=0.01, hold_after=1)
    parts = make_app(engine)
    w = parts.window
    qtbot.keyClicks(w.composer.editor, "Hi model")
    seen = []
    parts.session.reply_text.connect(lambda mid, text: seen.append(text))
    qtbot.keyClick(w.composer.editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: seen == ["Hello"], timeout=30000)
    qtbot.waitUntil(lambda: "Hello" in w.view.text_of(max(w.view.widgets)), timeout=30000)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        engine.release.set()
    assert w.composer.editor.toPlainText() == ""
    user, reply = last_messages(parts)
    assert (user.role, user.content) == ("user", "Hi model")
    assert (reply.role, reply.content, reply.status) == ("assistant", "Hello **there**, friend", DONE)
    assert len(seen) >= 2 and seen[-1] == "Hello **there**, friend"   # streamed, every word
    qtbot.waitUntil(lambda: "<strong>there</strong>" in w.view.text_of(reply.id), timeout=30000)
    assert engine.received[0][-1] == {"role": "user", "content": "Hi model"}
    assert engine.received[0][0]["role"] == "system"
    assert "first token" in w.stats_label.text() and "context" in w.stats_label.text()


def test_shift_enter_makes_a_new_line(make_app, qtbot):
    parts = make_app()
    ed = parts.window.composer.editor
    qtbot.keyClicks(ed, "line one")
    qtbot.keyClick(ed, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(ed, "line two")
    assert ed.toPlainText() == "line one\nline two"
    assert parts.session.current is None


def test_stop_keeps_partial_reply_marked_stopped(make_app, qtbot):
    engine = FakeChatEngine([" ".join(f"w{i}" for i in range(200))], token_delay=0.002, hold_after=10)
    parts = make_app(engine)
    parts.session.submit("long please")
    qtbot.waitUntil(lambda: parts.window.composer.busy, timeout=30000)
    qtbot.waitUntil(lambda: any(parts.session.replies.active[r].text.count(" ") == 9 for r in parts.session.replies.active), timeout=30000)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        qtbot.keyClick(parts.window.composer.editor, Qt.Key.Key_Escape)
    reply = last_messages(parts, 1)[0]
    assert reply.status == STOPPED
    assert len(reply.content.split()) == 10
    assert not parts.window.composer.busy
    assert "Stopped" in parts.window.view.widgets[reply.id].footer.text()


def test_regenerate_keeps_the_old_reply_as_a_sibling(make_app, qtbot):
    engine = FakeChatEngine(["first answer", "second answer"])
    parts = make_app(engine)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("question")
    first = last_messages(parts, 1)[0]
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        qtbot.mouseClick(parts.window.view.widgets[first.id].regenerate_button, Qt.MouseButton.LeftButton)
    msgs = last_messages(parts)
    assert [m.content for m in msgs] == ["question", "second answer"]
    assert first.id not in parts.window.view.widgets
    assert parts.storage.message(first.id).content == "first answer"      # kept, one click away
    assert parts.window.view.widgets[msgs[1].id].switcher.label.text() == "2/2"
    # the model saw the same history again, without the other answer
    assert engine.received[1] == engine.received[0]


def test_conversations_new_switch_rename_delete(make_app, qtbot, monkeypatch):
    parts = make_app(FakeChatEngine(["a1", "b1", "a2"]))
    s, w = parts.session, parts.window
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        s.submit("Tell me about apples")
    first_id = s.current.id
    qtbot.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert s.current is None and not w.view.widgets
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        s.submit("Bananas?")
    second_id = s.current.id
    titles = [w.sidebar.list.item(i).text() for i in range(w.sidebar.list.count())]
    assert titles == ["Bananas?", "Tell me about apples"]            # newest first, titled by first message
    item = w.sidebar.list.item(1)
    qtbot.mouseClick(w.sidebar.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=w.sidebar.list.visualItemRect(item).center())
    assert s.current.id == first_id
    assert [b.message.content for b in w.view.widgets.values()][:2] == ["Tell me about apples", "a1"]
    monkeypatch.setattr("chatapp.ui.main_window.QInputDialog.getText", lambda *a, **k: ("Fruit facts", True))
    w.rename_conversation(first_id)
    assert s.storage.conversation(first_id).title == "Fruit facts"
    assert "Fruit facts" in [w.sidebar.list.item(i).text() for i in range(w.sidebar.list.count())]
    from PySide6.QtWidgets import QMessageBox
    monkeypatch.setattr("chatapp.ui.main_window.QMessageBox.question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    w.delete_conversation(second_id)
    assert s.storage.conversation(second_id) is not None                 # cancelled: nothing deleted
    monkeypatch.setattr("chatapp.ui.main_window.QMessageBox.question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    w.delete_conversation(second_id)
    assert s.storage.conversation(second_id) is None
    assert s.storage.messages(second_id) == []
    assert w.sidebar.list.count() == 1


def test_message_typed_while_model_loads_is_sent_when_ready(make_app, qtbot):
    engine = FakeChatEngine(["ready now"], load_delay=0.8)
    parts = make_app(engine, load=False)
    parts.session.load_models()
    assert parts.session.llm_status == "loading"
    assert "Loading model" in parts.window.composer.editor.placeholderText()
    parts.session.submit("early bird")
    waiting = last_messages(parts, 1)[0]
    assert "Waiting for the model" in parts.window.view.text_of(waiting.id)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        pass
    assert last_messages(parts, 1)[0].content == "ready now"
    assert parts.session.llm_status == "ready"


def test_restart_with_same_data_dir_brings_everything_back(make_app, qtbot, data_dir):
    parts = make_app(FakeChatEngine(["kept reply"]))
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("remember me")
    conv_id = parts.session.current.id
    close_app(parts)
    again = make_app(FakeChatEngine())
    assert again.session.current.id == conv_id                     # last conversation reopens
    texts = [again.window.view.text_of(mid) for mid in again.window.view.widgets]
    assert "remember me" in texts[0] and "kept reply" in texts[1]
    assert again.window.sidebar.list.item(0).text() == "remember me"


def test_model_output_html_is_shown_as_text(make_app, qtbot):
    evil = '<script>alert(1)</script> <img src="file:///etc/passwd"> [x](javascript:alert(1)) [ok](https://example.org)'
    parts = make_app(FakeChatEngine([evil]))
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("be evil")
    reply = last_messages(parts, 1)[0]
    qtbot.waitUntil(lambda: "&lt;script&gt;" in parts.window.view.text_of(reply.id), timeout=30000)
    shown = parts.window.view.text_of(reply.id)
    assert "<img" not in shown and "<script" not in shown
    assert 'href="javascript' not in shown and 'href="https://example.org"' in shown


def test_bad_command_shows_notice_and_saves_nothing(make_app, qtbot):
    parts = make_app()
    notices = []
    parts.session.notice.connect(notices.append)
    assert not parts.session.submit("/image --steps 0 a cat")
    assert "--steps" in notices[-1]
    assert parts.session.current is None and parts.storage.conversations() == []


def test_worker_results_are_handled_on_the_gui_thread(make_app, qtbot):
    import threading
    seen = []
    engine = FakeChatEngine(["hello"], load_delay=0.2)
    parts = make_app(engine, load=False)
    s = parts.session
    s.llm_state.connect(lambda state, detail: seen.append((state, threading.current_thread() is threading.main_thread())))
    s.load_models()
    qtbot.waitUntil(lambda: s.llm_status == "ready", timeout=30000)
    assert seen[-1] == ("ready", True) and all(on_gui for _, on_gui in seen)
    assert engine.load_thread is not threading.main_thread()
    assert "Loading" not in parts.window.composer.editor.placeholderText()


def test_settings_dialog_saves_and_applies(make_app, qtbot, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from chatapp.settings import load_settings
    from chatapp.ui.settings_dialog import SettingsDialog
    parts = make_app()

    def fake_exec(dialog):
        dialog.temperature.setValue(1.25)
        dialog.system_prompt.setPlainText("Answer like a pirate.")
        dialog.max_tokens.setValue(99)
        return QDialog.DialogCode.Accepted
    monkeypatch.setattr(SettingsDialog, "exec", fake_exec)
    parts.window.open_settings()
    saved, note = load_settings(parts.paths.settings_file)
    assert note is None and saved.temperature == 1.25 and saved.max_tokens == 99
    assert parts.session.settings.system_prompt == "Answer like a pirate."
    engine = FakeChatEngine(["arr"])
    parts.session._llm_factory = lambda: engine
    parts.session.llm.request_load(lambda: engine)
    qtbot.waitUntil(lambda: parts.session.llm_status == "ready", timeout=30000)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("hi")
    assert engine.received[-1][0] == {"role": "system", "content": "Answer like a pirate."}


def test_per_conversation_system_prompt(make_app, qtbot, monkeypatch):
    engine = FakeChatEngine(["one", "two"])
    parts = make_app(engine)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("first")
    cid = parts.session.current.id
    monkeypatch.setattr("chatapp.ui.main_window.QInputDialog.getMultiLineText", lambda *a, **k: ("Be brief.", True))
    parts.window.edit_system_prompt(cid)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("second")
    assert engine.received[-1][0] == {"role": "system", "content": "Be brief."}
    assert parts.storage.conversation(cid).system_prompt == "Be brief."


def test_sidebar_search_filters_chats(make_app, qtbot):
    parts = make_app(FakeChatEngine(["Water them daily.", "Nine minutes."]))
    s, w = parts.session, parts.window
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        s.submit("How do I grow tomatoes?")
    s.new_conversation()
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        s.submit("How long to boil pasta?")
    qtbot.keyClicks(w.sidebar.search, "water")
    qtbot.waitUntil(lambda: w.sidebar.list.count() == 1, timeout=30000)
    assert w.sidebar.list.item(0).text() == "How do I grow tomatoes?"
    w.sidebar.search.clear()
    qtbot.waitUntil(lambda: w.sidebar.list.count() == 2, timeout=30000)
