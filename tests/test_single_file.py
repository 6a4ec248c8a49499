"""Single-file checkpoints: kind detection from headers, the shipped configs and tokenizers, the LDM
names our test checkpoints use, and a real-size SD 1.5 (and, slow, SDXL) file loaded offline."""
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from chatapp.conversation import ImageRequest
from chatapp.engines import single_file as sf
from chatapp.engines import torch_runtime as rt
from chatapp.engines.base import EngineError
from chatapp.engines.diffusion import DiffusionImageEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import make_random_checkpoint as mrc  # noqa: E402

U = "model.diffusion_model."


def write(path: Path, shapes: dict, metadata: dict | None = None, real: dict | None = None) -> Path:
    """A small .safetensors file: zero-element stand-ins keep each name's telling dimension."""
    import torch
    from safetensors.torch import save_file
    tensors = {k: torch.empty(s) for k, s in shapes.items()}
    tensors.update(real or {})
    save_file(tensors, str(path), metadata=metadata)
    return path


def sd_shapes(ctx: int, in_channels: int = 4) -> dict:
    return {U + "input_blocks.0.0.weight": (0, in_channels, 3, 3),
            U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (0, ctx),
            "first_stage_model.decoder.conv_in.weight": (0, 4, 3, 3)}


def sdxl_shapes(in_channels: int = 4) -> dict:
    return dict(sd_shapes(2048, in_channels), **{
        "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": (0, 768),
        "conditioner.embedders.1.model.positional_embedding": (0, 1280)})


def probe(std: float) -> dict:
    import torch
    values = torch.linspace(-1, 1, 1280)
    return {sf.V_PRED_PROBE: values / values.std(unbiased=False) * std}


@pytest.mark.parametrize("name, shapes, meta, real, config, family, prediction, turbo", [
    ("v1-5.safetensors", sd_shapes(768), None, None, "sd1", "sd1", "epsilon", False),
    ("v2-1_768.safetensors", sd_shapes(1024), None, probe(0.2), "sd2-v", "sd2", "v_prediction", False),
    ("v2-1_512.safetensors", sd_shapes(1024), None, probe(0.02), "sd2", "sd2", "epsilon", False),
    ("tagged.safetensors", sd_shapes(1024), {"modelspec.architecture": "stable-diffusion-v2-512"}, None,
     "sd2", "sd2", "epsilon", False),
    ("sd_turbo.safetensors", sd_shapes(1024), None, probe(0.2), "sd-turbo", "sd2", "epsilon", True),
    ("sdxl_base.safetensors", sdxl_shapes(), None, None, "sdxl", "sdxl", "epsilon", False),
    ("plain.safetensors", sdxl_shapes(), {"modelspec.title": "SDXL Turbo 1.0"}, None, "sdxl-turbo", "sdxl",
     "epsilon", True),
    ("SDXL-TURBO.safetensors", sdxl_shapes(), None, None, "sdxl-turbo", "sdxl", "epsilon", True),
])
def test_kind_from_header(tmp_path, name, shapes, meta, real, config, family, prediction, turbo):
    kind = sf.detect(write(tmp_path / name, shapes, meta, real))
    assert (kind.config, kind.family, kind.prediction, kind.turbo, kind.in_channels) == \
        (config, family, prediction, turbo, 4)
    assert kind.pipeline_class == ("StableDiffusionXLPipeline" if family == "sdxl" else "StableDiffusionPipeline")
    assert kind.dtype == "float32" and not kind.notes


def test_undecidable_sd2_is_taken_as_768_v_and_says_so(tmp_path):
    kind = sf.detect(write(tmp_path / "anon.safetensors", sd_shapes(1024)))
    assert kind.config == "sd2-v" and kind.prediction == "v_prediction"
    assert "assumed v-prediction" in kind.notes[0]


def test_v_pred_marker_and_inpainting_channels(tmp_path):
    import torch
    xl_v = sf.detect(write(tmp_path / "xl_v.safetensors", sdxl_shapes(), real={"v_pred": torch.zeros(0)}))
    assert xl_v.family == "sdxl" and xl_v.prediction == "v_prediction"
    for shapes, family in ((sd_shapes(768, 9), "sd1"), (sd_shapes(1024, 9), "sd2"), (sdxl_shapes(9), "sdxl")):
        kind = sf.detect(write(tmp_path / f"{family}-inpainting.safetensors", shapes))
        assert kind.family == family and kind.in_channels == 9 and kind.inpainting
        assert kind.prediction == "epsilon" and "inpainting" in kind.label


