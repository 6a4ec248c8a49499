"""Single-file Stable Diffusion checkpoints: tell the kind from the safetensors header, load it offline with a shipped config."""
from __future__ import annotations

import collections
import json
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import safetensors_header
from .base import EngineError
from .defaults import RESOURCES

CONFIGS = RESOURCES / "sd_configs"
UNET = "model.diffusion_model."
CONV_IN = UNET + "input_blocks.0.0.weight"
# ComfyUI's test for SD 2.x v-prediction: this LayerNorm's bias is spread wide only in v-models.
V_PRED_PROBE = UNET + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
V_PRED_STD = 0.09
DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64",
          "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}
FAMILY_NAMES = {"sd1": "Stable Diffusion 1.x", "sd2": "Stable Diffusion 2.x", "sdxl": "Stable Diffusion XL"}
# What other files' tensor names look like, to say what was found instead of a checkpoint.
LOOKS_LIKE = [("lora_unet_", "a LoRA (put it in the LoRA folder instead)"),
              ("lora_te", "a LoRA (put it in the LoRA folder instead)"),
              ("down_blocks.", "a diffusers-format UNet alone (choose the model's whole folder instead)"),
              ("encoder.down.", "a VAE alone"), ("double_blocks.", "a FLUX model"),
              ("joint_blocks.", "a Stable Diffusion 3 model"), ("model.diffusion_model.joint_blocks.", "a Stable Diffusion 3 model"),
              ("model.diffusion_model.double_blocks.", "a FLUX model"), ("control_model.", "a ControlNet"),
              ("string_to_param", "a textual-inversion embedding")]


@dataclass(frozen=True)
class CheckpointKind:
    """What a single-file checkpoint is, from its tensor names and shapes."""
    family: str                # "sd1" | "sd2" | "sdxl"
    config: str                # folder under resources/sd_configs/: sd1, sd2, sd2-v, sdxl, sd-turbo, sdxl-turbo
    in_channels: int           # the UNet's input conv: 4 (text-to-image), 9 (inpainting: latents + mask + masked image)
    prediction: str            # "epsilon" | "v_prediction"
    turbo: bool
    dtype: str                 # the UNet weights' stored dtype, e.g. "float16"
    tensors: int
    notes: tuple[str, ...] = field(default=())

    @property
    def pipeline_class(self) -> str:
        return "StableDiffusionXLPipeline" if self.family == "sdxl" else "StableDiffusionPipeline"

    @property
    def inpainting(self) -> bool:
        return self.in_channels == 9

    @property
    def short_label(self) -> str:
        """Family and variant only, e.g. "Stable Diffusion XL Turbo" (what a model list shows)."""
        extras = " ".join(e for e in ("Turbo" if self.turbo else "", "inpainting" if self.inpainting else "") if e)
        return f"{FAMILY_NAMES[self.family]}{' ' + extras if extras else ''}"

    @property
    def label(self) -> str:
        """In words, e.g. "Stable Diffusion 2.x (768, v-prediction), float16"."""
        extras = [e for e in ("Turbo" if self.turbo else "", "inpainting" if self.inpainting else "",
                              "v-prediction" if self.prediction == "v_prediction" else "") if e]
        return f"{FAMILY_NAMES[self.family]}{' (' + ', '.join(extras) + ')' if extras else ''}, {self.dtype}"


def read_header(path: Path) -> tuple[dict, dict]:
    """(tensor name -> {"dtype", "shape", ...}, __metadata__) from a .safetensors header; no tensor is read."""
    try:
        header = safetensors_header.read_header(path)
    except (OSError, ValueError) as exc:
        raise EngineError(f"{path.name} is not a readable .safetensors file ({exc}).") from exc
    meta = header.pop("__metadata__", None) or {}
    return header, meta if isinstance(meta, dict) else {}


def _unknown(path: Path, header: dict) -> EngineError:
    names = list(header)
    found = next((what for prefix, what in LOOKS_LIKE if any(k.startswith(prefix) for k in names)), "")
    tops = collections.Counter(k.split(".")[0] for k in names).most_common(3)
    prefixes = ", ".join(f"'{p}.*' ({c:,})" for p, c in tops) or "nothing"
    return EngineError(f"{path.name} is not a Stable Diffusion checkpoint chatapp can load: found {len(names):,} "
                       f"tensors; no UNet 'model.diffusion_model.*' (the names start with {prefixes})"
                       + (f"; it looks like {found}." if found else ".")
                       + " chatapp reads single files of Stable Diffusion 1.x, 2.x, XL and Turbo.")


def _context_dim(header: dict) -> int:
    """The UNet's cross-attention width: 768 (SD 1.x, CLIP-L), 1024 (SD 2.x, OpenCLIP-H), 2048 (SDXL)."""
    for name, info in header.items():
        if name.startswith(UNET) and name.endswith("attn2.to_k.weight"):
            return int(info["shape"][-1])
    return 0


def _stored_dtype(header: dict) -> str:
    counts = collections.Counter(v.get("dtype") for k, v in header.items() if k.startswith(UNET))
    code = counts.most_common(1)[0][0] if counts else "F32"
    return DTYPES.get(code, str(code).lower())


def _probe_std(path: Path) -> float | None:
    """One 1,280-number tensor read for ComfyUI's v-prediction test; None where it cannot be read."""
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            return float(f.get_tensor(V_PRED_PROBE).float().std(unbiased=False))
    except Exception:
        return None


