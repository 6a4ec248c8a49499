"""LoRAs: find them by name, read format and base model from the safetensors header, apply them to a pipeline."""
from __future__ import annotations

import difflib
import hashlib
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from . import safetensors_header
from .base import EngineError
from .defaults import RESOURCES
from .lora_formats import adapter_task, applied_layers, processor_state_dict
from .lora_kinds import TINY_KINDS, model_channels, unet_config, widths_fit

BUILTIN_DIR = RESOURCES / "loras"       # ships white-background for the embedded tiny-shapes model
MAX_FILES = 5000                        # files looked at when a folder is searched (a home folder by mistake)
MAX_LISTED = 200                        # LoRAs /loras shows per folder
# Width of the text features the UNet's cross-attention reads: it tells the base models apart.
KINDS = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL", 128: "chatapp tiny"}

_KOHYA = re.compile(r"lora_(unet|te1|te2|te)_(.+)\.(lora_down|lora_up|alpha)(?:\.weight)?")
_PEFT = re.compile(r"(?:(unet|text_encoder|text_encoder_2)\.)?(.+)\.lora_([AB])(?:\.[^.]+)?\.weight")
# diffusers' older formats: ".lora_linear_layer.down", ".lora.down", and the attention-processor one,
# "attn1.processor.to_q_lora.down.weight" (its "_lora" joined to the layer's name).
_OLD_DIFFUSERS = re.compile(r"(?:(unet|text_encoder|text_encoder_2)\.)?(.+?)(?:\.lora_linear_layer|\.lora|_lora)\.(down|up)\.weight")
_PROCESSOR = re.compile(r"(.+)\.processor\.(to_q|to_k|to_v|to_out)(?:_lora)?")
# A PEFT adapter for a language model (its decoder layers), not for a Stable Diffusion UNet/CLIP.
_LM_MODULE = re.compile(r"(?:^|\.)model\.layers\.\d+\.|(?:^|\.)embed_tokens|(?:^|\.)lm_head")
LM_TASKS = {"CAUSAL_LM", "SEQ_2_SEQ_LM", "TOKEN_CLS", "SEQ_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION"}
NOT_SD = "it is not a Stable Diffusion LoRA (a language-model adapter)"
PROCESSOR = "diffusers attention-processor"
_LYCORIS = (".hada_", ".lokr_", ".oft_", ".dora_scale", ".b1.", ".w_norm")


class LoraError(EngineError):
    """A LoRA that cannot be used; the message says which and why."""


@dataclass
class LoraInfo:
    name: str
    path: Path
    size: int
    format: str                  # "kohya" | "diffusers" | "" (not a LoRA chatapp reads; see problem)
    context: int | None = None   # width of the text features its cross-attention layers read
    text_width: int | None = None   # width of the text encoder its text-encoder layers change
    sdxl: bool = False           # it has layers for SDXL's second text encoder
    layers: int = 0
    problem: str = ""
    shapes: dict = field(default_factory=dict, repr=False)   # UNet module ("." separated) -> (in, out) features

    @property
    def kind(self) -> str:
        if self.sdxl:
            return "SDXL"
        if self.context == 128:
            return next((name for widths, name in TINY_KINDS.items() if widths_fit(self, widths, strict=True)),
                        KINDS[128])
        if self.context:
            return KINDS.get(self.context, f"unknown ({self.context}-wide text)")
        return KINDS.get(self.text_width, "unknown") if self.text_width else "unknown"


def lora_folders(setting: str, data_dir: Path | None) -> list[Path]:
    """Where names are looked up: the Settings folder ("" = <data dir>/loras), then the LoRAs chatapp ships."""
    first = Path(setting).expanduser() if setting else (Path(data_dir) / "loras" if data_dir else None)
    return [d for d in (first, BUILTIN_DIR) if d is not None]


def _files(folder: Path) -> list[Path]:
    """*.safetensors under a folder (subfolders too, as A1111), bounded; a missing folder has none."""
    out, seen = [], 0
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            seen += 1
            if n.lower().endswith(".safetensors"):
                out.append(Path(root) / n)
            if seen > MAX_FILES:
                return out
    return out


