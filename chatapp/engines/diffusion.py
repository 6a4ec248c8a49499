"""Diffusers text-to-image: load a folder or .safetensors file, pick device/dtype, step callback with
progress, cheap previews and cancel."""
from __future__ import annotations

import hashlib
import json
import os
import random
import stat
from pathlib import Path
from typing import Callable

from ..conversation import ImageRequest
from .base import EngineError, ImageResult, ModelInfo
from .schedulers import SCHEDULERS, flag_for_class

PICKLE_SUFFIXES = {".ckpt", ".bin", ".pt", ".pth", ".pkl"}
PREVIEW_EVERY = 3  # steps between live previews
# AUTOMATIC1111's "Approx cheap" latent -> RGB map for Stable Diffusion 1.x/2.x latents.
SD_LATENT_RGB = [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350],
                 [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]]


class Cancelled(Exception):
    """Raised from the step callback: stops the pipeline before the (costly) VAE decode."""


def pick_device():
    import torch
    if torch.cuda.is_available():
        return "cuda", torch.float16
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps", torch.float16
    return "cpu", torch.float32


def model_hash(path: Path) -> str:
    """AUTOMATIC1111's "AutoV2" hash: sha256 of the weights file, first 10 hex digits."""
    weights = path
    if path.is_dir():
        found = sorted((path / "unet").glob("*.safetensors"))
        if not found:
            return ""
        weights = found[0]
    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:10]


