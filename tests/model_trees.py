"""Fake model stores laid out like LM Studio, Ollama, the HF cache, GPT4All and ~/models, with real small GGUFs."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np


def write_gguf(path: Path, *, arch="llama", name="Tiny", ctx=4096, file_type=15, template=True, tensors=1,
               extra: dict | None = None) -> Path:
    import gguf
    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), arch=arch)
    w.add_name(name)
    w.add_context_length(ctx)
    w.add_file_type(file_type)
    if template:
        w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    for key, value in (extra or {}).items():
        w.add_uint32(key, value)
    w.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(300)])   # a vocabulary to skip over
    for i in range(tensors):
        w.add_tensor(f"blk.{i}.weight", np.zeros((8, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_diffusers(folder: Path, *, pickled=False, missing_vae=False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    for part in ("unet", "vae", "text_encoder", "scheduler", "tokenizer"):
        if part == "vae" and missing_vae:
            continue
        (folder / part).mkdir(exist_ok=True)
        (folder / part / "config.json").write_text("{}")
        if part in ("unet", "vae", "text_encoder"):
            weights = "diffusion_pytorch_model.bin" if pickled and part == "unet" else "model.safetensors"
            (folder / part / weights).write_bytes(b"\0" * 64)
    return folder


def build_home(home: Path) -> Path:
    """A home directory with every store the picker knows, usable models and broken ones."""
    # LM Studio: publisher/repo/file.gguf
    write_gguf(home / ".lmstudio/models/acme/Tiny-Chat-GGUF/tiny-chat-Q4_K_M.gguf", name="Tiny Chat", ctx=8192)
    # Ollama: a manifest naming its model layer by digest; the blob has no .gguf suffix
    ollama = home / ".ollama/models"
    blob_src = write_gguf(home / "tmp-ollama.gguf", name="Olla", ctx=2048, file_type=7)
    digest = hashlib.sha256(blob_src.read_bytes()).hexdigest()
    (ollama / "blobs").mkdir(parents=True)
    blob_src.rename(ollama / "blobs" / f"sha256-{digest}")
    manifest = {"schemaVersion": 2, "layers": [
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64, "size": 10},
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": 1}]}
    tag = ollama / "manifests/registry.ollama.ai/library/olla"
    tag.mkdir(parents=True)
    (tag / "latest").write_text(json.dumps(manifest))
    gone = ollama / "manifests/registry.ollama.ai/library/gone"
    gone.mkdir(parents=True)
    (gone / "7b").write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                      "digest": "sha256:" + "f" * 64}]}))
    # Hugging Face hub cache: snapshots link into blobs
    repo = home / ".cache/huggingface/hub/models--acme--Hub-Tiny-GGUF"
    blob = write_gguf(repo / "blobs" / ("a" * 40), name="Hub Tiny", ctx=32768, file_type=7, template=False)
    snap = repo / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    (snap / "hub-tiny.Q8_0.gguf").symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    write_diffusers(home / ".cache/huggingface/hub/models--acme--tiny-sd/snapshots/feed0001")
    # GPT4All
    write_gguf(home / ".local/share/nomic.ai/GPT4All/gpt4all-mini.Q4_0.gguf", name="Mini", ctx=2048, file_type=2)
    # ~/models: good and broken
    models = home / "models"
    write_diffusers(models / "my-sd")
    write_diffusers(models / "old-sd", pickled=True)
    write_diffusers(models / "half-sd", missing_vae=True)
    (models / "not-a-model.gguf").write_bytes(b"PK\x03\x04 a zip file")
    good = write_gguf(models / "whole.gguf", tensors=3)
    (models / "cut.gguf").write_bytes(good.read_bytes()[:-60])
    write_gguf(models / "mmproj-vision.gguf", arch="clip")
    write_gguf(models / "big-00002-of-00003.gguf", extra={"split.no": 1, "split.count": 3})
    return home
