"""LoRAs on the real embedded tiny-shapes model: the shipped white-background LoRA works in both formats,
and a missing, incompatible or damaged LoRA gives a message and no picture, with nothing left applied."""
import shutil
import struct

import numpy as np
import pytest

from chatapp.commands import parse_input
from chatapp.conversation import ImageRequest
from chatapp.engines.base import EngineError
from chatapp.engines.defaults import SHAPES_IMAGE_MODEL
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.engines.lora import BUILTIN_DIR, file_hash
from chatapp.recipes.png import read_parameters, recipe_command, save_png

from .test_lora_parse import sd15_lora

pytestmark = pytest.mark.real
PROMPTS = 40          # held-out prompts (never in the base model's or the LoRA's training captions)


def white_border(image) -> bool:
    """The picture's background is white: its 1-pixel border averages over 230 on every channel."""
    a = np.asarray(image.convert("RGB")).astype(float)
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    return bool((border.mean(axis=0) > 230).all())


def held_out_prompts():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
    import shapes
    scenes = [s for s in shapes.held_out_scenes() if "white" not in (s.fg, s.bg)]
    return [shapes.eval_caption(s) for s in scenes[:PROMPTS]]


@pytest.fixture(scope="module")
def engine():
    e = DiffusionImageEngine(SHAPES_IMAGE_MODEL, threads=1)
    e.load()
    e.lora_dirs = [BUILTIN_DIR]
    return e


def render(engine, prompt="a red circle on a blue background", loras=(), seed=1):
    out = engine.generate(ImageRequest(prompt=prompt, seed=seed, loras=list(loras)), lambda e: None, lambda: False)
    return out[0]


def pixels(result):
    return np.asarray(result.image).astype(int)


def test_white_background_lora_works_on_held_out_prompts(engine):
    prompts = held_out_prompts()
    on = sum(white_border(render(engine, p, [("white-background", 1.0)], seed=i).image) for i, p in enumerate(prompts))
    off = sum(white_border(render(engine, p, [("white-background", 0.0)], seed=i).image) for i, p in enumerate(prompts))
    print(f"white background: weight 1.0 {on}/{len(prompts)}, weight 0.0 {off}/{len(prompts)}")
    assert on >= 0.9 * len(prompts)
    assert off <= 0.1 * len(prompts)


def test_both_formats_give_the_same_picture_and_leave_no_trace(engine):
    base = pixels(render(engine))
    peft = render(engine, loras=[("white-background", 1.0)])
    kohya = render(engine, loras=[("white-background-kohya", 1.0)])
    assert white_border(peft.image) and not white_border(render(engine).image)
    assert np.abs(pixels(peft) - pixels(kohya)).max() <= 2
    assert np.abs(pixels(peft) - base).max() > 100
    assert peft.request.loras == [("white-background", 1.0, file_hash(BUILTIN_DIR / "white-background.safetensors"))]
    # The next render without --lora is the model's own picture, bit for bit.
    assert np.array_equal(pixels(render(engine)), base) and not engine.loras.loaded
    # The weight reaches the model: 0.5 is another picture than 1.0, and 0.0 is (within rounding) none at all.
    assert not np.array_equal(pixels(render(engine, loras=[("white-background", 0.5)])), pixels(peft))
    assert np.abs(pixels(render(engine, loras=[("white-background", 0.0)])) - base).max() <= 1


def test_missing_lora_names_it_and_draws_nothing(engine):
    base = pixels(render(engine))
    with pytest.raises(EngineError, match="No LoRA named 'white-backgrund'.*Did you mean white-background"):
        render(engine, loras=[("white-background", 1.0), ("white-backgrund", 1.0)])
    assert not engine.loras.loaded and np.array_equal(pixels(render(engine)), base)


def test_lora_for_another_base_model_is_refused_before_anything_applies(engine, tmp_path):
    sd15_lora(tmp_path / "portrait.safetensors")
    engine.lora_dirs = [tmp_path, BUILTIN_DIR]
    try:
        render(engine, loras=[("white-background", 1.0)])   # loaded and cached ...
        assert engine.loras.loaded
        with pytest.raises(EngineError, match="LoRA portrait was made for SD 1.x models, but tiny-shapes is a "
                                              "tiny-shapes model"):
            render(engine, loras=[("white-background", 1.0), ("portrait", 0.8)])
        assert engine.loras.loaded   # ... and untouched: the check came before any change
        assert white_border(render(engine, loras=[("white-background", 1.0)]).image)
    finally:
        engine.lora_dirs = [BUILTIN_DIR]