def test_stored_dtype_is_reported(tmp_path):
    import torch
    from safetensors.torch import save_file
    for dtype in ("float16", "bfloat16"):
        tensors = {k: torch.empty(s, dtype=getattr(torch, dtype)) for k, s in sd_shapes(768).items()}
        save_file(tensors, str(tmp_path / f"{dtype}.safetensors"))
        kind = sf.detect(tmp_path / f"{dtype}.safetensors")
        assert kind.dtype == dtype and kind.label == f"Stable Diffusion 1.x, {dtype}"


def test_unknown_kinds_name_what_was_found(tmp_path):
    lora = {f"lora_unet_down_blocks_0_attentions_0_proj_in.lora_{d}.weight": (0, 4) for d in ("up", "down")}
    with pytest.raises(EngineError) as err:
        sf.detect(write(tmp_path / "style.safetensors", lora))
    msg = str(err.value)
    assert "found 2 tensors; no UNet 'model.diffusion_model.*'" in msg and "a LoRA" in msg
    assert "'lora_unet_down_blocks_0_attentions_0_proj_in.*' (2)" in msg
    many = {f"blocks.{i}.weight": (0,) for i in range(1132)}
    with pytest.raises(EngineError, match=r"found 1,132 tensors; no UNet .*'blocks\.\*' \(1,132\)"):
        sf.detect(write(tmp_path / "other.safetensors", many))
    refiner = dict(sd_shapes(1280), **{"conditioner.embedders.0.model.text_projection": (0, 1280)})
    with pytest.raises(EngineError, match="SDXL refiner"):
        sf.detect(write(tmp_path / "refiner.safetensors", refiner))
    with pytest.raises(EngineError, match="cross-attention width is 512"):
        sf.detect(write(tmp_path / "odd.safetensors", sd_shapes(512)))
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(EngineError, match="not a readable .safetensors file"):
        sf.detect(tmp_path / "junk.safetensors")
    # Through the engine too: named before any weight is read, no library call made.
    with pytest.raises(EngineError, match="a LoRA"):
        DiffusionImageEngine(tmp_path / "style.safetensors").load()


@pytest.mark.parametrize("config", ["sd1", "sd2", "sd2-v", "sdxl", "sd-turbo", "sdxl-turbo"])
def test_shipped_configs_and_tokenizers(config):
    from diffusers import DiffusionPipeline, SchedulerMixin, UNet2DConditionModel
    from transformers import CLIPTokenizer
    xl = config.startswith("sdxl")
    kind = sf.CheckpointKind("sdxl" if xl else "sd1", config, 9, "epsilon", False, "float16", 0)
    with sf.prepared_config(kind) as folder:
        index = DiffusionPipeline.load_config(folder)
        assert index["_class_name"] == kind.pipeline_class
        assert UNet2DConditionModel.load_config(folder / "unet")["in_channels"] == 9
        import diffusers
        sched = getattr(diffusers, index["scheduler"][1]).from_pretrained(folder / "scheduler")
        assert isinstance(sched, SchedulerMixin) and sched.config.prediction_type == "epsilon"
        for n, sub in enumerate(["tokenizer", "tokenizer_2"] if xl else ["tokenizer"]):
            tok = CLIPTokenizer.from_pretrained(folder / sub, local_files_only=True)
            assert len(tok) == 49408 and (tok.bos_token_id, tok.eos_token_id) == (49406, 49407)
            # OpenCLIP's encoders (SD 2.x, SDXL's second) pad with "!" (id 0); CLIP-L with EOS.
            assert tok.pad_token_id == (0 if (n == 1 or config.startswith("sd2") or config == "sd-turbo") else 49407)
            assert tok.model_max_length == 77
            assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
            assert tok("A Red CIRCLE, on blue").input_ids == [49406, 320, 736, 7117, 267, 525, 1746, 49407]
            assert tok.decode(tok("a photo of a cat").input_ids[1:-1]) == "a photo of a cat"
    assert not folder.exists()
    defaults = sf.defaults(kind)
    assert (defaults["steps"], defaults["cfg"]) == ((1, 0.0) if "turbo" in config else (25, 7.0))


