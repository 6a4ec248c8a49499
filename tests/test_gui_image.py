"""/image in the window: progress, picture inline, PNG with its recipe, restart, and chat meanwhile."""
import threading
import time

import pytest
from PySide6.QtCore import Qt

from chatapp.conversation import CANCELLED, DONE
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
from chatapp.recipes.a1111 import parse_parameters
from chatapp.recipes.png import read_parameters
from chatapp.ui.message_widgets import ImageBubble

from .conftest import close_app
from .gui_drops import drop_on_composer, dropped_menu


def image_messages(parts):
    return [m for m in parts.storage.messages(parts.session.current.id) if m.kind == "image"]


def test_image_command_shows_progress_then_picture_and_survives_restart(make_app, qtbot, random_sd_folder):
    parts = make_app(image_engine=DiffusionImageEngine(random_sd_folder))
    progress = []
    parts.session.images.worker.progress.connect(
        lambda rid, e: progress.append((e.step, e.total)) if e.phase == "step" else None)
    qtbot.keyClicks(parts.window.composer.editor, "/image a red circle on a blue background --steps 6 --seed 3")
    qtbot.keyClick(parts.window.composer.editor, Qt.Key.Key_Return)
    msg = image_messages(parts)[0]
    bubble = parts.window.view.widgets[msg.id]
    assert isinstance(bubble, ImageBubble) and bubble.status.text() == "Queued"
    qtbot.waitUntil(lambda: parts.storage.message(msg.id).status == DONE, timeout=60000)
    assert progress == [(i, 6) for i in range(1, 7)]
    done = parts.storage.message(msg.id)
    recipe = parse_parameters(read_parameters(done.image_path))
    assert (recipe.prompt, recipe.steps, recipe.seed, recipe.width, recipe.scheduler) == \
        ("a red circle on a blue background", 6, 3, 32, "ddim")
    assert done.image_path.startswith(str(parts.paths.images))
    qtbot.waitUntil(bubble.picture_loaded, timeout=30000)   # decoded off the GUI thread
    assert bubble.picture.pixmap().width() == bubble.picture.pixmap().height() > 32   # upscaled, aspect kept
    close_app(parts)
    again = make_app(image_engine=FakeImageEngine(), load=False)
    again_bubble = again.window.view.widgets[msg.id]
    assert isinstance(again_bubble, ImageBubble)
    qtbot.waitUntil(again_bubble.picture_loaded, timeout=30000)
    assert not again_bubble.picture.pixmap().isNull()


class GatedDiffusionEngine(DiffusionImageEngine):
    """The real engine, paused after one step until the test opens the gate (or two minutes pass).

    So "the render is still going when the reply ends" holds on any machine, however slow, and
    a design where the reply waits for the render still fails: the gate would time out first.
    """

    def __init__(self, *args, gate: threading.Event, at_step: int = 3, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate, self.at_step = gate, at_step

    def generate(self, request, on_progress, should_stop):
        def progress(event):
            on_progress(event)
            if event.phase == "step" and event.step == self.at_step:
                self.gate.wait(120)
        return super().generate(request, progress, should_stop)


def test_chat_reply_streams_while_an_image_renders(make_app, qtbot, random_sd_folder):
    chat = FakeChatEngine([" ".join(["word"] * 25)], token_delay=0.01)
    gate = threading.Event()
    parts = make_app(chat, GatedDiffusionEngine(random_sd_folder, gate=gate))
    times = {}
    s = parts.session
    s.images.progress.connect(lambda mid, status: times.setdefault("img_first_step", time.monotonic()))
    s.reply_text.connect(lambda mid, text: times.setdefault("chat_first", time.monotonic()))
    s.reply_finished.connect(lambda mid: times.setdefault("chat_done", time.monotonic()))
    s.message_changed.connect(lambda m: times.setdefault("img_done", time.monotonic())
                              if m.kind == "image" and m.status == DONE else None)
    assert s.submit("/image a blue square --steps 20 --seed 1")
    qtbot.waitUntil(lambda: "img_first_step" in times, timeout=60000)
    assert s.submit("talk to me meanwhile")
    qtbot.waitUntil(lambda: "chat_done" in times, timeout=120000)
    gate.set()
    qtbot.waitUntil(lambda: "img_done" in times, timeout=120000)
    assert times["img_first_step"] < times["chat_first"] < times["chat_done"] < times["img_done"]
    reply = [m for m in s.storage.messages(s.current.id) if m.kind == "text" and m.role == "assistant"][0]
    assert reply.status == DONE and len(reply.content.split()) == 25


def test_cancel_button_says_so_at_once_and_leaves_a_note(make_app, qtbot):
    parts = make_app(image_engine=FakeImageEngine(step_delay=0.05))
    parts.session.submit("/image a red circle --steps 50")
    msg = image_messages(parts)[0]
    bubble = parts.window.view.widgets[msg.id]
    qtbot.waitUntil(lambda: "Step" in bubble.status.text(), timeout=30000)
    qtbot.mouseClick(bubble.cancel_button, Qt.MouseButton.LeftButton)
    # Before the worker has even seen the flag (its signal cannot have been handled yet):
    assert bubble.status.text() == "Cancelling…" and not bubble.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: parts.storage.message(msg.id).status == CANCELLED, timeout=30000)
    assert bubble.status.text() == "Cancelled" and not bubble.cancel_button.isVisible()
    assert bubble.action_buttons["rerun"].isVisible() and not bubble.action_buttons["save"].isVisible()
    assert [p for p in parts.paths.data_dir.rglob("*") if p.suffix in (".png", ".part")] == []


