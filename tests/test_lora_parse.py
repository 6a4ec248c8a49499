"""LoRAs without a model: --lora and <lora:..> parsing, the PNG recipe, safetensors headers, /loras."""
import json
import shutil
import struct

import pytest

from chatapp.commands import CommandError, LorasRequest, help_text, parse_input
from chatapp.conversation import ImageRequest
from chatapp.engines.lora import BUILTIN_DIR, LoraError, file_hash, inspect, listing, lora_folders
from chatapp.recipes.loras import split_tags
from chatapp.recipes.a1111 import format_parameters, parse_parameters
from chatapp.recipes.png import recipe_command, save_png

WHITE = BUILTIN_DIR / "white-background.safetensors"
WHITE_KOHYA = BUILTIN_DIR / "white-background-kohya.safetensors"


def write_safetensors(path, tensors: dict, metadata=None):
    """A .safetensors file from {name: shape} (zero data): only the header matters to inspect()."""
    from safetensors.numpy import save_file
    import numpy as np
    save_file({k: np.zeros(s, dtype=np.float16) for k, s in tensors.items()}, str(path), metadata=metadata)
    return path


def sd15_lora(path):
    """SD 1.5-shaped kohya LoRA: its cross-attention reads 768-wide text (one layer is enough)."""
    base = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    return write_safetensors(path, {f"{base}.lora_down.weight": (4, 768), f"{base}.lora_up.weight": (320, 4),
                                    f"{base}.alpha": ()})


# --- parser --------------------------------------------------------------------------------------

def test_lora_flag_repeatable_with_default_weight():
    req = parse_input("/image a red circle --lora white-background:0.8 --lora other --steps 5")
    assert req.loras == [("white-background", 0.8), ("other", 1.0)]
    assert req.prompt == "a red circle" and req.steps == 5


def test_a1111_tags_leave_the_prompt_and_become_loras():
    req = parse_input("/image a red circle, <lora:white-background:0.5> on a blue background <LORA:b>")
    assert req.prompt == "a red circle, on a blue background"
    assert req.loras == [("white-background", 0.5), ("b", 1.0)]
    assert split_tags("no tags here") == ("no tags here", [])


@pytest.mark.parametrize("text, words", [
    ("/image a circle --lora x:3", "between -2 and 2"),
    ("/image a circle <lora:x:-2.5>", "between -2 and 2"),
    ("/image a circle --lora x:lots", "must be a number"),
    ("/image a circle <lora:x:0.8:0.5>", "one weight per LoRA"),
    ("/image a circle --lora ../../etc/x", "not a LoRA name"),
    ("/image a circle <lora::1>", "not a LoRA name"),
    ("/image <lora:x:1>", "needs a description besides its LoRAs"),
    ("/image a circle " + " ".join(f"--lora l{i}" for i in range(9)), "At most 8 LoRAs"),
])
def test_bad_lora_input_is_a_command_error(text, words):
    with pytest.raises(CommandError, match=words):
        parse_input(text)


def test_command_round_trips_and_help_mentions_loras():
    req = parse_input("/image a red circle --seed 3 --lora 'my lora:-0.5' <lora:w:2>")
    assert parse_input(req.command()).loras == req.loras == [("w", 2.0), ("my lora", -0.5)]
    assert "--lora NAME[:WEIGHT]" in help_text() and "/loras" in help_text()
    assert isinstance(parse_input("/loras"), LorasRequest)


# --- the PNG recipe ------------------------------------------------------------------------------

def test_recipe_records_loras_as_a1111_does():
    req = ImageRequest(prompt="a red circle", steps=20, cfg=3.0, seed=7, width=32, height=32, scheduler="dpm++2m",
                       loras=[("white-background", 0.8, "0123456789ab"), ("odd:name, x", 1.0, "ba9876543210")])
    text = format_parameters(req, "tiny-shapes", "abc")
    first, settings = text.split("\n")
    assert first == "a red circle <lora:white-background:0.8> <lora:odd:name, x:1>"
    # A1111: names without ':' or ',', quoted because the value has them.
    assert settings.endswith('Lora hashes: "white-background: 0123456789ab, oddname x: ba9876543210"')
    back = parse_parameters(text)
    assert back.prompt == "a red circle" and back.seed == 7 and back.loras[0] == ("white-background", 0.8)