def find(name: str, folders: list[Path]) -> Path:
    files = [f for d in folders for f in _files(d)]
    for same in (lambda f: f.stem == name, lambda f: f.stem.lower() == name.lower()):
        hit = next((f for f in files if same(f)), None)
        if hit is not None:
            return hit
    where = " or ".join(str(d) for d in folders)
    close = difflib.get_close_matches(name, [f.stem for f in files], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else " /loras lists the ones there."
    raise LoraError(f"No LoRA named {name!r} in {where}.{hint}")


def read_header(path: Path) -> dict:
    """The JSON header of a LoRA (names, dtypes, shapes), without reading any tensor; LoraError in words."""
    try:
        return safetensors_header.read_header(path)
    except safetensors_header.NotRegularFile:
        raise LoraError(f"LoRA {path.name} is not a regular file.") from None
    except safetensors_header.BadHeader as exc:
        raise LoraError(f"LoRA {path.name} is not a readable .safetensors file ({exc}); "
                        "it may be damaged or only partly downloaded.") from None
    except OSError as exc:
        raise LoraError(f"LoRA {path.name} cannot be opened: {exc.strerror or exc}.") from None


def _module(key: str) -> tuple[str, str, str] | None:
    """(component, module, part) of one tensor name: part is "down" (rank x in), "up" or "alpha"."""
    m = _KOHYA.fullmatch(key)
    if m:
        comp = {"unet": "unet", "te": "text_encoder", "te1": "text_encoder", "te2": "text_encoder_2"}[m[1]]
        return comp, m[2], {"lora_down": "down", "lora_up": "up", "alpha": "alpha"}[m[3]]
    m = _PEFT.fullmatch(key) or _OLD_DIFFUSERS.fullmatch(key)
    if m:
        module, part = m[2], {"A": "down", "B": "up"}.get(m[3], m[3])
        p = _PROCESSOR.fullmatch(module)
        if p:   # diffusers' first format: attn1.processor.to_out_lora -> attn1.to_out.0
            module = f"{p[1]}.{p[2]}" + (".0" if p[2] == "to_out" else "")
        return m[1] or "unet", module, part
    return None


def inspect(path: Path, name: str | None = None) -> LoraInfo:
    """Format, base-model width and per-layer shapes from the header alone."""
    header = read_header(path)
    meta = header.pop("__metadata__", None) or {}
    info = LoraInfo(name or path.stem, path, path.stat().st_size, "")
    kinds, unknown = set(), 0
    for key, spec in header.items():
        if any(mark in key for mark in _LYCORIS):
            info.problem = "it is a LyCORIS network (LoHa/LoKr/OFT), not a plain LoRA"
            return info
        if _LM_MODULE.search(key) and "text_model" not in key:
            info.problem = NOT_SD
            return info
        parsed = _module(key)
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if parsed is None or not isinstance(shape, list):
            unknown += 1
            continue
        comp, module, part = parsed
        kinds.add("kohya" if key.startswith("lora_") else PROCESSOR if ".processor." in key else "diffusers")
        if comp == "text_encoder_2":
            info.sdxl = True
        if part == "down" and len(shape) >= 2:
            info.layers += 1
            leaf = module.replace("_", ".")
            if comp == "unet" and leaf.endswith("attn2.to.k"):
                info.context = int(shape[1])
            if comp == "text_encoder" and leaf.endswith(("q.proj", "self.attn.q.proj")):
                info.text_width = int(shape[1])
            if comp == "unet":
                info.shapes.setdefault(module, [int(shape[1]), None])[0] = int(shape[1])
        elif part == "up" and comp == "unet" and len(shape) >= 2:
            info.shapes.setdefault(module, [None, None])[1] = int(shape[0])
    if adapter_task(path) in LM_TASKS:   # PEFT's adapter_config.json beside it says what it adapts
        info.problem = NOT_SD
    elif not info.layers:
        info.problem = (f"it has no LoRA layers chatapp recognises ({unknown} other tensors)" if header
                        else "it holds no tensors")
    elif len(kinds) > 1:
        info.problem = "it mixes kohya and diffusers layer names"
    else:
        info.format = kinds.pop()
    if info.context is None and not info.sdxl:   # kohya's training metadata, when the layers do not say
        base = str(meta.get("ss_base_model_version", ""))
        info.sdxl = base.startswith("sdxl")
        info.context = 1024 if str(meta.get("ss_v2", "")) == "True" else (768 if base.startswith("sd_v1") else None)
    return info


def file_hash(path: Path) -> str:
    """AUTOMATIC1111's LoRA hash (kohya's "addnet" hash; Civitai's AutoV3): sha256 of the tensor data after
    the header, first 12 hex digits. Metadata edits do not change it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + length)
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def model_kind(pipe) -> tuple[int | None, str]:
    ctx = getattr(pipe.unet.config, "cross_attention_dim", None)
    ctx = ctx[0] if isinstance(ctx, (list, tuple)) else ctx
    if getattr(pipe, "text_encoder_2", None) is not None:
        return ctx, "SDXL"
    widths = tuple(getattr(pipe.unet.config, "block_out_channels", ()) or ())
    return ctx, TINY_KINDS.get(widths, KINDS[128]) if ctx == 128 else KINDS.get(ctx, f"{ctx}-wide")


def _other_kind(info: LoraInfo, context: int | None, sdxl: bool) -> bool:
    """Made for another kind of model than one whose UNet reads `context`-wide text (SDXL or not)."""
    return (info.sdxl and not sdxl) or (info.context is not None and info.context != context)


def model_context(model: Path) -> tuple[int, bool] | None:
    """(cross-attention width, SDXL) of an image model, read without loading it: a diffusers folder's UNet config,
    a single file's header; None when it cannot be told (LoRAs are then judged at render, by check_fits)."""
    try:
        if model.is_dir():
            width = unet_config(model)["cross_attention_dim"]
            width = width[0] if isinstance(width, list) else width
            return int(width), (model / "text_encoder_2").is_dir()
        if model.suffix.lower() == ".safetensors":
            from .single_file import detect
            family = detect(model, probe=False).family   # header only: no torch
            return {"sd1": 768, "sd2": 1024, "sdxl": 2048}[family], family == "sdxl"
    except (OSError, ValueError, KeyError, TypeError, IndexError, EngineError):
        pass
    return None


def check_fits(info: LoraInfo, pipe, model_name: str) -> None:
    """Refuse a LoRA made for another kind of model before anything is applied."""
    if info.problem:
        raise LoraError(f"LoRA {info.name} cannot be used: {info.problem}.")
    ctx, kind = model_kind(pipe)
    te = getattr(pipe, "text_encoder", None)
    width = getattr(getattr(te, "config", None), "hidden_size", None)
    wrong = _other_kind(info, ctx, kind == "SDXL") \
        or (info.text_width is not None and width is not None and info.text_width != width)
    mismatched = []
    if not wrong:
        modules = dict(pipe.unet.named_modules())
        by_kohya = {n.replace(".", "_"): m for n, m in modules.items()}
        for name, (inp, out) in info.shapes.items():
            module = modules.get(name) or by_kohya.get(name)
            if module is None:
                continue   # SDXL's original block names: diffusers maps those itself
            have = (getattr(module, "in_features", None) or getattr(module, "in_channels", None),
                    getattr(module, "out_features", None) or getattr(module, "out_channels", None))
            if (inp, out) != have and None not in (inp, out):
                mismatched.append(name)
    if wrong or mismatched:
        raise LoraError(f"LoRA {info.name} was made for {info.kind} models, but {model_name} is a {kind} model"
                        + (f" ({len(mismatched)} of its layers have other shapes here)" if mismatched else "")
                        + ". Use a LoRA made for this model; /loras shows each one's base model.")


class LoraSet:
    """The LoRAs applied to one pipeline; those asked for again are kept loaded between renders."""

    def __init__(self):
        self.loaded: dict[str, tuple] = {}    # adapter name (from the path, size and mtime) -> (path,)
        self._hashes: dict[tuple, str] = {}

    @staticmethod
    def _adapter(info: LoraInfo) -> str:
        stamp = info.path.stat()
        return "lora_" + hashlib.sha1(f"{info.path.resolve()}|{stamp.st_size}|{stamp.st_mtime_ns}".encode()).hexdigest()[:12]

    def apply(self, pipe, wanted, folders: list[Path], model_name: str) -> list[tuple[str, float, str]]:
        """Make exactly `wanted` [(name, weight)] active; returns [(name, weight, hash)] for the recipe.

        Every LoRA is found and checked before any is applied; a failure while loading unloads them
        all, so a picture never renders with only some of them.
        """
        if not wanted:
            self.clear(pipe)
            return []
        infos, weights = {}, {}
        for entry in wanted:
            name, weight = str(entry[0]), float(entry[1])
            info = inspect(find(name, folders), name)
            check_fits(info, pipe, model_name)
            key = self._adapter(info)
            infos.setdefault(key, info)
            weights[key] = weights.get(key, 0.0) + weight    # the same LoRA twice: the weights add up
        stale = [k for k in self.loaded if k not in infos]
        try:
            if stale:
                pipe.delete_adapters(stale)
                for k in stale:
                    self.loaded.pop(k)
            for key, info in infos.items():
                if key not in self.loaded:
                    source = processor_state_dict(info.path) if info.format == PROCESSOR else str(info.path)
                    try:
                        pipe.load_lora_weights(source, adapter_name=key)
                    except Exception as exc:
                        raise LoraError(f"LoRA {info.name} could not be applied to {model_name}: {_plain(exc)}") from exc
                    self.loaded[key] = (info.path,)
                    if not applied_layers(pipe, key):   # diffusers may load a file it does not understand as nothing
                        raise LoraError(f"LoRA {info.name} could not be applied to {model_name}: none of its "
                                        f"{info.layers} layers matched a layer of the model, so it would change nothing.")
                    self.loaded[key] = (info.path,)
            pipe.set_adapters(list(infos), adapter_weights=[weights[k] for k in infos])
        except Exception:
            self.clear(pipe)
            raise
        return [(infos[k].name, weights[k], self.hash(infos[k].path)) for k in infos]

    def hash(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = file_hash(path)
        return self._hashes[key]

    def clear(self, pipe) -> None:
        """Take every LoRA off: the UNet and text encoder get their own layers back, bit for bit."""
        if self.loaded:
            self.loaded.clear()
            pipe.unload_lora_weights()


def _plain(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "PEFT backend is required" in text or isinstance(exc, ModuleNotFoundError):
        return "LoRAs need the peft package (pip install peft)."
    return text[:300]


def listing(folders: list[Path]) -> str:
    """The /loras answer (Markdown): each file's name, size, base model and format. Reads headers only."""
    lines = []
    for folder in folders:
        files = _files(folder)
        builtin = folder == BUILTIN_DIR
        if not files and builtin:
            continue
        lines.append(f"**{'Shipped with chatapp' if builtin else folder}**" + ("" if files else ": no LoRAs yet "
                     "(put .safetensors LoRAs here, or choose the LoRA folder in Settings)"))
        if len(files) > MAX_LISTED:   # a notice, not a file manager: the first ones and a count
            lines.append(f"(the first {MAX_LISTED} of {len(files)})")
        for f in files[:MAX_LISTED]:
            try:
                info = inspect(f)
                what = f"{info.kind}, {info.format} format" if not info.problem else f"cannot be used: {info.problem}"
            except LoraError as exc:
                size, what = None, str(exc)
            else:
                size = info.size
            kb = f"{size / 1024:,.0f} KB" if size is not None and size < 10 * 1024 * 1024 else \
                (f"{size / 1024 / 1024:,.0f} MB" if size is not None else "?")
            lines.append(f"- `{f.stem}` ({kb}): {what}")
    lines.append("\nUse one with `/image ... --lora NAME:0.8` or `<lora:NAME:0.8>` in the prompt.")
    return "\n".join(lines)


def names(folders: list[Path], model: Path | None = None) -> list[str]:
    """The LoRA names a recipe can use, as find() looks them up: the first folder's first, each name once; with
    `model`, only those made for its kind (headers read; all of them when its kind cannot be told)."""
    kind = model_context(model) if model is not None else None
    channels = model_channels(model) if kind is not None else None
    seen, out = set(), []
    for f in (f for d in folders for f in _files(d)):
        if f.stem.lower() not in seen:
            seen.add(f.stem.lower())
            if kind is None or _fits(f, *kind, channels):
                out.append(f.stem)
    return out


def _fits(path: Path, context: int, sdxl: bool, channels: tuple[int, ...] | None = None) -> bool:
    try:
        info = inspect(path)
    except (LoraError, OSError):
        return False
    return (not info.problem and not _other_kind(info, context, sdxl)
            and (channels is None or widths_fit(info, channels)))