def check_image_model_path(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise EngineError(f"Image model not found: {path}. Choose a diffusers folder or a .safetensors file in Settings.") from None
    except (OSError, ValueError) as exc:   # ValueError: a NUL in the path
        raise EngineError(f"The image model path {path} cannot be used: {getattr(exc, 'strerror', None) or exc}.") from None
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise EngineError(f"{path.name} is a pickle checkpoint, which can run hidden code when loaded. "
                          "chatapp only opens .safetensors files or diffusers folders; convert it first.")
    if stat.S_ISDIR(mode) and not (path / "model_index.json").is_file():
        raise EngineError(f"{path} is not a diffusers model folder (it has no model_index.json).")
    if not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
        # Before anything opens it: a FIFO would wait forever, /dev/zero never ends.
        raise EngineError(f"{path} is not a regular file (it is a device, pipe or socket).")
    if stat.S_ISREG(mode) and path.suffix.lower() != ".safetensors":
        raise EngineError(f"{path.name} is not a .safetensors checkpoint or a diffusers folder.")
    if not os.access(path / "model_index.json" if stat.S_ISDIR(mode) else path, os.R_OK):
        raise EngineError(f"chatapp is not allowed to read {path}. Check its permissions, or choose another model.")


class DiffusionImageEngine:
    """Owns one diffusers pipeline; used only on the image worker's thread."""

    def __init__(self, model_path: str | Path, *, attention_slicing: bool = False, cpu_offload: bool = False,
                 threads: int = 0, overrides: dict | None = None):
        self.model_path = Path(model_path)
        self.attention_slicing, self.cpu_offload, self.threads = attention_slicing, cpu_offload, threads
        self.overrides = overrides or {}
        self.pipe = None
        self.defaults: dict = {}
        self.model_name = self.model_path.stem if self.model_path.is_file() else self.model_path.name
        self.model_hash = ""
        self._preview_map = None   # (factors, bias) tensors for cheap previews

    # --- loading ------------------------------------------------------------------------------
    def load(self) -> ModelInfo:
        check_image_model_path(self.model_path)
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from diffusers import DiffusionPipeline, StableDiffusionPipeline
        device, dtype = pick_device()
        if device == "cpu":
            # Leave a core for the chat model and the GUI: oversubscribed cores stall both.
            torch.set_num_threads(self.threads or max(1, (os.cpu_count() or 2) // 2))
        # float32 is the default: only ask for another dtype when there is one to ask for.
        kwargs = {"local_files_only": True} | ({"torch_dtype": dtype} if dtype != torch.float32 else {})
        try:
            if self.model_path.is_dir():
                pipe = DiffusionPipeline.from_pretrained(self.model_path, **kwargs)
            else:
                pipe = StableDiffusionPipeline.from_single_file(self.model_path, **kwargs)
        except Exception as exc:
            if self.model_path.is_file():
                raise EngineError(
                    f"Could not load {self.model_name} as a single-file checkpoint: {exc}. A single file "
                    "does not say how it is built, and offline chatapp cannot look that up; use the "
                    "model as a diffusers folder (model_index.json beside unet/, vae/, ...) instead.") from exc
            raise EngineError(f"Could not load the image model {self.model_name}: {exc}") from exc
        if not hasattr(pipe, "vae") or not hasattr(pipe, "unet"):
            raise EngineError(f"{self.model_name} is not a text-to-image Stable Diffusion model.")
        pipe.set_progress_bar_config(disable=True)
        if hasattr(pipe, "safety_checker"):
            pipe.safety_checker = None  # an image classifier download we cannot make offline
        if self.attention_slicing:
            pipe.enable_attention_slicing()
        if self.cpu_offload and device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        self.pipe, self.device = pipe, device
        self.defaults = self._model_defaults()
        self.model_hash = model_hash(self.model_path)
        return ModelInfo(name=self.model_name, path=str(self.model_path), details=dict(self.defaults))

    def _model_defaults(self) -> dict:
        scale = getattr(self.pipe, "vae_scale_factor", 8)
        native = int(self.pipe.unet.config.sample_size) * scale
        defaults = {"steps": 25, "cfg": 7.0, "width": native, "height": native, "max_size": max(2048, native)}
        card = self.model_path / "chatapp.json" if self.model_path.is_dir() else None
        if card and card.is_file():
            try:
                defaults.update(json.loads(card.read_text()))
            except ValueError:
                pass
        defaults.update({k: v for k, v in self.overrides.items() if v})
        defaults["scheduler"] = flag_for_class(type(self.pipe.scheduler).__name__) or type(self.pipe.scheduler).__name__
        self._preview_map = self._preview_tensors(
            defaults.get("latent_rgb") or (SD_LATENT_RGB if self.pipe.unet.config.in_channels == 4 else None))
        return defaults

    @staticmethod
    def _preview_tensors(rows):
        """latent->RGB rows (4 factors, optional bias row) as tensors, made once at load."""
        import torch
        if rows is None:
            return None
        bias = torch.tensor(rows[4], dtype=torch.float32) if len(rows) > 4 else torch.zeros(3)
        return torch.tensor(rows[:4], dtype=torch.float32), bias

    # --- generating ---------------------------------------------------------------------------
    def resolve(self, req: ImageRequest, seed: int) -> ImageRequest:
        d = self.defaults
        return ImageRequest(req.prompt, req.negative, req.steps or int(d["steps"]),
                            req.cfg if req.cfg is not None else float(d["cfg"]), seed,
                            req.width or int(d["width"]), req.height or int(d["height"]),
                            req.scheduler or d["scheduler"], 1)

    def _set_scheduler(self, flag: str) -> None:
        import diffusers
        cls_name = SCHEDULERS.get(flag, (flag, ""))[0]
        if type(self.pipe.scheduler).__name__ != cls_name:
            self.pipe.scheduler = getattr(diffusers, cls_name).from_config(self.pipe.scheduler.config)

    def _denoised(self, latents):
        """The scheduler's current estimate of the finished latents, where it keeps one.

        DPM-Solver++ stores its x0 predictions; previewing those shows the picture forming
        instead of noise. Other schedulers fall back to the noisy latents (as A1111's "cheap").
        """
        sched = self.pipe.scheduler
        outputs = getattr(sched, "model_outputs", None)
        if outputs and outputs[-1] is not None and "++" in str(getattr(sched.config, "algorithm_type", "")):
            return outputs[-1]
        return latents

    def _preview(self, latents):
        """Latents -> small RGB picture by a fixed linear map: no VAE decode."""
        import torch
        from PIL import Image
        if self._preview_map is None:
            return None
        factors, bias = self._preview_map
        with torch.no_grad():
            lat = latents[0].float().cpu().permute(1, 2, 0)
            rgb = ((lat @ factors + bias).clamp(-1, 1) + 1) * 127.5
        return Image.fromarray(rgb.byte().numpy(), "RGB")

    def generate(self, request: ImageRequest, on_step: Callable[[int, int, object], None],
                 should_stop: Callable[[], bool]) -> list[ImageResult]:
        import torch
        if self.pipe is None:
            raise EngineError("No image model is loaded.")
        base_seed = request.seed if request.seed is not None else random.randrange(2**32)
        results = []
        for n in range(request.count):
            seed = (base_seed + n) % 2**32
            req = self.resolve(request, seed)
            self._set_scheduler(req.scheduler)
            total = req.steps

            def callback(pipe, i, t, kwargs):
                if should_stop():
                    raise Cancelled
                step = i + 1
                preview = (self._preview(self._denoised(kwargs["latents"]))
                           if step % PREVIEW_EVERY == 0 and step < total else None)
                on_step(step, total, preview)
                return kwargs

            try:
                out = self.pipe(req.prompt, negative_prompt=req.negative or None, num_inference_steps=total,
                                guidance_scale=req.cfg, width=req.width, height=req.height,
                                generator=torch.Generator("cpu").manual_seed(seed),
                                callback_on_step_end=callback)
            except Cancelled:
                if self.cpu_offload and hasattr(self.pipe, "maybe_free_model_hooks"):
                    self.pipe.maybe_free_model_hooks()
                return []
            results.append(ImageResult(out.images[0], seed, req))
        return results
