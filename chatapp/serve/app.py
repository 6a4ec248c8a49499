"""The OpenAI-compatible HTTP API over chatapp's own engines (FastAPI): models, chat completions, images."""
from __future__ import annotations

import asyncio
import base64
import io
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException

from ..engines.base import EngineError, ModelInfo
from ..engines.lora import LoraError
from ..recipes import RecipeError
from ..recipes.request import ImageRequest, ModelLimits, prompt_and_loras
from .chat import complete
from .edits import edit_body, save_mask, save_picture
from .schemas import ApiError, ChatBody, ImageBody

DISCONNECT_POLL_S = 0.25   # how often a non-streaming request checks that its client is still there
MAX_N = 4                  # pictures per request (the desktop's /image draws up to 8, one message each)
# How this API names the recipe's fields (the validation's messages and the error's param).
API_NAMES = {"prompt": "prompt", "negative": "negative_prompt", "steps": "steps", "cfg": "cfg_scale", "seed": "seed",
             "size": "size", "count": "n", "scheduler": "scheduler", "init": "image", "strength": "strength",
             "mask": "mask", "loras": "prompt"}


class Slot:
    """One loaded engine and the one thread that owns it: requests run there in turn, the rest queue."""

    def __init__(self, kind: str, engine, info: ModelInfo, executor: ThreadPoolExecutor):
        self.kind, self.engine, self.info, self.executor = kind, engine, info, executor
        self.id = info.name

    def card(self) -> dict:
        card = {"id": self.id, "object": "model", "created": 0, "owned_by": "chatapp", "chatapp_kind": self.kind}
        if self.kind == "chat":
            card["context_length"] = self.info.n_ctx
        else:
            d = self.info.details
            card["image_defaults"] = {k: d[k] for k in ("steps", "cfg", "width", "height", "max_size") if k in d}
        return card


def _pick(slots: list[Slot], kind: str, name: str | None) -> Slot:
    mine = [s for s in slots if s.kind == kind]
    if not mine:
        raise ApiError(404, f"This server has no {kind} model loaded.", param="model", code="model_not_found")
    if name in (None, ""):
        return mine[0]
    for s in mine:
        if s.id == name:
            return s
    for s in slots:
        if s.id == name:   # served, but for the other endpoint
            raise ApiError(404, f"'{name}' is an image model; chat needs a chat model "
                                f"({', '.join(m.id for m in mine)})." if s.kind == "image" else
                                f"'{name}' is a chat model; pictures need an image model "
                                f"({', '.join(m.id for m in mine)}).", param="model", code="model_not_found")
    raise ApiError(404, f"The model '{name}' does not exist here; GET /v1/models lists "
                        f"{', '.join(s.id for s in slots)}.", param="model", code="model_not_found")


def _note(request: Request, **fields) -> None:
    """Facts for this request's one log line (written by the gate when the response ends)."""
    request.scope.setdefault("chatapp.log", {}).update(fields)


async def _wait(request: Request, future, stop: threading.Event):
    """Await a job on an engine thread; a client that goes away stops it (and frees the model)."""
    while True:
        done, _ = await asyncio.wait({future}, timeout=DISCONNECT_POLL_S)
        if done:
            return future.result()
        if await request.is_disconnected():
            stop.set()
            _note(request, client_gone=True)
            raise ApiError(499, "The client closed the request.")   # nginx's code; nobody reads it