@pytest.mark.qt_log_ignore("This plugin does not support")   # offscreen + a popup menu
def test_dropping_a_png_fills_in_its_command(make_app, qtbot, tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("parameters", "a castle\nNegative prompt: fog\nSteps: 12, Sampler: Euler a, CFG scale: 6, "
                                "Seed: 99, Size: 64x64, Model: other")
    png = tmp_path / "other-tool.png"
    Image.new("RGB", (8, 8)).save(png, pnginfo=info)
    parts = make_app()
    drop_on_composer(parts.window, png)       # read on the thread pool; a menu offers the recipe
    use = dropped_menu(parts.window, qtbot)[1]
    assert use.text() == "Use its recipe"
    use.trigger()
    assert parts.window.composer.editor.toPlainText() == \
        "/image a castle --negative fog --steps 12 --cfg 6.0 --seed 99 --scheduler euler-a --size 64x64"


def test_vary_seed_and_rerun(make_app, qtbot):
    parts = make_app(image_engine=FakeImageEngine())
    parts.session.submit("/image a red circle --seed 5")
    qtbot.waitUntil(lambda: image_messages(parts)[0].status == DONE, timeout=30000)
    first = image_messages(parts)[0]
    parts.window._on_message_action("rerun", first)
    parts.window._on_message_action("vary_seed", first)
    qtbot.waitUntil(lambda: len(image_messages(parts)) == 3 and all(m.status == DONE for m in image_messages(parts)),
                    timeout=30000)
    seeds = [m.meta["request"]["seed"] for m in image_messages(parts)]
    assert seeds[0] == seeds[1] == 5 and seeds[2] != 5


@pytest.mark.qt_log_ignore("This plugin does not support")   # offscreen + a popup menu
def test_png_dropped_on_the_composer(make_app, qtbot, tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo
    from PySide6.QtCore import QMimeData, QPoint, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication
    info = PngInfo()
    info.add_text("parameters", "a blue square\nSteps: 9, Sampler: DDIM, CFG scale: 3, Seed: 4, Size: 32x32")
    png = tmp_path / "ours.png"
    Image.new("RGB", (8, 8)).save(png, pnginfo=info)
    parts = make_app()
    editor = parts.window.composer.editor
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(png))])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(editor.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(editor.viewport(), drop)
    # The recipe is read off the GUI thread; then a menu offers it (or an edit of the picture).
    qtbot.waitUntil(lambda: parts.window.picture_drop.menu is not None, timeout=30000)
    parts.window.picture_drop.menu.actions()[1].trigger()   # after "Ask about this picture"
    qtbot.waitUntil(lambda: editor.toPlainText() ==
                    "/image a blue square --steps 9 --cfg 3.0 --seed 4 --scheduler ddim --size 32x32", timeout=30000)


def test_a_chat_of_pictures_opens_with_each_decoded_off_the_gui_thread_and_a_damaged_one_said(make_app, qtbot,
                                                                                               data_dir,
                                                                                               monkeypatch):
    """Opening a chat builds three bubbles an event-loop turn; a 1024 px PNG takes ~20 ms to decode, so the
    finished pictures are read on the thread pool (ui/thumbnails.py), and a damaged file is said in its place."""
    from PIL import Image

    from chatapp.settings import resolve_paths
    from chatapp.storage import Storage
    from chatapp.ui import thumbnails
    paths = resolve_paths(str(data_dir))
    paths.images.mkdir(parents=True)
    good, bad = paths.images / "big.png", paths.images / "damaged.png"
    Image.new("RGB", (1024, 1024), (200, 30, 30)).save(good)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    storage = Storage(paths.database)
    conv = storage.create_conversation("pictures")
    ask = storage.add_message(conv.id, "user", "/image a red square")
    first = storage.add_message(conv.id, "assistant", "a red square", kind="image", image_path=str(good),
                                parent_id=ask.id, make_current=True)
    again = storage.add_message(conv.id, "user", "/image a red square", parent_id=first.id, make_current=True)
    shown = [first, storage.add_message(conv.id, "assistant", "a red square", kind="image", image_path=str(bad),
                                        parent_id=again.id, make_current=True)]
    storage.close()
    threads = []
    real = thumbnails.read_picture
    monkeypatch.setattr(thumbnails, "read_picture", lambda *a: threads.append(threading.current_thread()) or real(*a))
    parts = make_app(load=False)
    parts.session.open_conversation(conv.id)
    qtbot.waitUntil(lambda: all(m.id in parts.window.view.widgets for m in shown), timeout=30000)
    bubbles = [parts.window.view.widgets[m.id] for m in shown]
    qtbot.waitUntil(lambda: all(b.picture_loaded() for b in bubbles), timeout=30000)
    assert threads and threading.main_thread() not in threads
    assert bubbles[0].picture.pixmap().deviceIndependentSize().width() == 320   # THUMB, aspect kept
    assert "missing or damaged" in bubbles[1].picture.text()
