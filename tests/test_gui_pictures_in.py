"""Pictures into the conversation, in the window (issue 24): dropped, pasted or chosen with the paperclip, a picture
waits above the message box as a thumbnail with its x; sent, it shows in the user's bubble (and again after a
restart), a click opens it; a model that cannot see says so before and after sending; a bad file is named."""
import os

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QFileDialog

from chatapp.conversation import DONE
from chatapp.engines.base import ChatCapabilities
from chatapp.engines.fake import FakeChatEngine

from .conftest import close_app
from .gui_drops import drop_files, drop_mime, drop_on_composer, dropped_menu
from .test_session_pictures import SeeingEngine as SeeingChat
from .vision_model import vision_model  # noqa: F401  (the fixture)

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support")   # offscreen + the drop's popup menu


class BlindChat(FakeChatEngine):
    capabilities = ChatCapabilities()   # like the embedded SmolLM2


def photo(tmp_path, name="cat.jpg", size=(64, 48), colour=(200, 30, 30)):
    path = tmp_path / name
    Image.new("RGB", size, colour).save(path)
    return path


def ask_about(parts, qtbot, path) -> None:
    """Drop one picture on the message box and choose "Ask about this picture" in its menu."""
    drop_on_composer(parts.window, path)
    ask = dropped_menu(parts.window, qtbot)[0]
    assert ask.text() == "Ask about this picture"
    parts.window.picture_drop.menu = None
    ask.trigger()


def strip(parts):
    return parts.window.composer.strip