def create_app(slots: list[Slot]) -> FastAPI:
    app = FastAPI(title="chatapp", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        _note(request, error=exc.message)
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":   # its loc is a character offset, not a field
            why = (first.get("ctx") or {}).get("error", "")
            return await _api_error(request, ApiError(400, f"The request body is not valid JSON ({why})."
                                                      if why else "The request body is not valid JSON."))
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))
        return await _api_error(request, ApiError(400, message, param=where))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        return await _api_error(request, ApiError(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        return await _api_error(request, ApiError(500, f"Internal error: {exc}", kind="server_error"))

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [s.card() for s in slots]}

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str):
        for s in slots:
            if s.id == model_id:
                return s.card()
        raise ApiError(404, f"The model '{model_id}' does not exist here; GET /v1/models lists "
                            f"{', '.join(s.id for s in slots)}.", param="model", code="model_not_found")

    @app.get("/props")
    async def props(model: str | None = None):
        """llama.cpp server's GET /props, the fields that hold here: clients (chatapp's remote engine,
        llama.cpp's web UI) read `modalities` to learn whether the model sees pictures. `?model=` picks
        a chat model, as llama-server's router does; OpenAI's model objects have no such field."""
        slot = _pick(slots, "chat", model)
        return {"default_generation_settings": {"n_ctx": slot.info.n_ctx}, "total_slots": 1, "model_alias": slot.id,
                "modalities": {"vision": bool(slot.engine.capabilities.vision), "audio": False}}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatBody, request: Request):
        slot = _pick(slots, "chat", body.model)
        _note(request, model=slot.id, stream=body.stream)

        def wait(future, stop: threading.Event | None = None):
            return _wait(request, future, stop or threading.Event())
        return await complete(request, slot, body, wait, _note)

    @app.post("/v1/images/generations")
    async def images(body: ImageBody, request: Request):
        slot = _pick(slots, "image", body.model)
        width, height = body.width_height()
        return await _render(request, slot, _request(slot, body, API_NAMES, width=width, height=height))

    @app.post("/v1/images/edits")
    async def image_edits(request: Request):
        """OpenAI's edits endpoint (multipart): the picture, an optional mask, the prompt; chatapp's
        recipe fields and `strength` ride along as form fields, as on generations."""
        form = await request.form()
        body = edit_body(form)
        slot = _pick(slots, "image", body.model)
        upload = form.get("image")
        if not isinstance(upload, StarletteUpload):
            raise ApiError(400, "Send the picture to edit as the multipart file field 'image'.", param="image")
        mask_upload = form.get("mask")
        with tempfile.TemporaryDirectory(prefix="chatapp-serve-") as folder:   # this server keeps no files
            # Decoding and re-encoding a big PNG takes a while: off the server's event loop.
            init, size = await asyncio.to_thread(save_picture, await upload.read(), Path(folder))
            # Drawn at the picture's size, each side down to a multiple of 8 (as the engine would).
            width, height = (max(8, side // 8 * 8) for side in size)
            names = {**API_NAMES, "size": "image"}   # here the size is the uploaded picture's
            req = _request(slot, body, names, width=width, height=height, init=str(init), strength=body.strength)
            if isinstance(mask_upload, StarletteUpload):
                req.mask = str(await asyncio.to_thread(save_mask, await mask_upload.read(), size, Path(folder)))
            return await _render(request, slot, req)

    return app


def _request(slot: Slot, body, names: dict, **fields) -> ImageRequest:
    """The body's recipe, checked by the recipe's one validation (as /image's is): a mistake is a 400
    naming the field. LoRAs come as <lora:NAME:WEIGHT> in the prompt, as AUTOMATIC1111's API takes them."""
    limits = ModelLimits.from_defaults(slot.id, slot.info.details, count=(1, MAX_N), fits=None)
    try:
        prompt, loras = prompt_and_loras(body.prompt, body.negative_prompt, names=names)
        return ImageRequest.from_fields(prompt=prompt, negative=body.negative_prompt, steps=body.steps,
                                        cfg=body.cfg_scale, seed=body.seed, scheduler=body.scheduler, count=body.n,
                                        loras=loras, limits=limits, names=names, **fields)
    except RecipeError as exc:
        raise ApiError(400, str(exc), param=names.get(exc.field)) from None


async def _render(request: Request, slot: Slot, req: ImageRequest) -> dict:
    """Run one image request on the model's thread; a client that leaves stops it."""
    _note(request, model=slot.id)
    stop = threading.Event()

    def work():
        if stop.is_set():
            return []
        results = slot.engine.generate(req, lambda *_: None, stop.is_set)
        return [_encoded(r) for r in results]
    try:
        data = await _wait(request, asyncio.wrap_future(slot.executor.submit(work)), stop)
    except LoraError as exc:   # a LoRA the prompt names that is missing or does not fit this model
        raise ApiError(400, str(exc), param="prompt") from exc
    except EngineError as exc:
        raise ApiError(500, str(exc), kind="server_error") from exc
    return {"created": int(time.time()), "data": data}


def _encoded(result) -> dict:
    buf = io.BytesIO()
    result.image.save(buf, format="PNG")
    r = result.request
    return {"b64_json": base64.b64encode(buf.getvalue()).decode("ascii"), "revised_prompt": r.prompt,
            "recipe": {"steps": r.steps, "cfg": r.cfg, "seed": r.seed, "width": r.width, "height": r.height,
                       "scheduler": r.scheduler,
                       "loras": [{"name": n, "weight": w, "hash": h[0] if h else ""} for n, w, *h in r.loras]}}
