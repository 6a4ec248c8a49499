"""End to end: the real app with the real embedded model, offscreen; then a restart finds it all."""
import json
import os
import subprocess
import sys

import pytest
from PySide6.QtCore import Qt

from chatapp.conversation import DONE

from .conftest import close_app

pytestmark = pytest.mark.real


def test_question_streams_reply_saved_and_back_after_restart(qtbot, tmp_path):
    from chatapp.app import build
    from chatapp.settings import Settings, resolve_paths
    settings = Settings(temperature=0.0, max_tokens=40)
    paths = resolve_paths(str(tmp_path / "data"))
    parts = build(paths, settings)
    qtbot.addWidget(parts.window)
    parts.window.show()
    parts.session.load_models()
    qtbot.waitUntil(lambda: parts.session.llm_status == "ready", timeout=60000)
    assert "SmolLM2" in parts.window.model_label.text() or "Smollm2" in parts.window.model_label.text()
    pieces = []
    parts.session.reply_text.connect(lambda mid, text: pieces.append(text))
    qtbot.keyClicks(parts.window.composer.editor, "What is the capital of France?")
    with qtbot.waitSignal(parts.session.reply_finished, timeout=60000):
        qtbot.keyClick(parts.window.composer.editor, Qt.Key.Key_Return)
    conv_id = parts.session.current.id
    user, reply = parts.storage.messages(conv_id)
    assert user.content == "What is the capital of France?"
    assert reply.status == DONE and reply.content.strip()
    # Shown as it grew (each update extends the last; several tokens may come in one), all of it last.
    assert pieces and all(b.startswith(a) for a, b in zip(pieces, pieces[1:])) and pieces[-1] == reply.content
    assert "tok/s" in parts.window.stats_label.text()
    close_app(parts)

    again = build(paths, settings)
    qtbot.addWidget(again.window)
    try:
        assert again.session.current.id == conv_id
        shown = [again.window.view.text_of(mid) for mid in sorted(again.window.view.widgets)]
        assert "capital of France" in shown[0]
        assert reply.content.split()[0] in shown[1]
    finally:
        close_app(again)


def test_window_shows_before_any_heavy_import(tmp_path):
    """The real `python -m chatapp` process: window first, no llama_cpp/torch/diffusers yet."""
    report = tmp_path / "startup.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CHATAPP_STARTUP_REPORT=str(report),
               CHATAPP_QUIT_WHEN_READY="1")
    proc = subprocess.run([sys.executable, "-m", "chatapp", "--data-dir", str(tmp_path / "d")], env=env,
                          timeout=120, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["heavy_imported_at_show"] == []
    assert data["model_ready"] >= data["window_shown"]