def detect(path: str | Path, header: dict | None = None, meta: dict | None = None, *,
           probe: bool = True) -> CheckpointKind:
    """The kind of a single-file checkpoint. Raises EngineError naming what was found for anything else.
    probe=False never reads a tensor (no torch import): an SD 2.x file without metadata is then assumed 768-v."""
    path = Path(path)
    if header is None:
        header, meta = read_header(path)
    meta = meta or {}
    unet_names = [k for k in header if k.startswith(UNET)]
    if not unet_names or CONV_IN not in header:
        raise _unknown(path, header)
    in_channels = int(header[CONV_IN]["shape"][1])
    ctx = _context_dim(header)
    arch = " ".join(str(meta.get(k, "")) for k in ("modelspec.architecture", "modelspec.title")).lower()
    turbo = "turbo" in arch or "turbo" in path.name.lower()
    notes: list[str] = []
    v_marked = "v_pred" in header or str(meta.get("modelspec.prediction_type", "")).lower() in ("v", "v_prediction")
    if ctx == 768:
        family, config = "sd1", "sd1"
    elif ctx == 1024:
        family = "sd2"
        if turbo:
            config = "sd-turbo"
        elif in_channels != 4:
            config = "sd2"   # SD 2 inpainting was trained from the 512 epsilon model
        elif v_marked or "768-v" in arch or "v-prediction" in arch:
            config = "sd2-v"
        elif "512" in arch:
            config = "sd2"
        else:
            std = _probe_std(path) if probe else None
            if std is None:
                config = "sd2-v"
                notes.append("Could not tell v-prediction from epsilon; assumed v-prediction (SD 2.x 768).")
            else:
                config = "sd2-v" if std > V_PRED_STD else "sd2"
    elif ctx == 2048 and any(k.startswith("conditioner.embedders.1.") for k in header):
        family, config = "sdxl", "sdxl-turbo" if turbo else "sdxl"
    elif ctx == 1280 and any(k.startswith("conditioner.embedders.0.model.") for k in header):
        raise EngineError(f"{path.name} is an SDXL refiner, which improves finished pictures rather than drawing "
                          "from a prompt; choose an SDXL base checkpoint.")
    else:
        raise EngineError(f"{path.name} has a Stable Diffusion UNet ({len(unet_names):,} tensors) of an unknown "
                          f"kind: its cross-attention width is {ctx or 'missing'} (SD 1.x has 768, SD 2.x 1024, "
                          "SDXL 2048 with a second text encoder).")
    prediction = "v_prediction" if config == "sd2-v" or (family == "sdxl" and v_marked) else "epsilon"
    if in_channels not in (4, 9):
        raise EngineError(f"{path.name}: its UNet takes {in_channels} input channels; chatapp loads text-to-image "
                          "(4) and inpainting (9) checkpoints.")
    return CheckpointKind(family, config, in_channels, prediction, turbo, _stored_dtype(header), len(header),
                          tuple(notes))


def config_folder(kind: CheckpointKind) -> Path:
    return CONFIGS / kind.config


@contextmanager
def prepared_config(kind: CheckpointKind):
    """The kind's config tree, ready for from_single_file: the shared CLIP BPE files joined into each
    tokenizer folder, the UNet's input channels and the scheduler's prediction type as found."""
    with tempfile.TemporaryDirectory(prefix="chatapp-sd-config-") as tmp:
        folder = Path(tmp) / kind.config
        shutil.copytree(config_folder(kind), folder)
        for tok in folder.glob("tokenizer*"):
            for name in ("vocab.json", "merges.txt"):
                shutil.copyfile(CONFIGS / "clip_bpe" / name, tok / name)
        _patch(folder / "unet" / "config.json", in_channels=kind.in_channels)
        _patch(folder / "scheduler" / "scheduler_config.json", prediction_type=kind.prediction)
        yield folder


def _patch(path: Path, **values) -> None:
    data = json.loads(path.read_text())
    data.update(values)
    path.write_text(json.dumps(data, indent=2))


def defaults(kind: CheckpointKind) -> dict:
    """Steps, CFG and size this kind is meant for (Turbo: 1 step, no CFG)."""
    card = json.loads((config_folder(kind) / "chatapp.json").read_text())
    return {k: v for k, v in card.items() if k != "kind"}


def load_pipeline(path: Path, kind: CheckpointKind, **kwargs):
    """The diffusers pipeline for a detected checkpoint, offline: the config comes from us, never a hub."""
    import diffusers
    cls = getattr(diffusers, kind.pipeline_class)
    with prepared_config(kind) as folder:
        return cls.from_single_file(str(path), **dict(kwargs, config=str(folder), local_files_only=True))


def family_of(pipe) -> str | None:
    """"sd1" | "sd2" | "sdxl" for any loaded pipeline (a diffusers folder too), from its UNet's
    cross-attention width; None for other shapes (e.g. the embedded tiny-shapes model)."""
    width = getattr(getattr(getattr(pipe, "unet", None), "config", None), "cross_attention_dim", None)
    if getattr(pipe, "text_encoder_2", None) is not None and width == 2048:
        return "sdxl"
    return {768: "sd1", 1024: "sd2"}.get(width)
