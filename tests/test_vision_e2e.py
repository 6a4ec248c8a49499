"""A picture through the whole app to the real local vision engine: the model paired by the backend's factory,
the picture attached, sent as a data URL, evaluated by llama.cpp's MTMDChatHandler, counted in the stats."""
import os

import pytest
from PIL import Image

from chatapp.backends.local import llm_factory
from chatapp.settings import Settings

from .vision_model import vision_model  # noqa: F401  (the fixture)

pytestmark = pytest.mark.real


def test_a_picture_reaches_the_real_vision_model(make_app, qtbot, tmp_path, vision_model):  # noqa: F811
    gguf, mmproj = vision_model
    folder = tmp_path / "models"
    folder.mkdir()
    os.symlink(gguf, folder / "Tiny-VL.gguf")
    os.symlink(mmproj, folder / "mmproj-Tiny-VL.gguf")   # paired automatically: Settings names no projector
    settings = Settings(llm_model=str(folder / "Tiny-VL.gguf"), max_tokens=8, seed=5, temperature=0.0, n_ctx=2048)
    parts = make_app(llm_factory(settings)(), settings=settings)
    session = parts.session
    assert session.llm_status == "ready" and session.chat_capabilities.vision
    assert session.chat_capabilities.image_side == 560
    stats = []
    session.stats_changed.connect(stats.append)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (1200, 900), (30, 90, 200)).save(photo)   # scaled to 560 px on the long side: 560 x 420
    session.attach_pictures([str(photo)])
    qtbot.waitUntil(lambda: len(session.pictures.pending) == 1 and not session.pictures.reading, timeout=30000)
    with qtbot.waitSignal(session.reply_finished, timeout=120000):
        assert session.submit("What is in this picture?")
    user, reply = parts.storage.branch(session.current.id)
    assert user.meta["pictures"][0]["name"] == "photo.png" and reply.content.strip()
    # 560 x 420 px: 20 x 15 merged patches = 300 embeddings, all in the prompt beside the question's few tokens.
    assert stats and 300 < stats[-1].prompt_tokens < 360 and stats[-1].completion_tokens == 8