def test_damaged_lora_unloads_what_was_loaded(engine, tmp_path):
    base = pixels(render(engine))
    # A sound header whose tensor data is cut short: only loading finds out.
    data = (BUILTIN_DIR / "white-background.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    (tmp_path / "cut.safetensors").write_bytes(data[:8 + length + 100])
    shutil.copy(BUILTIN_DIR / "white-background-kohya.safetensors", tmp_path / "good.safetensors")
    engine.lora_dirs = [tmp_path]
    try:
        with pytest.raises(EngineError, match="LoRA cut could not be applied to tiny-shapes"):
            render(engine, loras=[("good", 1.0), ("cut", 1.0)])
        assert not engine.loras.loaded
        assert np.array_equal(pixels(render(engine)), base)
    finally:
        engine.lora_dirs = [BUILTIN_DIR]


def test_recipe_round_trip_through_a_rendered_png(engine, tmp_path):
    request = parse_input("/image a red circle on a blue background <lora:white-background:0.9> --seed 4")
    result = engine.generate(request, lambda e: None, lambda: False)[0]
    saved = save_png(result, tmp_path, engine.model_name, engine.model_hash)
    text = read_parameters(saved.path)
    digest = file_hash(BUILTIN_DIR / "white-background.safetensors")
    assert text.startswith("a red circle on a blue background <lora:white-background:0.9>\n")
    assert f'Lora hashes: "white-background: {digest}"' in text
    again = parse_input(recipe_command(saved.path))
    assert again.loras == [("white-background", 0.9)] and again.seed == 4
    redo = engine.generate(again, lambda e: None, lambda: False)[0]
    assert np.array_equal(pixels(redo), pixels(result))


def write_both_formats(engine, folder):
    """A random LoRA over the UNet's attention AND the text encoder, written in kohya format (rank 4, alpha 8:
    scale 2) and in PEFT format (no metadata, so alpha = rank: the scale is folded into lora_B)."""
    import torch
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(0)
    kohya, peft = {}, {}
    parts = [("unet", "lora_unet_", engine.pipe.unet, ("to_q", "to_k", "to_v", "to_out.0")),
             ("text_encoder", "lora_te_", engine.pipe.text_encoder, ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"))]
    for prefix, kprefix, model, leaves in parts:
        for name, module in model.named_modules():
            if not name.endswith(leaves) or not isinstance(module, torch.nn.Linear):
                continue
            down = torch.randn(4, module.in_features, generator=g) * 0.3
            up = torch.randn(module.out_features, 4, generator=g) * 0.3
            key = kprefix + name.replace(".", "_")
            kohya.update({f"{key}.lora_down.weight": down, f"{key}.lora_up.weight": up, f"{key}.alpha": torch.tensor(8.0)})
            peft.update({f"{prefix}.{name}.lora_A.weight": down, f"{prefix}.{name}.lora_B.weight": up * 2})
    save_file(kohya, str(folder / "random-kohya.safetensors"))
    save_file(peft, str(folder / "random-peft.safetensors"))


def test_text_encoder_layers_and_kohya_alpha_load_in_both_formats(engine, tmp_path):
    write_both_formats(engine, tmp_path)
    engine.lora_dirs = [tmp_path]
    try:
        base = pixels(render(engine))
        kohya = pixels(render(engine, loras=[("random-kohya", 1.0)]))
        assert any("lora_A" in n for n, _ in engine.pipe.text_encoder.named_modules())   # the text encoder got its part
        peft = pixels(render(engine, loras=[("random-peft", 1.0)]))
        assert np.abs(kohya - base).max() > 30 and np.abs(kohya - peft).max() <= 2
        assert np.array_equal(pixels(render(engine)), base)
        assert not any("lora_A" in n for n, _ in engine.pipe.text_encoder.named_modules())
    finally:
        engine.lora_dirs = [BUILTIN_DIR]

