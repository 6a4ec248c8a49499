"""Default steps, guidance and size from Settings apply per request: changing them reloads no pipeline."""
from dataclasses import replace

from chatapp import backends
from chatapp.conversation import DONE, ImageRequest
from chatapp.engines.fake import FakeImageEngine
from chatapp.pictures.jobs import with_user_defaults
from chatapp.settings import Settings


def test_settings_fill_only_what_the_command_left_out():
    s = replace(Settings(), image_steps=12, image_cfg=5.5, image_size="64x48")
    filled = with_user_defaults(ImageRequest(prompt="a cat"), s)
    assert (filled.steps, filled.cfg, filled.width, filled.height) == (12, 5.5, 64, 48)
    own = with_user_defaults(ImageRequest(prompt="a cat", steps=3, cfg=0.0, width=32, height=32), s)
    assert (own.steps, own.cfg, own.width, own.height) == (3, 0.0, 32, 32)   # cfg 0 asked for stays 0
    model = with_user_defaults(ImageRequest(prompt="a cat"), Settings())
    assert (model.steps, model.cfg, model.width, model.height) == (None, None, None, None)   # the model's own


def test_changing_defaults_in_settings_keeps_the_loaded_model(make_app, qtbot):
    engine = FakeImageEngine()
    parts = make_app(image_engine=engine)
    s = parts.session
    assert not backends.image_needs_reload(s.settings, replace(s.settings, image_steps=7, image_size="40x24"))
    s.apply_settings(replace(s.settings, image_steps=7, image_size="40x24"))
    s.submit("/image a square --seed 1")
    qtbot.waitUntil(lambda: any(m.kind == "image" and m.status == DONE for m in parts.storage.messages(s.current.id)),
                    timeout=60000)
    picture = [m for m in parts.storage.messages(s.current.id) if m.kind == "image"][-1]
    from PIL import Image
    with Image.open(picture.image_path) as im:
        assert im.size == (40, 24)
    assert s.images.worker.engine is engine   # the same engine object: nothing was rebuilt