@pytest.mark.parametrize("config", ["sd1", "sdxl"])
def test_ldm_names_are_what_the_diffusers_loader_reads(config):
    """Our diffusers -> LDM renaming, fed back through diffusers' own converters (on the meta device:
    names and shapes only), gives back every parameter of the models with the same shape."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders import single_file_utils as su
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    shapes = mrc.ldm_shapes(config)
    ckpt = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    assert su.infer_diffusers_model_type(ckpt) == {"sd1": "v1", "sdxl": "xl_base"}[config]
    header = {k: {"dtype": "F16", "shape": list(s)} for k, s in shapes.items()}
    assert sf.detect(Path(f"{config}.safetensors"), header).config == config

    def same(converted, model_cls, cfg):
        want = mrc._meta_shapes(model_cls, cfg)
        got = {k.removeprefix("text_model.") if "text_model." not in next(iter(want)) else k: tuple(v.shape)
               for k, v in converted.items()}
        assert got == {k: v for k, v in want.items() if not k.endswith("position_ids")}

    same(su.convert_ldm_unet_checkpoint(ckpt, mrc._config(config, "unet")), UNet2DConditionModel,
         mrc._config(config, "unet"))
    same(su.convert_ldm_vae_checkpoint(ckpt, mrc._config(config, "vae")), AutoencoderKL, mrc._config(config, "vae"))
    te = CLIPTextConfig(**mrc._config(config, "text_encoder"))
    prefix = "conditioner.embedders.0.transformer." if config == "sdxl" else None
    same(su.convert_ldm_clip_checkpoint(ckpt, prefix), CLIPTextModel, te)
    if config == "sdxl":
        te2 = CLIPTextConfig(**mrc._config(config, "text_encoder_2"))
        with torch.device("meta"):
            model = CLIPTextModelWithProjection(te2)
        same(su.convert_open_clip_checkpoint(model, ckpt, "conditioner.embedders.1.model."),
             CLIPTextModelWithProjection, te2)


def block_the_hub(monkeypatch):
    """Beside conftest's socket guard (checked here): diffusers' config download fails the test."""
    import diffusers.loaders.single_file as loader

    def no_hub(*args, **kwargs):
        raise AssertionError(f"a model hub was asked for {args} {kwargs}")
    monkeypatch.setattr(loader, "snapshot_download", no_hub)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Exception, match="connect"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)


def render_offline(path: Path, monkeypatch, config: str, size: int, precision: str = "auto"):
    """Load a single file through the app's engine with every way out blocked, then draw one step."""
    block_the_hub(monkeypatch)
    engine = DiffusionImageEngine(path, precision=precision)
    info = engine.load()
    assert engine.kind.config == config and info.details["kind"] == engine.kind.label
    assert engine.kind.dtype == "float16" and engine.pipe.unet.config.in_channels == engine.kind.in_channels == 4
    events = []
    out = engine.generate(ImageRequest(prompt="a red circle on a blue background", steps=1, seed=1, width=size, height=size,
                                       scheduler="euler"), events.append, lambda: False)
    assert len(out) == 1 and out[0].image.size == (size, size)
    assert [e.phase for e in events] == ["step", "decoding", "done"]
    return engine, info


@pytest.mark.real
@pytest.mark.timeout(900)   # the first run builds the 2.1 GB file (~1 min here) before loading it
def test_sd15_sized_random_checkpoint_loads_offline_and_draws_in_the_app(qtbot, tmp_path, monkeypatch):
    """The file set as Settings' image model (what --image-model does), loaded by the app's own
    engine factory on the image worker, with the network and the hub blocked; one step at 64x64."""
    from PIL import Image
    from PySide6.QtCore import Qt
    from chatapp.app import build
    from chatapp.conversation import DONE
    from chatapp.engines.fake import FakeChatEngine
    from chatapp.settings import Settings, resolve_paths
    from .conftest import close_app
    path = mrc.build("sd15", "float16")
    assert 1.9e9 < path.stat().st_size < 2.3e9 and not list(path.parent.glob("*.part*"))
    block_the_hub(monkeypatch)
    # bfloat16 where the CPU has it: half float32's memory (peak ~4.6 GB instead of ~6.9 GB here).
    settings = Settings(image_model=str(path), image_precision="bfloat16" if rt.cpu_bf16_supported() else "auto")
    parts = build(resolve_paths(str(tmp_path / "data")), settings, llm_engine_factory=FakeChatEngine)
    qtbot.addWidget(parts.window)
    parts.window.show()
    qtbot.keyClicks(parts.window.composer.editor, "/image a red circle --size 64x64 --steps 1 --scheduler euler")
    qtbot.keyClick(parts.window.composer.editor, Qt.Key.Key_Return)
    pictures = [m for m in parts.storage.messages(parts.session.current.id) if m.kind == "image"]
    qtbot.waitUntil(lambda: parts.storage.message(pictures[0].id).status == DONE, timeout=600_000)
    engine = parts.session.images.worker.engine
    assert engine.kind.config == "sd1" and engine.kind.dtype == "float16" and engine.kind.in_channels == 4
    assert type(engine.pipe).__name__ == "StableDiffusionPipeline" and engine.pipe.unet.config.in_channels == 4
    assert parts.session.images.defaults["kind"] == "Stable Diffusion 1.x, float16"
    assert sf.family_of(engine.pipe) == "sd1"
    assert parts.session.images.defaults["parameters"] > 1_000_000_000
    assert Image.open(parts.storage.message(pictures[0].id).image_path).size == (64, 64)
    close_app(parts)


