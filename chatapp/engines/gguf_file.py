"""A GGUF file checked before llama.cpp opens it: a folder, a FIFO, not a GGUF, or a model that cannot chat."""
from __future__ import annotations

import stat
from pathlib import Path

from .base import EngineError, stat_model_path

GGUF_MAGIC = b"GGUF"


def refuse_what_cannot_chat(path: Path) -> None:
    """The model picker's reading of the header (no weights loaded) says why a file cannot be the chat
    model (an embedding model, a vision projector, a vocabulary-only file) better than llama.cpp's
    failure can, which only says the file may be truncated or of an unsupported architecture."""
    from ..models.gguf_info import read_gguf
    entry = read_gguf(path, "settings")
    if not entry.usable:
        raise EngineError(f"{path.name} cannot be used as the chat model ({entry.reason}). Choose a chat "
                          "model in Settings or the model picker (Ctrl+M).")


def check_gguf_file(path: Path) -> None:
    """Fail early, with words a user understands, before llama.cpp sees a bad file."""
    mode = stat_model_path(path, f"Model file not found: {path}. Choose another in Settings.")
    if stat.S_ISDIR(mode):
        raise EngineError(f"{path} is a folder, not a GGUF model file.")
    if not stat.S_ISREG(mode):
        # Checked before opening: reading a FIFO would wait forever, /dev/zero never ends.
        raise EngineError(f"{path} is not a regular file (it is a device, pipe or socket). "
                          "Choose a .gguf model file in Settings.")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except PermissionError:
        raise EngineError(f"chatapp is not allowed to read {path}. Check the file's permissions, "
                          "or choose another model in Settings.") from None
    except OSError as exc:
        raise EngineError(f"{path.name} could not be read: {exc.strerror or exc}.") from None
    if magic != GGUF_MAGIC:
        raise EngineError(f"{path.name} is not a GGUF model file. chatapp needs a .gguf file "
                          "(for example from a llama.cpp conversion).")
