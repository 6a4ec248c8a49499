"""Vision projectors (mmproj GGUFs): whether one belongs to a chat model, and the one paired beside it."""
from __future__ import annotations

import os
from pathlib import Path

from .entry import ModelEntry
from .gguf_info import read_gguf

SEES_PICTURES = "sees pictures"


def is_projector_name(name: str) -> bool:
    """LM Studio's pairing rule: a projector sits beside its model, named mmproj*.gguf."""
    low = name.lower()
    return low.startswith("mmproj") and low.endswith(".gguf")


def mismatch(model: ModelEntry, projector: ModelEntry) -> str | None:
    """Why this projector cannot serve this model (read from both headers), or None."""
    if "projection_dim" not in projector.details:
        return f"{Path(projector.path).name} is not a vision projector (no vision encoder in its header)"
    width, dim = model.details.get("embedding_length", 0), projector.details["projection_dim"]
    if width and dim and width != dim:
        # llama.cpp refuses it too (mtmd: "mismatch between text model and mmproj"), in words no user reads.
        return (f"this projector does not belong to this model: {Path(projector.path).name} makes "
                f"{dim}-wide picture embeddings, {Path(model.path).name} reads {width}-wide ones")
    return None


def pair(model: ModelEntry, candidates: list[ModelEntry]) -> ModelEntry | None:
    """The first projector among `candidates` (sorted by name) that belongs to the model."""
    for projector in sorted(candidates, key=lambda e: Path(e.path).name.lower()):
        if mismatch(model, projector) is None:
            return projector
    return None


def projectors_beside(model_path: Path, names: list[str] | None = None) -> list[ModelEntry]:
    """The mmproj*.gguf files in the model's folder, headers read (no weights)."""
    folder = model_path.parent
    if names is None:
        try:
            names = os.listdir(folder)
        except OSError:
            return []
    return [read_gguf(folder / n, "") for n in sorted(names) if is_projector_name(n) and (folder / n).is_file()]


def paired_projector(model_path: Path) -> Path | None:
    """The projector the engine loads when Settings names none: the matching mmproj beside the model."""
    found = pair(read_gguf(model_path, ""), projectors_beside(model_path))
    return Path(found.path) if found else None


def mark_paired(entries: list[ModelEntry]) -> None:
    """Pair the usable chat models of one folder with the projectors found beside them (entries of the
    same folder's scan); the picker's Notes column says "sees pictures"."""
    projectors = [e for e in entries if is_projector_name(Path(e.path).name)]
    if not projectors:
        return
    for entry in entries:
        found = pair(entry, projectors) if entry.usable and entry.kind == "chat" else None
        if found is not None:
            entry.projector = found.path
            entry.reason = f"{SEES_PICTURES} (with {Path(found.path).name})" + (f"; {entry.reason}" if entry.reason else "")
