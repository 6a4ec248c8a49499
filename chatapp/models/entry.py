"""What the model picker shows for one file or folder found on disk."""
from __future__ import annotations

from dataclasses import dataclass, field

CHAT, IMAGE = "chat", "image"


@dataclass
class ModelEntry:
    kind: str                    # CHAT (a GGUF file) or IMAGE (a diffusers folder)
    path: str                    # what Settings.llm_model / image_model is set to
    name: str
    source: str                  # "LM Studio", "Ollama", "Hugging Face", "GPT4All", "~/models", a user folder
    size_bytes: int = 0
    quantization: str = ""       # GGUF file_type, e.g. "Q4_K_M"
    context_length: int = 0
    chat_template: bool = False
    architecture: str = ""
    usable: bool = True
    reason: str = ""             # why it is not usable (or a caveat when it is)
    details: dict = field(default_factory=dict)
    projector: str = ""          # chat: the vision projector (mmproj) paired beside it; "" = cannot see pictures

    @property
    def size_text(self) -> str:
        size = float(self.size_bytes)
        for unit in ("B", "KB", "MB", "GB"):
            if size < 1024 or unit == "GB":
                return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
            size /= 1024
        return ""
