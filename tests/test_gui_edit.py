"""Editing pictures in the window, on the embedded tiny-shapes model: --init #N / last / a path, the Edit
action, the mask painter, dropped pictures, and bad input that queues nothing."""
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QPoint, Qt

from chatapp.conversation import DONE, ERROR
from chatapp.engines.defaults import default_image_model_path
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.recipes.png import read_parameters
from chatapp.ui.mask_painter import MaskCanvas, PictureViewer

from .gui_drops import drop_on_composer


def pictures(parts):
    cur = parts.session.current
    return [m for m in parts.storage.messages(cur.id) if m.kind == "image"] if cur else []


def draw(parts, qtbot, command):
    """Send a command and wait for its picture (the newest image message) to finish."""
    before = len(pictures(parts))
    assert parts.session.submit(command)
    qtbot.waitUntil(lambda: len(pictures(parts)) > before, timeout=30000)
    qtbot.waitUntil(lambda: pictures(parts)[-1].status in (DONE, ERROR), timeout=120000)
    done = pictures(parts)[-1]
    assert done.status == DONE, done.content
    return done


@pytest.fixture
def app(make_app):
    parts = make_app(image_engine=DiffusionImageEngine(default_image_model_path()))
    notices = []
    parts.session.notice.connect(notices.append)
    parts.notices = notices
    return parts


@pytest.fixture
def red_circle(tmp_path):
    picture = Image.new("RGB", (32, 32), (40, 70, 215))
    ImageDraw.Draw(picture).ellipse([9, 9, 22, 22], fill=(220, 40, 30))
    path = tmp_path / "my circle.png"
    picture.save(path)
    return path


def test_init_by_number_last_and_path_each_link_the_new_picture(app, qtbot, red_circle):
    steps = []
    app.session.images.worker.progress.connect(lambda rid, e: steps.append((e.step, e.total)) if e.phase == "step" else None)
    first = draw(app, qtbot, "/image a red circle on a blue background --steps 6 --seed 1")
    assert first.meta["number"] == 1
    steps.clear()
    edited = draw(app, qtbot, "/image a green circle on a blue background --init #1 --strength 0.8 --steps 10 --seed 2")
    assert steps == [(i, 8) for i in range(1, 9)]            # int(10 * 0.8) steps, and the total says so
    assert (edited.meta["number"], edited.meta["edited_from"], edited.meta["source_id"]) == (2, 1, first.id)
    assert edited.meta["request"]["init"] == first.image_path
    assert "Denoising strength: 0.8" in read_parameters(edited.image_path)
    bubble = app.window.view.widgets[edited.id]
    assert bubble.caption.text().startswith("#2 ") and "edited from #1" in bubble.caption.text()
    again = draw(app, qtbot, "/image a yellow circle --init last --strength 0.5 --steps 4 --seed 3")
    assert again.meta["edited_from"] == 2
    from_file = draw(app, qtbot, f"/image a green circle --init '{red_circle}' --strength 0.8 --steps 4 --seed 4")
    assert from_file.meta["request"]["init"] == str(red_circle) and "edited_from" not in from_file.meta
    user = [m for m in app.storage.messages(app.session.current.id) if m.role == "user"][-1]
    assert user.content.endswith(f"--init '{red_circle}' --strength 0.8 --steps 4 --seed 4")


def test_edit_action_fills_the_message_box(app, qtbot):
    first = draw(app, qtbot, "/image a blue square --steps 4 --seed 1")
    bubble = app.window.view.widgets[first.id]
    assert bubble.action_buttons["edit_picture"].isVisible()
    bubble.action_buttons["edit_picture"].click()
    assert app.window.composer.editor.toPlainText() == "/image a blue square --init #1 --strength 0.6"


BAD = [
    ("/image a circle --init last", "no picture in this chat yet"),
    ("/image a circle --init #999", "no picture #999"),
    ("/image a circle --init #1 --strength 2", "between 0 and 1"),
    ("/image a circle --strength 0.5", "need a picture to edit"),
]


@pytest.mark.parametrize("command,expected", BAD)
def test_bad_references_get_a_message_and_queue_nothing(app, qtbot, command, expected):
    assert not app.session.submit(command)
    assert any(expected in n for n in app.notices), app.notices
    assert pictures(app) == [] and app.session.images.jobs == {}