def test_png_round_trip_gives_the_lora_command(tmp_path):
    from PIL import Image
    from chatapp.engines.base import ImageResult
    req = ImageRequest(prompt="a red circle on a blue background", steps=20, cfg=3.0, seed=5, width=32, height=32,
                       scheduler="dpm++2m", loras=[("white-background", 0.75, "feedfacecafe")])
    saved = save_png(ImageResult(Image.new("RGB", (32, 32)), 5, req), tmp_path, "tiny-shapes", "abc")
    command = recipe_command(saved.path)
    assert "--lora white-background:0.75" in command
    again = parse_input(command)
    assert again.loras == [("white-background", 0.75)] and again.prompt == req.prompt and again.seed == 5


def test_other_tools_lora_syntax_still_gives_a_usable_command():
    text = ("masterpiece, <lora:detail:0.7:0.3>, <lora:huge:5>, <hypernet:h:1>\n"
            'Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Lora hashes: "detail: aa, huge: bb"')
    req = parse_parameters(text)
    assert req.loras == [("detail", 0.7), ("huge", 2.0)]   # extra fields dropped, weight clamped
    assert "<hypernet:h:1>" in req.prompt
    assert parse_input(req.command()).loras == req.loras


# --- headers -------------------------------------------------------------------------------------

def test_shipped_loras_are_small_and_read_from_the_header():
    peft, kohya = inspect(WHITE), inspect(WHITE_KOHYA)
    assert (peft.format, kohya.format) == ("diffusers", "kohya")
    assert peft.kind == kohya.kind == "tiny-shapes" and peft.context == 128
    assert peft.layers == kohya.layers == 56 and not peft.problem
    assert WHITE.stat().st_size < 300_000 and WHITE_KOHYA.stat().st_size < 300_000
    assert len(file_hash(WHITE)) == 12 and file_hash(WHITE) != file_hash(WHITE_KOHYA)


def test_base_model_kinds_from_shapes(tmp_path):
    assert inspect(sd15_lora(tmp_path / "sd15.safetensors")).kind == "SD 1.x"
    xl = write_safetensors(tmp_path / "xl.safetensors", {
        "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": (4, 1280),
        "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": (1280, 4)})
    assert inspect(xl).kind == "SDXL"
    sd2 = write_safetensors(tmp_path / "sd2.safetensors", {
        "unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": (8, 1024),
        "unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight": (1280, 8)})
    assert (inspect(sd2).kind, inspect(sd2).format) == ("SD 2.x", "diffusers")
    loha = write_safetensors(tmp_path / "loha.safetensors", {"lora_unet_x.hada_w1_a": (4, 4)})
    assert "LyCORIS" in inspect(loha).problem
    other = write_safetensors(tmp_path / "model.safetensors", {"model.diffusion_model.input_blocks.0.0.weight": (4, 4)})
    assert "no LoRA layers" in inspect(other).problem


@pytest.mark.parametrize("content", [b"", b"\x05\x00", struct.pack("<Q", 10**12) + b"{}",
                                     struct.pack("<Q", 6) + b"{nope}", struct.pack("<Q", 2) + b"[]"])
def test_damaged_files_get_a_clear_error(tmp_path, content):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    with pytest.raises(LoraError, match="bad.safetensors is not a readable .safetensors file"):
        inspect(bad)


def test_loras_listing(tmp_path):
    folder = tmp_path / "loras"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(WHITE, folder / "white-background.safetensors")
    sd15_lora(folder / "sub" / "portrait.safetensors")
    (folder / "broken.safetensors").write_bytes(b"not a safetensors file")
    (folder / "notes.txt").write_text("ignored")
    text = listing(lora_folders(str(folder), tmp_path))
    assert f"**{folder}**" in text and "**Shipped with chatapp**" in text
    assert "- `white-background` (92 KB): tiny-shapes, diffusers format" in text
    assert "- `portrait` (" in text and "SD 1.x, kohya format" in text
    assert "`broken`" in text and "not a readable" in text and "notes" not in text
    assert "- `white-background-kohya` (" in text   # the shipped ones are always listed
    empty = listing(lora_folders("", tmp_path / "data"))
    assert "no LoRAs yet" in empty and str(tmp_path / "data" / "loras") in empty