def send(parts, qtbot, text: str) -> None:
    editor = parts.window.composer.editor
    editor.setPlainText(text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def user_bubble(parts, message_id):
    return parts.window.view.widgets[message_id]


def test_a_dropped_picture_is_asked_about_shown_in_the_bubble_and_back_after_a_restart(make_app, qtbot, tmp_path):
    engine = SeeingChat(["A red square."])
    parts = make_app(engine)
    ask_about(parts, qtbot, photo(tmp_path))
    qtbot.waitUntil(lambda: len(strip(parts).thumbs) == 1 and strip(parts).thumbs[0].loaded(), timeout=30000)
    assert strip(parts).isVisible() and not strip(parts).note.isVisible()   # this model sees: nothing to warn of
    assert parts.window.model_label.text().endswith("· sees pictures")   # and the status bar says it sees
    assert strip(parts).thumbs[0].pixmap().width() > 0 and strip(parts).thumbs[0].toolTip() == "cat.jpg"
    qtbot.keyClick(strip(parts).thumbs[0], Qt.Key.Key_Return)   # a look at it before sending, full size
    qtbot.waitUntil(lambda: not parts.window.viewer.picture.pixmap().isNull(), timeout=30000)
    assert parts.window.viewer.windowTitle() == "cat.jpg (64 x 48)"
    parts.window.viewer.close()
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        send(parts, qtbot, "what is in this?")
    qtbot.waitUntil(lambda: not strip(parts).isVisible(), timeout=30000)   # sent: the strip empties
    messages = parts.storage.messages(parts.session.current.id)
    user, reply = [m for m in messages if m.role == "user"][-1], messages[-1]
    assert (user.content, [p["name"] for p in user.meta["pictures"]]) == ("what is in this?", ["cat.jpg"])
    assert (reply.role, reply.content) == ("assistant", "A red square.")
    parts_sent = engine.seen[-1][-1]["content"]   # the engine was shown the picture, as a data URL
    assert [p["type"] for p in parts_sent] == ["text", "image_url"]
    assert parts_sent[1]["image_url"]["url"].startswith("data:image/")
    row = user_bubble(parts, user.id).pictures
    qtbot.waitUntil(lambda: row.thumbs[0].loaded(), timeout=30000)
    assert not row.thumbs[0].failed and row.thumbs[0].pixmap().width() > 0
    # A click opens the picture full size, read off the GUI thread.
    qtbot.mouseClick(row.thumbs[0], Qt.MouseButton.LeftButton)
    viewer = parts.window.viewer
    qtbot.waitUntil(lambda: viewer.picture.pixmap() is not None and not viewer.picture.pixmap().isNull(), timeout=30000)
    assert (viewer.picture.pixmap().width(), viewer.picture.pixmap().height()) == (64, 48)
    assert viewer.windowTitle() == "cat.jpg (64 x 48)"
    viewer.close()
    # Restarted on the same data folder: the picture and the reply are back.
    close_app(parts)
    again = make_app(SeeingChat(), load=False)
    again.session.open_conversation(user.conversation_id)
    row = user_bubble(again, user.id).pictures
    qtbot.waitUntil(lambda: row.thumbs[0].loaded(), timeout=30000)
    assert not row.thumbs[0].failed and row.thumbs[0].pixmap().width() > 0
    assert "A red square." in again.window.view.widgets[reply.id].shown_html()


def test_a_model_that_cannot_see_says_so_before_and_after_sending(make_app, qtbot, tmp_path):
    engine = BlindChat()
    parts = make_app(engine)
    ask_about(parts, qtbot, photo(tmp_path, "receipt.png"))
    qtbot.waitUntil(lambda: strip(parts).note.isVisible(), timeout=30000)
    assert strip(parts).note.text().startswith("Fake model cannot see pictures")
    assert "sees pictures" not in parts.window.model_label.text()
    send(parts, qtbot, "")   # pictures alone are a message
    qtbot.waitUntil(lambda: parts.session.current is not None and
                    [m.role for m in parts.storage.messages(parts.session.current.id)] == ["user", "notice"],
                    timeout=30000)
    user, notice = parts.storage.messages(parts.session.current.id)
    assert user.meta["pictures"][0]["name"] == "receipt.png" and user.content == ""
    assert "Fake model cannot see pictures" in notice.content
    assert engine.received == []   # no reply made up about a picture it was not shown
    bubble = user_bubble(parts, user.id)
    assert bubble.pictures is not None and bubble.label.isHidden()   # the picture, no empty text line
    assert "cannot see pictures" in parts.window.view.widgets[notice.id].shown_html()


def test_a_bad_file_is_named_and_the_window_keeps_working(make_app, qtbot, tmp_path):
    parts = make_app(SeeingChat(["Seen."]))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    ask_about(parts, qtbot, broken)
    qtbot.waitUntil(lambda: any("broken.jpg" in n.message.content for n in parts.window.view._notices), timeout=30000)
    assert strip(parts).pictures == [] and not strip(parts).isVisible()
    # Still working: a good picture, sent with a question, gets its answer.
    ask_about(parts, qtbot, photo(tmp_path, "good.png"))
    qtbot.waitUntil(lambda: len(strip(parts).pictures) == 1, timeout=30000)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        send(parts, qtbot, "and this one?")
    assert parts.storage.messages(parts.session.current.id)[-1].content == "Seen."


def test_pasted_chosen_and_several_dropped_pictures_wait_and_x_removes_one(make_app, qtbot, tmp_path, monkeypatch):
    parts = make_app(SeeingChat())
    pasted = QImage(40, 30, QImage.Format.Format_RGB32)
    pasted.fill(QColor("steelblue"))
    mime = QMimeData()
    mime.setImageData(pasted)
    mime.setText("https://example.org/a.png")   # a browser's "Copy image" carries its address too: the picture wins
    parts.window.composer.editor.insertFromMimeData(mime)
    qtbot.waitUntil(lambda: len(strip(parts).pictures) == 1, timeout=30000)
    assert parts.window.composer.editor.toPlainText() == ""
    # The paperclip: a picture and a document chosen together go their own ways.
    note = tmp_path / "notes.txt"
    note.write_text("some notes")
    chosen = [str(photo(tmp_path, "chosen.gif")), str(note)]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: (chosen, ""))
    attached = []
    monkeypatch.setattr(parts.session, "attach_files", lambda paths: attached.append(paths) or True)
    qtbot.mouseClick(parts.window.attach_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(strip(parts).pictures) == 2, timeout=30000)
    assert attached == [[str(note)]] and strip(parts).pictures[1]["name"] == "chosen.gif"
    # Several pictures dropped on the conversation: no menu, all of them wait.
    drop_files(parts.window.view.viewport(), photo(tmp_path, "a.webp"), photo(tmp_path, "b.bmp"))
    qtbot.waitUntil(lambda: len(strip(parts).pictures) == 4, timeout=30000)
    assert parts.window.picture_drop.menu is None
    assert [p["name"] for p in strip(parts).pictures] == ["pasted picture", "chosen.gif", "a.webp", "b.bmp"]
    qtbot.mouseClick(strip(parts).remove_buttons()[1], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(strip(parts).pictures) == 3, timeout=30000)
    assert "chosen.gif" not in [p["name"] for p in strip(parts).pictures]
    # A picture dragged out of a browser: its address (no file) and its pixels; the pixels are taken.
    dragged = QMimeData()
    dragged.setUrls([QUrl("https://example.org/b.png")])
    dragged.setImageData(pasted)
    drop_mime(parts.window.view.viewport(), dragged)
    qtbot.waitUntil(lambda: len(strip(parts).pictures) == 4, timeout=30000)
    assert (strip(parts).pictures[-1]["name"], strip(parts).pictures[-1]["width"]) == ("dropped picture", 40)


