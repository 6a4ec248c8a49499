"""Pictures through the OpenAI images API (POST /images/generations and /images/edits, b64_json) of any compatible server."""
from __future__ import annotations

import base64
import io
import os
import queue
import random
import time
from typing import Callable

from ..recipes.loras import with_tags
from ..recipes.request import MAX_SIDE, ImageRequest
from .base import EngineError, ImageCapabilities, ImageResult, ModelInfo
from .img2img import edit_fields
from .masks import openai_mask
from .remote import RemoteCall, RemoteClient, check_url, describe_error, host_of


def recipe_fields(request: ImageRequest, seed: int) -> dict:
    """The recipe fields the OpenAI API lacks; `chatapp serve` honours them, other servers ignore them."""
    fields = {"negative_prompt": request.negative or None, "steps": request.steps, "cfg_scale": request.cfg,
              "seed": seed, "scheduler": request.scheduler,
              "strength": request.strength if request.init else None}
    return {k: v for k, v in fields.items() if v is not None}


def edit_uploads(request: ImageRequest) -> dict:
    """The picture to edit and its mask as the edits endpoint takes them (OpenAI's mask: transparent =
    redraw); `strength` goes with the recipe fields. Unreadable files are a plain message."""
    from .img2img import open_picture
    open_picture(request.init, "picture to edit").close()   # checked: EngineError says what is wrong
    with open(request.init, "rb") as f:
        uploads = {"image": (os.path.basename(request.init), f.read(), "image/png")}
    if request.mask:
        open_picture(request.mask, "mask").close()
        uploads["mask"] = ("mask.png", openai_mask(request.mask), "image/png")
    return uploads


class OpenAIImageEngine:
    """One request at a time, on the image worker; Cancel closes the connection and drops the answer."""

    capabilities = ImageCapabilities(edits=True)   # the server's LoRAs, threads and cores are its own

    def __init__(self, base_url: str, model: str = "", api_key: str = "", *, timeout: float = 300.0):
        self.base_url, self.model, self.api_key, self.timeout = base_url, model.strip(), api_key, timeout
        self.client: RemoteClient | None = None
        self.model_name, self.model_hash = self.model, ""
        self.defaults: dict = {"max_size": MAX_SIDE}

    def load(self) -> ModelInfo:
        import openai
        self.base_url = check_url(self.base_url, "image")
        self.client = RemoteClient(self.base_url, self.api_key, self.timeout)
        try:
            models = list(self.client.openai.models.list())
        except openai.NotFoundError:
            models = []   # some image servers have no model list; the first picture will tell
        except Exception as exc:
            raise EngineError(describe_error(exc, self.base_url, "image")) from exc
        ids = [m.id for m in models]
        if self.model and ids and self.model not in ids:
            raise EngineError(f"The image server at {host_of(self.base_url)} has no model '{self.model}'. "
                              f"It offers: {', '.join(ids[:8])}. Choose one in Settings.")
        if not self.model:
            # `chatapp serve` marks its image model; elsewhere the server picks its default.
            marked = [m for m in models if (m.model_extra or {}).get("chatapp_kind") == "image"]
            self.model = marked[0].id if marked else ""
        mine = next((m for m in models if m.id == self.model), None)
        reported = (mine.model_extra or {}).get("image_defaults") if mine is not None else None
        if isinstance(reported, dict):
            self.defaults.update(reported)
        self.model_name = self.model or host_of(self.base_url)
        name = f"{self.model} @ {host_of(self.base_url)}" if self.model else host_of(self.base_url)
        return ModelInfo(name=name, path=self.base_url,
                         details=dict(self.defaults))

    def generate(self, request: ImageRequest, on_step: Callable[[int, int, object], None],
                 should_stop: Callable[[], bool]) -> list[ImageResult]:
        if self.client is None:
            raise EngineError("Not connected to the image server.")
        seed = request.seed if request.seed is not None else random.randrange(2**32)
        # LoRAs travel as AUTOMATIC1111's prompt tags, which `chatapp serve` (and A1111-style servers)
        # apply; dropping them silently would give a picture without what was asked for.
        kwargs = dict(prompt=with_tags(request.prompt, request.loras), n=request.count, response_format="b64_json",
                      extra_body=recipe_fields(request, seed))
        if request.width and request.height and not request.init:   # an edit keeps its picture's size
            kwargs["size"] = f"{request.width}x{request.height}"
        if self.model:
            kwargs["model"] = self.model
        call = RemoteCall()
        openai_client = self.client.openai
        if request.init:   # an edit: OpenAI's edits endpoint, the picture (and mask) as uploads
            kwargs.update(edit_uploads(request))
            call.start(lambda: [openai_client.images.edit(**kwargs)])
        else:
            call.start(lambda: [openai_client.images.generate(**kwargs)])
        start = time.perf_counter()
        try:
            while True:
                if should_stop():
                    return []   # cancelled: the connection is closed below, the answer dropped
                try:
                    kind, item = call.get()
                except queue.Empty:
                    if time.perf_counter() - start > self.timeout:
                        raise EngineError(f"The image server at {host_of(self.base_url)} sent no picture within "
                                          f"{self.timeout:.0f} s; chatapp stopped waiting.") from None
                    continue
                if kind == "error":
                    raise EngineError(describe_error(item, self.base_url, "image", self.model)) from item
                if kind == "item":
                    return self._results(item, request, seed)
        finally:
            call.stop()

    def _results(self, response, request: ImageRequest, seed: int) -> list[ImageResult]:
        from PIL import Image
        results = []
        for n, item in enumerate(response.data or []):
            if not item.b64_json:
                raise EngineError(f"The image server at {host_of(self.base_url)} sent no picture data "
                                  "(it must support response_format=b64_json).")
            try:
                image = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
                image.load()
            except Exception as exc:
                raise EngineError(f"The image server at {host_of(self.base_url)} sent a picture chatapp "
                                  f"could not read ({exc}).") from exc
            recipe = (item.model_extra or {}).get("recipe") or {}
            # What was really used, where the server says so (ours does); else what was asked for.
            resolved = ImageRequest(
                prompt=request.prompt, negative=request.negative, steps=recipe.get("steps", request.steps),
                cfg=recipe.get("cfg", request.cfg), seed=int(recipe.get("seed", (seed + n) % 2**64)),   # 64-bit seeds, as the local engine
                width=image.width, height=image.height, scheduler=recipe.get("scheduler", request.scheduler),
                count=1, loras=_loras(recipe, request), **edit_fields(request))
            results.append(ImageResult(image.convert("RGB"), resolved.seed, resolved))
        if not results:
            raise EngineError(f"The image server at {host_of(self.base_url)} answered without a picture.")
        return results


def _loras(recipe: dict, request: ImageRequest) -> list:
    """The LoRAs the server says it applied, with their hashes (ours does); else those asked for."""
    if isinstance(recipe.get("loras"), list):
        return [(x["name"], float(x["weight"]), x.get("hash", "")) for x in recipe["loras"]
                if isinstance(x, dict) and "name" in x and "weight" in x]
    return list(request.loras)