def test_settings_has_a_lora_folder(tmp_path):
    from chatapp.settings import Settings, load_settings
    (tmp_path / "s.json").write_text(json.dumps({"lora_folder": "/somewhere/loras"}))
    assert load_settings(tmp_path / "s.json")[0].lora_folder == "/somewhere/loras"
    assert Settings().lora_folder == ""
    assert lora_folders("", tmp_path)[0] == tmp_path / "loras"


def test_a_fifo_never_blocks(tmp_path):
    import os
    os.mkfifo(tmp_path / "pipe.safetensors")
    with pytest.raises(LoraError, match="pipe.safetensors is not a regular file"):
        inspect(tmp_path / "pipe.safetensors")


def test_a_big_folder_lists_the_first_ones(tmp_path, monkeypatch):
    import chatapp.engines.lora as lora
    monkeypatch.setattr(lora, "MAX_LISTED", 3)
    for i in range(5):
        shutil.copy(WHITE, tmp_path / f"w{i}.safetensors")
    text = listing([tmp_path])
    assert "(the first 3 of 5)" in text and "`w2`" in text and "`w3`" not in text


def sd15_checkpoint(path):
    """The header of an SD 1.x single-file checkpoint (zero-sized tensors): enough to tell its kind."""
    from .test_single_file import sd_shapes
    return write_safetensors(path, sd_shapes(768))


def test_the_names_offered_are_those_made_for_the_image_models_kind(tmp_path):
    """Told from the model's files (a diffusers folder's UNet config, a checkpoint's header), never loaded."""
    from chatapp.engines.defaults import SHAPES_IMAGE_MODEL
    from chatapp.engines.lora import model_context, names
    folder = tmp_path / "loras"
    folder.mkdir()
    shutil.copy(WHITE, folder / "ink-lines.safetensors")   # a tiny-shapes LoRA
    sd15_lora(folder / "portrait.safetensors")
    (folder / "broken.safetensors").write_bytes(b"not a safetensors file")
    folders = [folder, BUILTIN_DIR]
    tiny = SHAPES_IMAGE_MODEL
    assert model_context(tiny) == (128, False)
    assert names(folders, tiny) == ["ink-lines", "white-background-kohya", "white-background"]
    checkpoint = sd15_checkpoint(tmp_path / "sd15.safetensors")
    diffusers_folder = tmp_path / "sd15-folder"
    (diffusers_folder / "unet").mkdir(parents=True)
    (diffusers_folder / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 768}))
    for model in (checkpoint, diffusers_folder):
        assert model_context(model) == (768, False) and names(folders, model) == ["portrait"]
    unknown = tmp_path / "model.bin"
    unknown.write_bytes(b"?")
    everything = ["broken", "ink-lines", "portrait", "white-background-kohya", "white-background"]
    assert model_context(unknown) is None and names(folders, unknown) == names(folders) == everything


def test_a_model_with_the_same_text_width_but_other_block_widths_is_not_offered_tiny_shapes_loras(tmp_path):
    """The everyday-things model reads 128-wide text like tiny-shapes, but its UNet blocks are wider: a
    tiny-shapes LoRA would fail at render, so it is not offered (told from the folder's config alone)."""
    from chatapp.engines.lora import model_channels, names
    wider = tmp_path / "wider"
    (wider / "unet").mkdir(parents=True)
    (wider / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 128,
                                                             "block_out_channels": [64, 96, 128]}))
    same = tmp_path / "same"
    (same / "unet").mkdir(parents=True)
    (same / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 128,
                                                            "block_out_channels": [32, 64, 96]}))
    assert model_channels(wider) == (64, 96, 128)
    assert names([BUILTIN_DIR], wider) == []
    assert names([BUILTIN_DIR], same) == ["white-background-kohya", "white-background"]
