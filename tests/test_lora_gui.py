"""LoRAs in the window: /loras lists the Settings folder, --lora reaches the engine, a missing one is an inline error."""
import shutil

import pytest
from PySide6.QtCore import Qt

from chatapp.conversation import DONE, ERROR
from chatapp.engines.defaults import SHAPES_IMAGE_MODEL
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.engines.lora import BUILTIN_DIR
from chatapp.recipes.png import read_parameters
from chatapp.settings import Settings


def send(parts, qtbot, text):
    qtbot.keyClicks(parts.window.composer.editor, text)
    qtbot.keyClick(parts.window.composer.editor, Qt.Key.Key_Return)


def test_loras_command_lists_the_folder_off_the_gui_thread(make_app, qtbot, tmp_path):
    shutil.copy(BUILTIN_DIR / "white-background-kohya.safetensors", tmp_path / "mine.safetensors")
    parts = make_app(settings=Settings(lora_folder=str(tmp_path)))
    notices = []
    parts.session.notice.connect(notices.append)
    send(parts, qtbot, "/loras")
    qtbot.waitUntil(lambda: any("mine" in n for n in notices), timeout=30000)
    assert f"**{tmp_path}**" in notices[-1] and "- `mine` (" in notices[-1] and "tiny-shapes, kohya format" in notices[-1]
    assert parts.window.composer.editor.toPlainText() == ""


def test_bad_lora_flag_queues_nothing(make_app, qtbot):
    parts = make_app()
    notices = []
    parts.session.notice.connect(notices.append)
    send(parts, qtbot, "/image a red circle --lora white-background:9")
    assert notices and "between -2 and 2" in notices[-1]
    assert parts.session.current is None or not parts.storage.messages(parts.session.current.id)


@pytest.mark.real
def test_lora_from_the_settings_folder_and_a_missing_one(make_app, qtbot, tmp_path):
    shutil.copy(BUILTIN_DIR / "white-background.safetensors", tmp_path / "bright.safetensors")
    parts = make_app(image_engine=DiffusionImageEngine(SHAPES_IMAGE_MODEL, threads=1),
                     settings=Settings(lora_folder=str(tmp_path)))
    send(parts, qtbot, "/image a red circle on a blue background --seed 2 --lora nope")
    send(parts, qtbot, "/image a red circle on a blue background <lora:bright:1> --seed 2")
    conv = parts.session.current.id

    def pictures():
        return [m for m in parts.storage.messages(conv) if m.kind == "image"]
    qtbot.waitUntil(lambda: len(pictures()) == 2 and all(m.status in (DONE, ERROR) for m in pictures()), timeout=120000)
    failed, done = pictures()
    assert failed.status == ERROR and failed.image_path is None
    assert f"No LoRA named 'nope' in {tmp_path} or {BUILTIN_DIR}" in failed.content
    assert done.status == DONE and "<lora:bright:1>" in read_parameters(done.image_path)
    assert done.meta["request"]["loras"][0][:2] == ["bright", 1.0] or done.meta["request"]["loras"][0][:2] == ("bright", 1.0)


def test_settings_dialog_has_the_lora_folder_row(qtbot):
    from chatapp.ui.settings_dialog import SettingsDialog
    dialog = SettingsDialog(Settings(lora_folder="/data/loras"))
    qtbot.addWidget(dialog)
    assert dialog.lora_folder.text() == "/data/loras"
    dialog.lora_folder.setText("  /other/loras ")
    assert dialog.result_settings().lora_folder == "/other/loras"