def test_a_chat_picture_named_by_number_shows_in_the_users_bubble(make_app, qtbot):
    parts = make_app(SeeingChat(["It matches."]))
    parts.session.submit("/image a lighthouse --seed 3")
    qtbot.waitUntil(lambda: parts.session.current is not None and any(
        m.kind == "image" and m.status == DONE for m in parts.storage.messages(parts.session.current.id)),
        timeout=30000)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        send(parts, qtbot, "does #1 match what I asked?")
    user = [m for m in parts.storage.messages(parts.session.current.id) if m.role == "user"][-1]
    assert [(p["name"], p["source"]) for p in user.meta["pictures"]] == [("#1", "#N")]
    row = user_bubble(parts, user.id).pictures
    qtbot.waitUntil(lambda: row.thumbs[0].loaded(), timeout=30000)
    assert not row.thumbs[0].failed


@pytest.mark.real
def test_a_dropped_picture_reaches_the_real_vision_model_and_is_back_after_a_restart(make_app, qtbot, tmp_path,
                                                                                     vision_model):  # noqa: F811
    from chatapp.backends.local import llm_factory
    from chatapp.settings import Settings
    folder = tmp_path / "models"
    folder.mkdir()
    os.symlink(vision_model[0], folder / "Tiny-VL.gguf")
    os.symlink(vision_model[1], folder / "mmproj-Tiny-VL.gguf")   # paired by its name, as LM Studio does
    settings = Settings(llm_model=str(folder / "Tiny-VL.gguf"), max_tokens=8, seed=5, temperature=0.0, n_ctx=2048)
    parts = make_app(llm_factory(settings)(), settings=settings)
    assert parts.session.chat_capabilities.vision
    ask_about(parts, qtbot, photo(tmp_path, "sky.png", size=(1200, 900), colour=(30, 90, 200)))
    qtbot.waitUntil(lambda: len(strip(parts).thumbs) == 1 and strip(parts).thumbs[0].loaded(), timeout=30000)
    assert not strip(parts).note.isVisible()
    with qtbot.waitSignal(parts.session.reply_finished, timeout=120000):
        send(parts, qtbot, "What is in this picture?")
    user, reply = parts.storage.branch(parts.session.current.id)
    assert (user.meta["pictures"][0]["name"], reply.status) == ("sky.png", DONE) and reply.content.strip()
    row = user_bubble(parts, user.id).pictures
    qtbot.waitUntil(lambda: row.thumbs[0].loaded(), timeout=30000)
    assert not row.thumbs[0].failed
    close_app(parts)
    again = make_app(load=False, settings=settings)
    again.session.open_conversation(user.conversation_id)
    row = user_bubble(again, user.id).pictures
    qtbot.waitUntil(lambda: row.thumbs[0].loaded(), timeout=30000)
    assert not row.thumbs[0].failed and again.window.view.widgets[reply.id].message.content == reply.content