@pytest.mark.slow
@pytest.mark.timeout(1800)   # the first run builds the 6.9 GB file (~3 min here)
def test_sdxl_sized_random_checkpoint_loads_offline_and_draws(monkeypatch):
    path = mrc.build("sdxl", "float16")
    assert 6.5e9 < path.stat().st_size < 7.5e9
    # bfloat16 where the CPU has it: SDXL's 3.5 B parameters in float32 would take 14 GB.
    engine, info = render_offline(path, monkeypatch, "sdxl", 128, "bfloat16" if rt.cpu_bf16_supported() else "auto")
    assert engine.pipe.__class__.__name__ == "StableDiffusionXLPipeline" and info.details["width"] == 1024
    assert sf.family_of(engine.pipe) == "sdxl"


def test_interrupted_build_is_not_reused(tmp_path, monkeypatch):
    def broken(path, *args):
        path.write_bytes(b"half a file")
        raise KeyboardInterrupt
    monkeypatch.setattr(mrc, "write_streaming", broken)
    monkeypatch.setattr(mrc, "ldm_shapes", lambda kind: {})
    with pytest.raises(KeyboardInterrupt):
        mrc.build("sd15", "float16", tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    shapes = {"a.weight": (2, 3), "b.bias": (3,), "c.weight": (4,)}
    small = tmp_path / "small.safetensors"
    mrc.write_streaming(small, shapes, "float16", {"format": "pt"})
    from safetensors.torch import load_file
    loaded = load_file(str(small))
    assert {k: tuple(v.shape) for k, v in loaded.items()} == shapes
    assert loaded["b.bias"].abs().sum() == 0 and (loaded["c.weight"] == 1).all()
    assert json.loads(json.dumps(sf.read_header(small)[1])) == {"format": "pt"}
    assert os.path.getsize(small) % 2 == 0


def test_family_of_a_loaded_pipeline():
    from types import SimpleNamespace as NS

    def pipe(width, second=None):
        return NS(unet=NS(config=NS(cross_attention_dim=width)), text_encoder_2=second)
    assert [sf.family_of(pipe(768)), sf.family_of(pipe(1024)), sf.family_of(pipe(2048, object()))] == \
        ["sd1", "sd2", "sdxl"]
    assert sf.family_of(pipe(32)) is None and sf.family_of(object()) is None   # e.g. tiny-shapes


def test_model_search_lists_checkpoints_and_skips_other_safetensors(tmp_path):
    from chatapp.models.entry import IMAGE
    from chatapp.models.scan import Source, scan
    write(tmp_path / "dreamshaper_8.safetensors", sd_shapes(768))
    write(tmp_path / "sdxl_turbo.safetensors", sdxl_shapes())
    write(tmp_path / "refiner.safetensors", dict(sd_shapes(1280), **{"conditioner.embedders.0.model.x": (0,)}))
    write(tmp_path / "style_lora.safetensors", {"lora_unet_x.lora_up.weight": (0, 4)})
    write(tmp_path / "model-00001-of-00002.safetensors", {"model.layers.0.mlp.up_proj.weight": (0, 8)})
    entries = {e.name: e for e in scan([Source("~/models", tmp_path)])}
    assert sorted(entries) == ["dreamshaper_8", "refiner", "sdxl_turbo"]
    assert all(e.kind == IMAGE and e.path.endswith(".safetensors") for e in entries.values())
    assert entries["dreamshaper_8"].architecture == "Stable Diffusion 1.x" and entries["dreamshaper_8"].usable
    assert entries["sdxl_turbo"].architecture == "Stable Diffusion XL Turbo"
    assert not entries["refiner"].usable and "SDXL refiner" in entries["refiner"].reason
