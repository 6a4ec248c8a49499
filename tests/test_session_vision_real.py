"""Issue 24 end to end on the real path: a picture attached through the session reaches the real llama-cpp-python vision
handler (the tiny vision model, tests/vision_model.py) as a data URL, is evaluated, and a reply streams; real SQLite."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from chatapp.engines.llama import LlamaChatEngine
from chatapp.settings import Settings

from .vision_model import vision_model  # noqa: F401  (the fixture)

pytestmark = pytest.mark.real


class RecordingEngine(LlamaChatEngine):
    """The real engine, keeping the messages each reply was asked with."""

    def stream(self, messages, *args, **kwargs):
        self.seen = getattr(self, "seen", []) + [messages]
        yield from super().stream(messages, *args, **kwargs)


def test_a_picture_reaches_the_real_vision_model_and_is_counted(make_app, qtbot, vision_model):  # noqa: F811
    gguf, mmproj = vision_model
    engine = RecordingEngine(gguf, n_ctx=2048, projector=mmproj)
    parts = make_app(engine, settings=Settings(max_tokens=6, temperature=0.0, seed=7))
    session = parts.session
    assert session.llm_status == "ready" and session.chat_capabilities.vision
    stats = []
    session.stats_changed.connect(stats.append)
    with qtbot.waitSignal(session.reply_finished, timeout=120000):
        session.submit("Hello there.")
    photo = Path(__file__).parent / "data" / "pictures" / "llama_cpp_test-1.jpeg"   # llama.cpp's own test photo
    session.attach_pictures([str(photo)])
    qtbot.waitUntil(lambda: len(session.pictures.pending) == 1, timeout=30000)
    with qtbot.waitSignal(session.reply_finished, timeout=120000):
        assert session.submit("Hello there.")
    user, reply = parts.storage.branch(session.current.id)[-2:]
    assert Path(user.meta["pictures"][0]["path"]).is_file() and reply.status == "done" and reply.content.strip()
    # The same words with the picture cost the picture's tokens more (evaluated by libmtmd, counted in the stats):
    # far more than the few tokens of the first turn and its reply that the second prompt also holds.
    text_only, with_picture = stats[0].prompt_tokens, stats[1].prompt_tokens
    assert with_picture - 2 * text_only > 100, (text_only, with_picture)
    # It went as a data URL scaled to the projector's side (capabilities.image_side: 560), not whole (640x488).
    url = engine.seen[-1][-1]["content"][1]["image_url"]["url"]
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
        assert engine.capabilities.image_side == 560 and im.size == (560, 427)