@pytest.mark.parametrize("case", ["not_a_picture", "mask_size", "missing"])
def test_bad_files_are_found_before_queueing(app, qtbot, tmp_path, red_circle, case):
    junk = tmp_path / "notes.png"
    junk.write_text("just text")
    big_mask = tmp_path / "mask.png"
    Image.new("L", (64, 64), 255).save(big_mask)
    command, expected = {
        "not_a_picture": (f"/image a circle --init {junk}", "not a picture chatapp can read"),
        "mask_size": (f"/image a circle --init '{red_circle}' --mask {big_mask}", "same size"),
        "missing": (f"/image a circle --init {tmp_path / 'gone.png'}", "cannot be opened"),
    }[case]
    assert app.session.submit(command)      # accepted for checking; the files are read on the thread pool
    qtbot.waitUntil(lambda: any(expected in n for n in app.notices), timeout=30000)
    assert app.session.images.edits.waiting == 0
    assert pictures(app) == [] and app.session.images.jobs == {}
    assert app.window.composer.editor.toPlainText() == command    # back in the box, to fix


def paint(qtbot, canvas: MaskCanvas, start: QPoint, end: QPoint):
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)


def test_painter_mask_undo_and_clear(qtbot, red_circle):
    canvas = MaskCanvas(Image_to_qimage(red_circle))
    qtbot.addWidget(canvas)
    s = canvas.scale
    paint(qtbot, canvas, QPoint(round(4 * s), round(4 * s)), QPoint(round(10 * s), round(4 * s)))
    mask = qimage_array(canvas.mask_image())
    assert mask.shape == (32, 32) and mask[4, 4] == 255 and mask[4, 10] == 255 and mask[28, 28] == 0
    canvas.erasing = True
    paint(qtbot, canvas, QPoint(round(10 * s), round(4 * s)), QPoint(round(10 * s), round(4 * s)))
    assert qimage_array(canvas.mask_image())[4, 10] == 0 and canvas.has_mask()
    canvas.undo()
    assert qimage_array(canvas.mask_image())[4, 10] == 255
    canvas.clear()
    assert not canvas.has_mask()
    canvas.undo()                                   # Clear can be undone too
    assert canvas.has_mask()
    canvas.undo()
    assert not canvas.has_mask() and canvas.undo_stack == []


def test_painter_render_repaints_only_the_painted_corner(app, qtbot):
    first = draw(app, qtbot, "/image a red circle on a blue background --steps 8 --seed 1")
    app.window.view.widgets[first.id].picture.activated.emit()      # click the picture: the viewer opens
    viewer = app.window.viewer
    assert isinstance(viewer, PictureViewer) and viewer.canvas.mask.size().width() == 32
    names = {w.accessibleName() for w in (viewer.brush, viewer.eraser, viewer.size_slider, viewer.undo_button,
                                          viewer.clear_button, viewer.prompt, viewer.strength, viewer.render_button)}
    assert "" not in names and len(names) == 8
    viewer.size_slider.setValue(6)
    s = viewer.canvas.scale
    paint(qtbot, viewer.canvas, QPoint(round(3 * s), round(3 * s)), QPoint(round(9 * s), round(9 * s)))
    viewer.prompt.setText("small yellow square top left")
    viewer.strength.setValue(1.0)
    viewer.render_button.click()
    qtbot.waitUntil(lambda: len(pictures(app)) == 2 and pictures(app)[-1].status in (DONE, ERROR), timeout=120000)
    done = pictures(app)[-1]
    mask_file = Path(done.meta["request"]["mask"])
    assert mask_file.parent == Path(app.paths.images) and mask_file.name.startswith(Path(first.image_path).stem)
    mask = np.asarray(Image.open(mask_file)) > 0
    before, after = (np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in (first.image_path, done.image_path))
    assert mask[6, 6] and not mask[20, 20]
    assert np.abs(after - before)[~mask].max() <= 2                 # outside the mask: as it was
    assert np.abs(after - before)[mask].mean() > 10                 # inside: redrawn
    assert done.meta["edited_from"] == 1 and "Mask blur" in read_parameters(done.image_path)
    # Deleting the chat takes its pictures and the mask painted on them along.
    unrelated = Path(app.paths.images) / "someone-elses-mask-1.png"
    unrelated.write_bytes(b"not ours")
    app.session.delete_conversation(first.conversation_id)
    assert not any(Path(p).exists() for p in (first.image_path, done.image_path, mask_file))
    assert unrelated.exists()


