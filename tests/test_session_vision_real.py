"""Issue 24 end to end on the real path: a picture attached through the session reaches the real llama-cpp-python vision
handler (the tiny vision model, tests/vision_model.py) as a data URL, is evaluated, and a reply streams; real SQLite."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from chatapp.engines.llama import LlamaChatEngine
from chatapp.settings import Settings

from .vision_model import vision_model  # noqa: F401  (the fixture)

pytestmark = pytest.mark.real


def test_a_picture_reaches_the_real_vision_model_and_is_counted(make_app, qtbot, tmp_path, vision_model):  # noqa: F811
    gguf, mmproj = vision_model
    engine = LlamaChatEngine(gguf, n_ctx=2048, projector=mmproj)
    parts = make_app(engine, settings=Settings(max_tokens=6, temperature=0.0, seed=7))
    session = parts.session
    assert session.llm_status == "ready" and session.chat_capabilities.vision
    stats = []
    session.stats_changed.connect(stats.append)
    with qtbot.waitSignal(session.reply_finished, timeout=120000):
        session.submit("Hello there.")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (1600, 1200), (30, 90, 200)).save(photo)   # scaled to the projector's side before it is sent
    session.attach_pictures([str(photo)])
    qtbot.waitUntil(lambda: len(session.pictures.pending) == 1, timeout=30000)
    with qtbot.waitSignal(session.reply_finished, timeout=120000):
        assert session.submit("Hello there.")
    user, reply = parts.storage.branch(session.current.id)[-2:]
    assert Path(user.meta["pictures"][0]["path"]).is_file() and reply.status == "done" and reply.content.strip()
    # The same words with the picture cost the picture's tokens more (evaluated by libmtmd, counted in the stats):
    # far more than the few tokens of the first turn and its reply that the second prompt also holds.
    text_only, with_picture = stats[0].prompt_tokens, stats[1].prompt_tokens
    # Scaled to the projector's 560 px (560x420: 20x15 merged patches, 300 tokens), not sent at 1024 (~970) or whole.
    assert 100 < with_picture - 2 * text_only < 400, (text_only, with_picture)
