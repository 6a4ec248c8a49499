"""The recipe's one validation: each limit refused with a message naming the field, the same through /image,
`chatapp serve` and the engines."""
import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatapp.commands import CommandError, parse_input
from chatapp.engines.base import EngineError, ModelInfo
from chatapp.engines.fake import FakeImageEngine
from chatapp.recipes import RecipeError
from chatapp.recipes.request import MAX_PROMPT_CHARS, ImageRequest, ModelLimits
from chatapp.serve.app import API_NAMES, Slot, create_app


class SmallEngine(FakeImageEngine):
    """A model that allows 64x64 at most and draws 32x32, like the embedded tiny-shapes one."""

    def __init__(self):
        super().__init__(size=32)
        self.defaults["max_size"] = 64


SMALL = ModelLimits.from_defaults("tiny", SmallEngine().defaults)


@pytest.mark.parametrize("fields, field, words", [
    ({"prompt": "  "}, "prompt", "The picture needs a description"),
    ({"prompt": "a" * (MAX_PROMPT_CHARS + 1)}, "prompt", "The prompt is 4,001 characters long"),
    ({"negative": "b" * (MAX_PROMPT_CHARS + 1)}, "negative", "The negative prompt is 4,001 characters long"),
    ({"steps": 0}, "steps", "--steps must be between 1 and 150, not 0."),
    ({"steps": 151}, "steps", "--steps must be between 1 and 150, not 151."),
    ({"cfg": 30.5}, "cfg", "--cfg must be between 0 and 30, not 30.5."),
    ({"cfg": float("nan")}, "cfg", "--cfg must be between 0 and 30"),
    ({"seed": -1}, "seed", "--seed must be between 0 and 18446744073709551615."),
    ({"seed": 2**64}, "seed", "--seed must be between 0"),
    ({"count": 0}, "count", "--n must be between 1 and 8, not 0."),
    ({"count": 9}, "count", "--n must be between 1 and 8, not 9."),
    ({"width": 30, "height": 32}, "size", "--size must be a multiple of 8 on each side, e.g. 512x512 (got 30x32)."),
    ({"width": 32}, "size", "--size must be a multiple of 8 on each side, e.g. 512x512 (got 32x0)."),
    ({"width": 72, "height": 32}, "size", "--size 72x32 is larger than tiny allows (64x64 at most). Try --size 32x32."),
    ({"scheduler": "warp"}, "scheduler", "Unknown scheduler 'warp'. Choose one of: dpm++2m,"),
    ({"loras": [(f"l{i}", 1.0) for i in range(9)]}, "loras", "At most 8 LoRAs at once, not 9."),
    ({"loras": [("x", 2.5)]}, "loras", "The weight of LoRA 'x' must be between -2 and 2, not 2.5."),
    ({"loras": [("../x", 1.0)]}, "loras", "'../x' is not a LoRA name"),
    ({"init": "#1", "strength": 1.5}, "strength", "--strength must be between 0 and 1, not 1.5."),
    ({"strength": 0.5}, "init", "--strength and --mask need a picture to edit"),
    ({"mask": "m.png"}, "init", "--strength and --mask need a picture to edit"),
    ({"init": "#x"}, "init", "--init #x is not a picture number"),
])
def test_each_limit_is_refused_naming_its_field(fields, field, words):
    with pytest.raises(RecipeError) as err:
        ImageRequest.from_fields(**{"prompt": "a red circle", **fields}, limits=SMALL)
    assert err.value.field == field and words in str(err.value)


def test_a_request_within_the_limits_comes_back_as_built():
    fields = dict(prompt="a red circle", negative="blurry", steps=150, cfg=30.0, seed=2**64 - 1, width=64, height=8,
                  scheduler="euler-a", count=8, init="#3", strength=0.0, mask="m.png", loras=[("x", -2.0)] * 8)
    assert ImageRequest.from_fields(**fields, limits=SMALL) == ImageRequest(**fields)


def test_the_request_is_keyword_only():
    with pytest.raises(TypeError):
        ImageRequest("a red circle", "blurry")   # a field shifted by one would be a wrong recipe, silently


