"""Light when idle: a chat-only start never imports torch; an idle image model is freed and comes back."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Slot

from chatapp.engines.fake import FakeImageEngine
from chatapp.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.real
def test_chat_only_start_up_imports_no_torch(tmp_path):
    report = tmp_path / "startup.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CHATAPP_STARTUP_REPORT=str(report),
               CHATAPP_QUIT_WHEN_READY="1")
    subprocess.run([sys.executable, "-m", "chatapp", "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env,
                   check=True, timeout=300, capture_output=True)
    data = json.loads(report.read_text())
    assert "model_ready" in data, data                       # the real embedded GGUF answered the warm-up
    assert data["heavy_imported_at_ready"] == ["llama_cpp"]  # not torch, diffusers or transformers
    assert data["rss_mb_at_ready"] > 0


class CountingImageEngine(FakeImageEngine):
    loads = 0

    def load(self):
        CountingImageEngine.loads += 1
        return super().load()


def test_idle_image_model_is_unloaded_and_reloaded_on_demand(qtbot, make_app):
    CountingImageEngine.loads = 0
    parts = make_app(image_engine=CountingImageEngine(), settings=Settings(image_idle_unload_min=10))
    s, images = parts.session, parts.session.images
    states = []
    images.state.connect(lambda state, detail: states.append(state))
    s.submit("/image a red square")
    qtbot.waitUntil(lambda: not images.jobs and images.status == "ready", timeout=30_000)
    idle = images.idle
    qtbot.waitUntil(idle.timer.isActive, timeout=10_000)
    assert idle.timer.interval() == 10 * 60_000            # the Settings field, in minutes
    idle.timer.start(1)                                    # let the ten minutes pass now
    qtbot.waitUntil(lambda: images.status == "idle", timeout=10_000)
    assert images.worker.engine is None and CountingImageEngine.loads == 1
    s.submit("/image a blue circle")
    qtbot.waitUntil(lambda: not images.jobs and images.status == "ready", timeout=30_000)
    assert CountingImageEngine.loads == 2
    assert states[-3:] == ["idle", "loading", "ready"]    # the reload is shown like the first load
    pictures = [m for m in s.storage.messages(s.current.id) if m.kind == "image"]
    assert [m.status for m in pictures] == ["done", "done"]


class TimerAfterFinish(QObject):
    """Connected to the worker's `finished` after the idle unloader: a queued slot runs after the
    unloader's own, so it sees the timer exactly as the picture's end left it."""

    def __init__(self, images):
        super().__init__()
        self.images, self.seen = images, []
        images.worker.finished.connect(self.record)

    @Slot(int, list)
    def record(self, _request_id, _saved):
        self.seen.append(self.images.idle.timer.isActive())


@pytest.mark.parametrize("minutes, armed", [(0, False), (10, True)])
def test_zero_minutes_keeps_the_model(qtbot, make_app, minutes, armed):
    parts = make_app(settings=Settings(image_idle_unload_min=minutes))
    images = parts.session.images
    spy = TimerAfterFinish(images)
    parts.session.submit("/image a red square")
    qtbot.waitUntil(lambda: bool(spy.seen), timeout=30_000)
    assert spy.seen == [armed] and images.worker.engine is not None   # 10 minutes: the control case
