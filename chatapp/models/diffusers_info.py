"""Read a diffusers folder's model_index.json: pipeline class, parts present, safetensors weights."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .entry import IMAGE, ModelEntry

# The parts a text-to-image pipeline cannot run without (one of each group).
REQUIRED = (("unet", "transformer"), ("vae",), ("scheduler",))
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))   # follows HF cache symlinks to blobs
            except OSError:
                pass
    return total


def read_diffusers(folder: Path, source: str, name: str | None = None) -> ModelEntry:
    entry = ModelEntry(kind=IMAGE, path=str(folder), name=name or folder.name, source=source)
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        if not isinstance(index, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return _unusable(entry, f"model_index.json cannot be read ({exc})")
    entry.architecture = str(index.get("_class_name", ""))
    entry.details["diffusers_version"] = str(index.get("_diffusers_version", ""))
    entry.size_bytes = folder_size(folder)
    parts = {k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and v and v[0]}
    for group in REQUIRED:
        if not any(p in parts and (folder / p).is_dir() for p in group):
            return _unusable(entry, f"the {group[0]} part is missing")
    pickled = []
    for part in sorted(parts):
        if part in ("scheduler", "tokenizer", "tokenizer_2", "feature_extractor", "image_processor"):
            continue
        sub = folder / part
        if not sub.is_dir():
            continue
        weights = [f for f in os.listdir(sub) if f.endswith(WEIGHT_SUFFIXES)]
        if weights and not any(f.endswith(".safetensors") for f in weights):
            pickled.append(part)
    if pickled:
        return _unusable(entry, f"weights of {', '.join(pickled)} are pickle files; only safetensors are loaded")
    if "Img2Img" in entry.architecture or "Inpaint" in entry.architecture or "ControlNet" in entry.architecture:
        entry.reason = f"{entry.architecture}: used for text-to-image"
    return entry


def _unusable(entry: ModelEntry, reason: str) -> ModelEntry:
    entry.usable, entry.reason = False, reason
    return entry


def read_checkpoint(path: Path, source: str, name: str | None = None) -> ModelEntry | None:
    """A single-file Stable Diffusion checkpoint as an entry; None for other .safetensors files (LoRAs,
    LLM shards, a VAE alone): a model list is not the place to explain those. Header only."""
    from ..engines.base import EngineError
    from ..engines.single_file import UNET, detect, read_header
    try:
        header, meta = read_header(path)
    except EngineError:
        return None
    if not any(k.startswith(UNET) for k in header):
        return None
    entry = ModelEntry(kind=IMAGE, path=str(path), name=name or path.stem, source=source)
    try:
        entry.size_bytes = path.stat().st_size
        kind = detect(path, header, meta, probe=False)
    except (EngineError, OSError) as exc:
        return _unusable(entry, str(exc))
    entry.architecture = kind.short_label
    entry.details.update(single_file=kind.label, dtype=kind.dtype)
    return entry