def test_limits_come_from_the_models_defaults():
    limits = ModelLimits.from_defaults("tiny-shapes", {"max_size": 64, "width": 32, "height": 48, "steps": 8})
    assert (limits.model, limits.max_side, limits.fits) == ("tiny-shapes", 64, (32, 48))
    assert ModelLimits.from_defaults("remote", {}).max_side == 2048
    own = ModelLimits.from_defaults("lcm", {"scheduler": "LCMScheduler"})   # a model's own scheduler, without a flag
    assert ImageRequest(prompt="x", scheduler="LCMScheduler").validate(own).scheduler == "LCMScheduler"
    with pytest.raises(RecipeError, match="Unknown scheduler 'LCMScheduler'"):
        ImageRequest(prompt="x", scheduler="LCMScheduler").validate()
    narrow = ModelLimits(count=(1, 4), schedulers=("euler",))
    with pytest.raises(RecipeError, match="between 1 and 4, not 5"):
        ImageRequest(prompt="x", count=5).validate(narrow)
    with pytest.raises(RecipeError, match="Choose one of: euler[.]"):
        ImageRequest(prompt="x", scheduler="ddim").validate(narrow)


def test_another_door_names_the_fields_its_own_way():
    with pytest.raises(RecipeError) as err:
        ImageRequest(prompt="x", cfg=31.0).validate(names=API_NAMES)
    assert str(err.value) == "cfg_scale must be between 0 and 30, not 31.0."


@pytest.fixture
def server():
    engine = SmallEngine()
    info = ModelInfo(name="tiny", path="tiny", details=dict(engine.defaults))
    with ThreadPoolExecutor(1) as pool, TestClient(create_app([Slot("image", engine, info, pool)])) as client:
        yield client


@pytest.mark.parametrize("flags, body, flag, param", [
    ("--steps 0", {"steps": 0}, "--steps", "steps"),
    ("--cfg 99", {"cfg_scale": 99}, "--cfg", "cfg_scale"),
    ("--size 128x128", {"size": "128x128"}, "--size", "size"),
    ("--size 60x60", {"size": "60x60"}, "--size", "size"),
    ("--scheduler warp", {"scheduler": "warp"}, "--scheduler", "scheduler"),
    ("--seed 18446744073709551616", {"seed": 2**64}, "--seed", "seed"),
    ("<lora:x:lots>", {"prompt": "a red circle <lora:x:lots>"}, "", "prompt"),
])
def test_the_same_bad_recipe_gets_the_same_message_from_image_and_serve(server, flags, body, flag, param):
    with pytest.raises(CommandError) as typed:
        parse_input(f"/image a red circle {flags}", SMALL)
    r = server.post("/v1/images/generations", json={"prompt": "a red circle", **body})
    error = r.json()["error"]
    assert r.status_code == 400 and error["param"] == param
    expected = str(typed.value).replace(flag, param) if flag else str(typed.value)
    # The one difference: /image offers the model's own size; an API client reads it from /v1/models.
    assert error["message"] == expected.replace(" Try size 32x32.", "")


def test_the_engine_refuses_with_the_same_message():
    engine = SmallEngine()
    with pytest.raises(CommandError) as typed:
        parse_input("/image a red circle --size 128x128", ModelLimits.from_defaults("Fake image model", engine.defaults))
    with pytest.raises(EngineError) as drawn:
        engine.generate(ImageRequest(prompt="a red circle", width=128, height=128), lambda e: None, lambda: False)
    assert str(drawn.value) == str(typed.value)


def test_the_recipe_module_is_the_ground_floor():
    """recipes/ imports nothing else of chatapp, and no library but Pillow (PNG, EXIF) and sd-parsers (other tools')."""
    spec = importlib.util.spec_from_file_location("import_graph", Path(__file__).parent.parent / "tools" / "import_graph.py")
    graph = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(graph)
    arrows = graph.module_arrows()
    up = sorted((s, d) for s, d in arrows if s.startswith("chatapp.recipes") and not d.startswith("chatapp.recipes"))
    assert not up, up
    assert ("chatapp.recipes.png", "chatapp.recipes.a1111") in arrows   # the reader sees real arrows
    assert set(graph.external()["recipes"]) <= {"PIL", "sd_parsers"}, graph.external()["recipes"]


def test_every_scheduler_name_has_its_diffusers_class_and_no_class_is_nameless():
    # The names users type live in recipes/samplers.py, their classes in engines/schedulers.py (recipes/ imports
    # nothing above it): a name added to one table alone would be offered and then fail, or never be offered.
    from chatapp.engines.schedulers import SCHEDULER_CLASSES
    from chatapp.recipes.samplers import SCHEDULER_NAMES
    assert set(SCHEDULER_CLASSES) == set(SCHEDULER_NAMES)
