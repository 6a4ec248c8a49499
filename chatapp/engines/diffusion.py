"""Diffusers text-to-image: load a folder or .safetensors file, pick device/dtype, step callback with
progress, cheap previews and cancel."""
from __future__ import annotations

import hashlib
import json
import os
import random
import stat
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..recipes import RecipeError
from ..recipes.request import ImageRequest, ModelLimits
from . import img2img
from . import single_file
from . import torch_runtime as rt
from .base import EngineError, ImageCapabilities, ImageProgress, ImageResult, ModelInfo, stat_model_path
from .lora import LoraSet
from .schedulers import SCHEDULER_CLASSES, flag_for_class, sigma_options

PICKLE_SUFFIXES = {".ckpt", ".bin", ".pt", ".pth", ".pkl"}
PREVIEW_EVERY = 3  # steps between live previews
# AUTOMATIC1111's "Approx cheap" latent -> RGB map for Stable Diffusion 1.x/2.x latents.
SD_LATENT_RGB = [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350],
                 [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]]


class Cancelled(Exception):
    """Raised from the step callback or a block hook: stops the pipeline, the VAE decode included."""


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
    mode = stat_model_path(path, f"Image model not found: {path}. Choose a diffusers folder or a .safetensors file "
                                 "in Settings.", "image model")
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


