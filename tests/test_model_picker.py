"""The model picker in the app: greyed unusable rows, one-click switching, opened from the status bar."""
import os

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from chatapp.models import Source
from chatapp.ui.model_picker import ModelPicker

from .model_trees import build_home


def wait_scanned(qtbot, picker):
    qtbot.waitUntil(lambda: not picker.scanning, timeout=60_000)


def test_unusable_rows_are_greyed_with_the_reason(qtbot, tmp_path):
    from chatapp.settings import Settings
    home = build_home(tmp_path / "home")
    picker = ModelPicker(Settings(), make_sources=lambda: [Source("~/models", home / "models")])
    qtbot.addWidget(picker)
    try:
        wait_scanned(qtbot, picker)
        chat = picker.lists["chat"]
        rows = {chat.topLevelItem(i).text(0): chat.topLevelItem(i) for i in range(chat.topLevelItemCount())}
        assert rows["whole"].flags() & Qt.ItemFlag.ItemIsEnabled
        cut = rows["cut"]
        assert not cut.flags() & Qt.ItemFlag.ItemIsEnabled and "truncated" in cut.text(6)
        assert "truncated" in cut.toolTip(0)
        chat.setCurrentItem(cut)
        assert not picker.use_button.isEnabled()
    finally:
        picker.shutdown()


@pytest.mark.real
def test_one_click_switches_the_chat_model(qtbot, make_app, tmp_path):
    from chatapp.engines.defaults import default_llm_path
    store = tmp_path / "lmstudio" / "acme" / "Smol-GGUF"
    store.mkdir(parents=True)
    target = store / "smol-copy.gguf"
    os.symlink(default_llm_path(), target)
    parts = make_app()
    picker = ModelPicker(parts.session.settings, parts.window,
                         make_sources=lambda: [Source("LM Studio", tmp_path / "lmstudio")])
    qtbot.addWidget(picker)
    picker.chosen.connect(parts.window._switch_model)
    try:
        wait_scanned(qtbot, picker)
        assert picker.select("chat", str(target))
        picker.use_button.click()
    finally:
        picker.shutdown()
    assert parts.session.settings.llm_model == str(target)
    qtbot.waitUntil(lambda: parts.session.llm_status == "ready" and parts.session.llm_info
                    and parts.session.llm_info.path == str(target), timeout=120_000)
    assert "smol-copy" in parts.window.model_label.text()


def test_status_bar_model_button_opens_the_picker(qtbot, make_app):
    parts = make_app()
    seen = []

    def close_it():
        dialog = QApplication.activeModalWidget()
        seen.append(type(dialog).__name__)
        dialog.reject()
    QTimer.singleShot(200, close_it)
    parts.window.model_label.click()
    assert seen == ["ModelPicker"]
