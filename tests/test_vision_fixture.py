"""The tiny vision fixture: built by llama.cpp's converter into a chat GGUF and a projector that belong together."""
import pytest

from chatapp.models.gguf_info import read_gguf

from .vision_model import vision_model  # noqa: F401  (the fixture)

pytestmark = pytest.mark.real


def test_fixture_is_a_chat_model_and_its_projector(vision_model):  # noqa: F811
    gguf, mmproj = vision_model
    model = read_gguf(gguf, "test")
    assert model.usable and model.architecture == "qwen2vl" and model.chat_template
    projector = read_gguf(mmproj, "test")
    assert not projector.usable and "projector" in projector.reason
    # A second call finds the files already built (same paths, nothing rebuilt).
    from .vision_model import tiny_vision_model
    again = tiny_vision_model()
    assert again == (gguf, mmproj) and gguf.stat().st_mtime == again[0].stat().st_mtime
