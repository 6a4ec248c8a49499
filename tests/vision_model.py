"""The tiny random-weight vision model (a Qwen2-VL-shaped GGUF and its mmproj): built once by tools/make_tiny_vlm.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import make_tiny_vlm  # noqa: E402


def tiny_vision_model() -> tuple[Path, Path]:
    """(model GGUF, mmproj GGUF) in $CHATAPP_TEST_CACHE (default ~/.cache/chatapp-test); the first call
    builds them (~30 s; needs the package index once, for llama-cpp-python's source distribution)."""
    return make_tiny_vlm.tiny_vlm()


@pytest.fixture(scope="session")
def vision_model() -> tuple[Path, Path]:
    return tiny_vision_model()
