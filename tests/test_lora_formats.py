"""LoRA files in the formats other tools save (issue 25), on the real embedded tiny-shapes model: diffusers'
attention-processor layout is applied (or refused when nothing of it applies), a language model's PEFT adapter
is named for what it is; and Karras/exponential schedules run as scheduler flags."""
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from chatapp.conversation import ImageRequest
from chatapp.engines import lora
from chatapp.engines.base import EngineError
from chatapp.engines.defaults import SHAPES_IMAGE_MODEL
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.recipes.a1111 import format_parameters

pytestmark = pytest.mark.real
LORAS = Path(__file__).parent / "data" / "loras"
NOT_SD = "it is not a Stable Diffusion LoRA (a language-model adapter)"


@pytest.fixture(scope="module")
def engine():
    e = DiffusionImageEngine(SHAPES_IMAGE_MODEL, threads=1)
    e.load()
    return e


@pytest.fixture
def folder(tmp_path, engine):
    for f in ("attn-processor.safetensors", "attn-processor-bare.safetensors"):
        shutil.copy(LORAS / f, tmp_path / f)
    shutil.copytree(LORAS / "lm-adapter", tmp_path / "lm-adapter")
    shutil.copy(LORAS / "lm-adapter" / "adapter_model.safetensors", tmp_path / "chat-adapter.safetensors")
    engine.lora_dirs = [tmp_path]
    yield tmp_path
    engine.loras.clear(engine.pipe)


def render(engine, loras=(), scheduler=None):
    req = ImageRequest(prompt="a red circle on a blue background", steps=4, seed=3, scheduler=scheduler, loras=list(loras))
    return engine.generate(req, lambda e: None, lambda: False)[0]


def pixels(result):
    return np.asarray(result.image).astype(int)


@pytest.mark.parametrize("name", ["attn-processor", "attn-processor-bare"])
def test_attention_processor_format_is_recognised(name):
    """Issue: refused as "no LoRA layers chatapp recognises" ("_lora.down", not ".lora.down")."""
    info = lora.inspect(LORAS / f"{name}.safetensors")
    assert (info.problem, info.format, info.kind, info.layers) == ("", lora.PROCESSOR, "tiny-shapes", 16)


@pytest.mark.parametrize("name", ["attn-processor", "attn-processor-bare"])
def test_attention_processor_lora_changes_the_picture_and_comes_off(engine, folder, name):
    plain = pixels(render(engine))
    on = render(engine, [(name, 1.0)])
    assert np.abs(pixels(on) - plain).mean() > 5    # it was applied (16 layers, random weights)
    assert on.request.loras[0][:2] == (name, 1.0)
    assert np.array_equal(pixels(render(engine)), plain)   # and taken off again, bit for bit


def test_a_lora_that_loads_as_nothing_is_refused(engine, folder, monkeypatch):
    """diffusers 0.42 loads the bare attention-processor file as 0 layers, no error: the count is checked."""
    plain = pixels(render(engine))
    monkeypatch.setattr(lora, "processor_state_dict", lambda path: str(path))   # the raw file, as before
    with pytest.raises(EngineError, match="none of its 16 layers matched a layer of the model"):
        render(engine, [("attn-processor-bare", 1.0)])
    assert np.array_equal(pixels(render(engine)), plain)   # nothing left applied


@pytest.mark.parametrize("path", ["lm-adapter/adapter_model.safetensors", "chat-adapter.safetensors"])
def test_a_language_model_adapter_is_named_for_what_it_is(engine, folder, path):
    """Issue: listed as "unknown, diffusers format" and failed with diffusers' internal message."""
    info = lora.inspect(folder / path)
    assert info.problem == NOT_SD
    listing = lora.listing([folder])
    assert f"`chat-adapter` (1 KB): cannot be used: {NOT_SD}" in listing
    with pytest.raises(EngineError, match=r"LoRA chat-adapter cannot be used: it is not a Stable Diffusion LoRA"):
        render(engine, [("chat-adapter", 1.0)])


def test_adapter_config_beside_it_says_language_model(tmp_path):
    """A PEFT adapter whose layer names alone do not tell (a text encoder's): its adapter_config.json does."""
    from safetensors.torch import load_file, save_file
    tensors = load_file(str(LORAS / "lm-adapter" / "adapter_model.safetensors"))
    save_file({k.replace("base_model.model.model.layers.0.self_attn", "text_encoder.text_model.encoder.layers.0"
                         ".self_attn"): v for k, v in tensors.items()}, tmp_path / "adapter_model.safetensors")
    assert lora.inspect(tmp_path / "adapter_model.safetensors").problem == ""
    shutil.copy(LORAS / "lm-adapter" / "adapter_config.json", tmp_path / "adapter_config.json")
    assert lora.inspect(tmp_path / "adapter_model.safetensors").problem == NOT_SD


@pytest.mark.parametrize("flag, option", [("dpm++2m-karras", "use_karras_sigmas"),
                                          ("euler-exponential", "use_exponential_sigmas")])
def test_karras_and_exponential_schedules_run_and_are_written_back(engine, flag, option):
    """Issue: "DPM++ 2M Karras" lost its Karras schedule; now a flag, through diffusers' own option."""
    base = flag.rpartition("-")[0]
    plain = render(engine, scheduler=base)
    assert not engine.pipe.scheduler.config.get(option)
    sched = render(engine, scheduler=flag)
    assert engine.pipe.scheduler.config[option] is True and sched.request.scheduler == flag
    assert not np.array_equal(pixels(sched), pixels(plain))   # another noise schedule, another picture
    again = render(engine, scheduler=base)                     # and the plain flag turns it off again
    assert not engine.pipe.scheduler.config.get(option) and np.array_equal(pixels(again), pixels(plain))
    name = {"dpm++2m-karras": "DPM++ 2M Karras", "euler-exponential": "Euler Exponential"}[flag]
    assert f"Sampler: {name}," in format_parameters(sched.request)


def test_seeds_above_32_bits_are_kept_and_draw_as_comfyui_does(engine):
    """ComfyUI's seeds are 64-bit. They are kept as they are (recorded, written back, +1 per picture, not folded
    onto 32 bits); torch's CPU generator, which ComfyUI draws its noise with too, seeds from their low 32 bits."""
    big = ImageRequest(prompt="a red circle on a blue background", steps=2, seed=2**40 + 3, count=2)
    out = engine.generate(big, lambda e: None, lambda: False)
    assert [r.seed for r in out] == [2**40 + 3, 2**40 + 4] and "Seed: 1099511627779," in format_parameters(out[0].request)
    small = engine.generate(ImageRequest(prompt=big.prompt, steps=2, seed=3), lambda e: None, lambda: False)[0]
    assert np.array_equal(pixels(out[0]), pixels(small))


@pytest.mark.skipif(importlib.util.find_spec("scipy") is not None, reason="scipy is installed: LMS works here")
def test_lms_without_scipy_says_so(engine):
    """InvokeAI's and NovelAI's k_lms maps to lms, which diffusers builds only with scipy (not a chatapp
    dependency): a message, and the next picture with another scheduler draws."""
    with pytest.raises(EngineError, match=r"The lms scheduler cannot be used here: it needs scipy"):
        render(engine, scheduler="lms")
    assert render(engine, scheduler="euler").request.scheduler == "euler"
