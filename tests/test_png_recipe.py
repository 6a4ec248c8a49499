"""PNG recipe chunk in AUTOMATIC1111's format: written, read back equal, other tools' text parsed."""
from PIL import Image

from chatapp.conversation import ImageRequest
from chatapp.engines.base import ImageResult
from chatapp.recipes.a1111 import format_parameters, parse_parameters
from chatapp.recipes.png import read_parameters, save_png


def test_save_and_read_back(tmp_path):
    req = ImageRequest(prompt="a red circle", negative="blurry", steps=20, cfg=4.0, seed=1234, width=32, height=32,
                       scheduler="dpm++2m", count=1)
    saved = save_png(ImageResult(Image.new("RGB", (32, 32), "red"), 1234, req), tmp_path, "tiny-shapes", "abc123def0")
    text = read_parameters(saved.path)
    assert text == saved.parameters
    assert "Negative prompt: blurry" in text and "Sampler: DPM++ 2M" in text and "Model hash: abc123def0" in text
    assert parse_parameters(text) == req
    assert not list(tmp_path.glob("*.part"))


def test_parses_another_tools_text():
    text = ("masterpiece, a castle on a hill\nNegative prompt: lowres, bad anatomy\n"
            "Steps: 28, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 3913211557, "
            "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.9.4")
    req = parse_parameters(text)
    assert req == ImageRequest(prompt="masterpiece, a castle on a hill", negative="lowres, bad anatomy", steps=28,
                               cfg=7.0, seed=3913211557, width=512, height=768, scheduler="euler-a", count=1)


def test_format_is_a1111_shaped():
    text = format_parameters(ImageRequest(prompt="p", negative="", steps=5, cfg=2.0, seed=9, width=64, height=64,
                                          scheduler="euler", count=1), "m")
    assert text == "p\nSteps: 5, Sampler: Euler, CFG scale: 2.0, Seed: 9, Size: 64x64, Model: m"
