"""Finding models already on disk (LM Studio, Ollama, Hugging Face cache, GPT4All, user folders); no Qt, no model load."""
from .entry import ModelEntry
from .scan import ScanCancelled, Source, builtin_sources, default_sources, scan

__all__ = ["ModelEntry", "ScanCancelled", "Source", "builtin_sources", "default_sources", "scan"]