@pytest.mark.qt_log_ignore("This plugin does not support")   # the offscreen platform and a popup menu
def test_dropped_picture_without_recipe_offers_edit(make_app, qtbot, tmp_path):
    parts = make_app()
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(photo)
    drop_on_composer(parts.window, photo)
    qtbot.waitUntil(lambda: parts.window.picture_drop.menu is not None, timeout=30000)
    actions = [a.text() for a in parts.window.picture_drop.menu.actions()]
    assert actions == ["Ask about this picture", "Edit this picture"]
    parts.window.picture_drop.menu.actions()[1].trigger()
    editor = parts.window.composer.editor
    assert editor.toPlainText() == f"/image  --init {photo} --strength 0.6"
    assert editor.textCursor().position() == len("/image ")
    assert sum(len(parts.storage.messages(c.id)) for c in parts.storage.conversations()) == 0   # not attached


@pytest.mark.qt_log_ignore("This plugin does not support")   # the offscreen platform and a popup menu
def test_dropped_png_with_a_recipe_offers_both(make_app, qtbot, tmp_path):
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("parameters", "a blue square\nSteps: 9, Sampler: DDIM, CFG scale: 3, Seed: 4, Size: 32x32")
    png = tmp_path / "ours.png"
    Image.new("RGB", (32, 32)).save(png, pnginfo=info)
    parts = make_app()
    drop_on_composer(parts.window, png)
    qtbot.waitUntil(lambda: parts.window.picture_drop.menu is not None, timeout=30000)
    ask, use, edit = parts.window.picture_drop.menu.actions()
    assert (ask.text(), use.text(), edit.text()) == ("Ask about this picture", "Use its recipe", "Edit this picture")
    assert parts.window.picture_drop.menu.activeAction() is ask   # Enter asks: the common case
    use.trigger()
    assert parts.window.composer.editor.toPlainText() == \
        "/image a blue square --steps 9 --cfg 3.0 --seed 4 --scheduler ddim --size 32x32"


def Image_to_qimage(path):
    from PySide6.QtGui import QImage
    return QImage(str(path))


def qimage_array(image):
    from PySide6.QtGui import QImage
    gray = image.convertToFormat(QImage.Format.Format_Grayscale8)
    row = gray.bytesPerLine()
    return np.frombuffer(bytes(gray.constBits()), np.uint8).reshape(gray.height(), row)[:, :gray.width()]


def test_an_edit_keeps_its_pictures_size_whatever_the_settings_default(make_app, qtbot, red_circle):
    from chatapp.settings import Settings
    parts = make_app(image_engine=DiffusionImageEngine(default_image_model_path()),
                     settings=Settings(image_size="64x64"))
    done = draw(parts, qtbot, f"/image a green circle --init '{red_circle}' --strength 0.5 --steps 4 --seed 1")
    assert Image.open(done.image_path).size == (32, 32)
    assert (done.meta["request"]["width"], done.meta["request"]["height"]) == (32, 32)


def test_an_edit_checked_after_another_chat_opened_goes_back_to_the_box(app, qtbot, red_circle):
    s = app.session
    edited = draw(app, qtbot, f"/image a green circle --init '{red_circle}' --strength 0.8 --steps 4 --seed 4")
    assert s.redraw(edited)   # Re-run on an edit: no command was typed; its file is checked on the thread pool...
    with qtbot.waitSignal(s.recipe_ready, timeout=30000) as back:
        s.new_conversation()    # ...while the user opens another chat: the picture does not belong there
    assert back.args[0].startswith("/image a green circle ") and f"--init {shlex.quote(str(red_circle))} " in back.args[0]
    images = [m.id for m in app.storage.messages(edited.conversation_id) if m.kind == "image"]
    assert images == [edited.id] and s.current is None   # nothing was drawn, in either chat