def _quiet_libraries() -> None:
    """Loading bars and library warnings went to the terminal the app was started from (tqdm bars per
    load, peft's "No LoRA keys ... CLIPTextModel" per LoRA); the app says what matters in its window."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging
    for lib in (diffusers_logging, transformers_logging):
        lib.set_verbosity_error()
        lib.disable_progress_bar()


class DiffusionImageEngine:
    """Owns one diffusers pipeline; used only on the image worker's thread."""

    capabilities = ImageCapabilities(loras=True, threads=True, yields_to_chat=True, edits=True)

    def __init__(self, model_path: str | Path, *, attention_slicing: bool = False, cpu_offload: bool = False,
                 threads: int = 0, precision: str = "auto", vae_tiling: bool = False, overrides: dict | None = None):
        self.model_path = Path(model_path)
        self.attention_slicing, self.cpu_offload, self.threads = attention_slicing, cpu_offload, threads
        self.precision, self.vae_tiling = precision if precision in rt.PRECISIONS else "auto", vae_tiling
        self.overrides = overrides or {}
        self.pipe = None
        self.device, self.dtype = "cpu", None
        self.defaults: dict = {}
        self.model_name = self.model_path.stem if self.model_path.is_file() else self.model_path.name
        self._hash: list[str] = [""]
        self._hash_thread: threading.Thread | None = None
        self.memory_warning = ""
        self.chat_busy: Callable[[], bool] = lambda: False   # the worker points this at the chat worker
        self._threads_now = 0
        self.params = 0            # parameter count, from the weights files' headers
        self._preview_map = None   # (factors, bias) tensors for cheap previews
        self.kind: single_file.CheckpointKind | None = None   # a single file's kind (family, in_channels, ...)
        self.loras = LoraSet()     # LoRAs applied to the pipeline, kept between renders that ask for them again
        self.lora_dirs: list = []  # where LoRA names are looked up; the worker sets it from Settings

    # --- loading ------------------------------------------------------------------------------
    def load(self) -> ModelInfo:
        check_image_model_path(self.model_path)
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from diffusers import DiffusionPipeline
        _quiet_libraries()
        index = self._model_index()
        if self.model_path.is_file():   # header only: an unknown kind is named before any weight is read
            self.kind = single_file.detect(self.model_path)
        params = {k: v for k, v in rt.model_params(self.model_path).items() if k != "safety_checker"}
        self.params = sum(params.values())
        device, dtype = rt.choose_device_dtype(self.precision, self.params)
        if device == "cpu":
            self.memory_warning = rt.check_memory(self.model_name, sum(params.values()),
                                                  torch.finfo(dtype).bits // 8, rt.available_memory())
            self._apply_threads()   # loading converts weights: every core helps
        # The dtype is asked for on every device, for every component (see rt.choose_device_dtype).
        kwargs = {"local_files_only": True, rt.dtype_keyword(): dtype}
        if "safety_checker" in index:
            kwargs["safety_checker"] = None   # an image classifier we would drop anyway: do not even load it
        try:
            if self.model_path.is_dir():
                pipe = DiffusionPipeline.from_pretrained(self.model_path, **kwargs)
            else:
                pipe = single_file.load_pipeline(self.model_path, self.kind, **kwargs)
        except Exception as exc:
            if self.model_path.is_file():
                raise EngineError(f"Could not load {self.model_name} ({self.kind.label}) as a single-file "
                                  f"checkpoint: {rt.plain_error(exc) or exc}") from exc
            raise EngineError(rt.plain_error(exc) or f"Could not load the image model {self.model_name}: {exc}") from exc
        if not hasattr(pipe, "vae") or not hasattr(pipe, "unet"):
            raise EngineError(f"{self.model_name} is not a text-to-image Stable Diffusion model.")
        pipe.set_progress_bar_config(disable=True)
        if hasattr(pipe, "safety_checker"):
            pipe.safety_checker = None
        self._same_dtype(pipe, dtype)
        if self.attention_slicing:
            pipe.enable_attention_slicing()
        if self.vae_tiling:
            # Tiles bound the decoder's memory for large pictures; slicing does the same across a batch.
            pipe.vae.enable_tiling()
            pipe.vae.enable_slicing()
        if self.cpu_offload and device == "cuda":
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        self.pipe, self.device, self.dtype = pipe, device, dtype
        self.defaults = self._model_defaults()
        # sha256 of a 1.7 GB UNet took 5-25 s here: do it beside the first render, not in the load.
        self._hash_thread = threading.Thread(target=lambda: self._hash.__setitem__(0, model_hash(self.model_path)),
                                             name="model-hash", daemon=True)
        self._hash_thread.start()
        details = dict(self.defaults, device=device, precision=str(dtype).replace("torch.", ""),
                       parameters=sum(params.values()), memory_warning=self.memory_warning)
        if self.kind is not None:
            details.update(kind=self.kind.label, kind_notes=list(self.kind.notes))
        return ModelInfo(name=self.model_name, path=str(self.model_path), details=details)

    @property
    def model_hash(self) -> str:
        """AUTOMATIC1111's model hash for the PNG recipe (waits for the background hash)."""
        if self._hash_thread is not None:
            self._hash_thread.join()
        return self._hash[0]

    def _model_index(self) -> dict:
        try:
            return json.loads((self.model_path / "model_index.json").read_text()) if self.model_path.is_dir() else {}
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _same_dtype(pipe, dtype) -> None:
        """Belt and braces: a component a library loaded in its own dtype is converted to ours."""
        import torch
        for part in pipe.components.values():
            if isinstance(part, torch.nn.Module):
                p = next(part.parameters(), None)
                if p is not None and p.dtype != dtype:
                    part.to(dtype=dtype)

    def _apply_threads(self) -> None:
        """Torch's thread count follows the chat: read between steps and between UNet blocks."""
        if self.device != "cpu":
            return
        want = rt.image_threads(self.threads, self.chat_busy(), self.params)
        if want != self._threads_now:
            import torch
            torch.set_num_threads(want)
            self._threads_now = want

    def _model_defaults(self) -> dict:
        scale = getattr(self.pipe, "vae_scale_factor", 8)
        native = int(self.pipe.unet.config.sample_size) * scale
        defaults = {"steps": 25, "cfg": 7.0, "width": native, "height": native, "max_size": max(2048, native)}
        card = self.model_path / "chatapp.json" if self.model_path.is_dir() else None
        if self.kind is not None:
            defaults.update(single_file.defaults(self.kind))   # e.g. Turbo: 1 step, no CFG
        if card and card.is_file():
            try:
                defaults.update(json.loads(card.read_text()))
            except ValueError:
                pass
        defaults.update({k: v for k, v in self.overrides.items() if v})
        defaults["scheduler"] = flag_for_class(type(self.pipe.scheduler).__name__, self.pipe.scheduler.config) or type(self.pipe.scheduler).__name__
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
    def limits(self) -> ModelLimits:
        """What this model takes (its largest side from its config or chatapp.json)."""
        return ModelLimits.from_defaults(self.model_name, self.defaults)

    def resolve(self, req: ImageRequest, seed: int, loras: list | None = None) -> ImageRequest:
        """One picture's request with the model's defaults filled in; `loras` as applied (with hashes)."""
        d = self.defaults
        return ImageRequest(
            prompt=req.prompt, negative=req.negative, steps=req.steps or int(d["steps"]),
            cfg=req.cfg if req.cfg is not None else float(d["cfg"]), seed=seed,
            width=req.width or int(d["width"]), height=req.height or int(d["height"]),
            scheduler=req.scheduler or d["scheduler"], count=1,
            loras=[tuple(x) for x in (req.loras if loras is None else loras)],
            **img2img.edit_fields(req))            # --init/--strength/--mask ride along

    def _set_scheduler(self, flag: str) -> None:
        import diffusers
        cls_name = SCHEDULER_CLASSES.get(flag, flag)
        sigmas = sigma_options(flag)   # "-karras"/"-exponential": the same class on another noise schedule
        config = self.pipe.scheduler.config
        if type(self.pipe.scheduler).__name__ != cls_name or any(config.get(k) != v for k, v in sigmas.items()):
            try:
                self.pipe.scheduler = getattr(diffusers, cls_name).from_config(config, **sigmas)
            except ImportError as exc:   # diffusers' LMS needs scipy, which chatapp does not install
                why = "it needs scipy (pip install scipy)" if "scipy" in str(exc) else \
                    (str(exc).strip().splitlines() or ["a package is missing"])[0]
                raise EngineError(f"The {flag} scheduler cannot be used here: {why}. "
                                  "Choose another --scheduler, e.g. euler.") from None

    def prompt_note(self, prompt: str, what: str = "prompt") -> str:
        """CLIP reads a fixed number of tokens and silently drops the rest: say what was dropped
        (of the prompt, or of the negative prompt: both go through the same text encoder)."""
        tok = getattr(self.pipe, "tokenizer", None)
        limit = getattr(tok, "model_max_length", 0) or 0
        if tok is None or not 0 < limit < 100_000:
            return ""
        words = tok(prompt, add_special_tokens=False).input_ids
        keep = limit - len(tok("", add_special_tokens=True).input_ids)   # room left beside BOS/EOS
        if len(words) <= keep:
            return ""
        dropped = tok.decode(words[keep:]).strip()
        return (f"The model read only the first {keep} of the {what}'s {len(words)} tokens; "
                f"it ignored: \u201c{dropped}\u201d")

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

    @contextmanager
    def _block_hooks(self, should_stop: Callable[[], bool]):
        """A check before each UNet and VAE-decoder block: a step of a big model takes ~20 s on a
        CPU, so Cancel (and a chat reply wanting its core back) is noticed within a block, not a step."""
        def check(module, args):
            if should_stop():
                raise Cancelled
            self._apply_threads()
        unet, decoder = self.pipe.unet, getattr(self.pipe.vae, "decoder", None)
        blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
        if decoder is not None:
            blocks += [decoder.mid_block, *decoder.up_blocks]
        handles = [b.register_forward_pre_hook(check) for b in blocks if b is not None]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def generate(self, request: ImageRequest, on_progress: Callable[[ImageProgress], None],
                 should_stop: Callable[[], bool]) -> list[ImageResult]:
        import torch
        if self.pipe is None:
            raise EngineError("No image model is loaded.")
        try:   # the doors checked against what they knew; the model's own limits are checked here
            request.validate(self.limits())
        except RecipeError as exc:
            raise EngineError(str(exc)) from None
        # LoRAs first: all are found and checked before any is applied, and nothing renders half-applied.
        applied = self.loras.apply(self.pipe, request.loras, self.lora_dirs, self.model_name)
        edit = None
        if request.init:   # --init: edit that picture instead of drawing from noise (img2img.py)
            request, edit = img2img.prepare(request, self.limits())
        if self.pipe.unet.config.in_channels == 9:   # an inpainting checkpoint draws through its mask input
            edit = img2img.for_inpainting_model(request, edit, self.defaults)
        base_seed = request.seed if request.seed is not None else random.randrange(2**32)
        count = request.count
        notes = [n for n in (self.prompt_note(request.prompt),
                             self.prompt_note(request.negative, "negative prompt") if request.negative else "") if n]
        results: list[ImageResult] = []
        self._apply_threads()
        for n in range(count):
            seed = (base_seed + n) % 2**64   # torch's generator takes 64-bit seeds (ComfyUI's are)
            req = self.resolve(request, seed, applied)
            self._set_scheduler(req.scheduler)

            def callback(pipe, i, t, kwargs, picture=n + 1, req=req):
                if should_stop():
                    raise Cancelled
                # The scheduler's own count: PNDM runs N+1 steps, Heun 2N-1; the request says N.
                total = getattr(pipe, "_num_timesteps", 0) or len(pipe.scheduler.timesteps)
                step = i + 1
                preview = (self._preview(self._denoised(kwargs["latents"]))
                           if step % PREVIEW_EVERY == 0 and step < total else None)
                on_progress(ImageProgress("step", step, total, picture, count, preview, req))
                if step >= total:
                    on_progress(ImageProgress("decoding", step, total, picture, count, None, req))
                return kwargs

            run = img2img.edit_call(self.pipe, edit) if edit else self.pipe   # same components, same hooks
            try:
                with self._block_hooks(should_stop):
                    out = run(req.prompt, negative_prompt=req.negative or None, num_inference_steps=req.steps,
                                    guidance_scale=req.cfg, width=req.width, height=req.height,
                                    generator=torch.Generator("cpu").manual_seed(seed),
                                    callback_on_step_end=callback)
            except Cancelled:
                if self.cpu_offload and hasattr(self.pipe, "maybe_free_model_hooks"):
                    self.pipe.maybe_free_model_hooks()
                return results   # the pictures finished before the stop are kept
            except RuntimeError as exc:
                plain = rt.plain_error(exc)
                if plain:
                    raise EngineError(plain) from exc
                raise
            results.append(ImageResult(out.images[0], seed, req, list(notes)))
            on_progress(ImageProgress("done", 0, 0, n + 1, count, None, req))
        return results
