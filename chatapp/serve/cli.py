"""`chatapp serve [--host] [--port] [--llm-model] [--image-model]`: load the models, then serve them."""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from ..engines.defaults import DEFAULT_IMAGE_MODEL
from ..settings import Settings, arg_type

KEY_ENV = "CHATAPP_SERVE_API_KEY"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="chatapp serve",
                                description="Serve chatapp's models on the OpenAI HTTP API (/v1/models, "
                                            "/v1/chat/completions, /v1/images/generations).")
    p.add_argument("--host", default="127.0.0.1",
                   help=f"address to listen on (default 127.0.0.1; any other needs the env variable {KEY_ENV})")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--llm-model", metavar="PATH", help="a GGUF chat model (default: the embedded SmolLM2-135M)")
    p.add_argument("--projector", metavar="PATH", default="",
                   help="the chat model's vision projector (an mmproj GGUF), so it sees pictures (default: the "
                        "fitting mmproj file beside the model, if any)")
    p.add_argument("--image-model", metavar="PATH", help="a diffusers folder or .safetensors checkpoint "
                                                         f"(default: the embedded {DEFAULT_IMAGE_MODEL.name} model)")
    p.add_argument("--lora-dir", metavar="PATH", default="",
                   help="a folder of LoRA .safetensors files, used by <lora:NAME:WEIGHT> in image prompts "
                        "(chatapp's own LoRAs are always found)")
    p.add_argument("--no-llm", action="store_true", help="serve no chat model")
    p.add_argument("--no-image", action="store_true", help="serve no image model (starts faster, no torch)")
    # Checked as the settings file and --set are (settings.OPTIONS): 100000 threads would abort llama.cpp.
    # The desktop's default (room for the built-in tools' ~1,500 prompt tokens beside a chat).
    p.add_argument("--n-ctx", type=arg_type("n_ctx"), default=Settings.n_ctx,
                   help=f"chat context length (default {Settings.n_ctx})")
    p.add_argument("--n-gpu-layers", type=arg_type("n_gpu_layers"), default=0,
                   help="layers of the chat model on the GPU (-1: all)")
    p.add_argument("--threads", type=arg_type("n_threads"), default=0,
                   help="CPU threads for the chat model (0: half the cores)")
    p.add_argument("--cors-origin", metavar="ORIGIN", action="append", default=[],
                   help="let web pages from ORIGIN (e.g. http://localhost:3000; '*' for any) call this server "
                        "from a browser; repeatable. Off by default: a page you visit cannot use your models")
    return p.parse_args(argv)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _load(kind: str, engine, log):
    """Load on the slot's own thread: that thread owns the engine for the server's whole life."""
    from .app import Slot
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{kind}-model")
    info = executor.submit(engine.load).result()
    log.info("%s model ready: %s", kind, info.name)
    return Slot(kind, engine, info, executor)


def asgi_app(slots: list, key: str = "", cors_origins: list[str] = ()):
    """The served app: FastAPI inside the gate; browsers' CORS only for the origins asked for."""
    from .app import create_app
    from .gate import Gate
    sees = any(s.kind == "chat" and s.engine.capabilities.vision for s in slots)
    app = Gate(create_app(slots), api_key=key, pictures=sees)
    if cors_origins:
        # Outside the gate: a browser's preflight (OPTIONS) carries no API key, and the gate's own
        # refusals (401, 413) need the CORS headers for the page to read them.
        from starlette.middleware.cors import CORSMiddleware
        app = CORSMiddleware(app, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
                             allow_headers=["*"], max_age=600)
    return app


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    log = logging.getLogger("chatapp.serve")
    key = os.environ.get(KEY_ENV, "")
    if not is_loopback(args.host) and not key:
        print(f"chatapp serve: refusing to listen on {args.host} without an API key. Anyone who can reach "
              f"this address could use the models. Set {KEY_ENV} (clients send it as a Bearer token), "
              "or listen on 127.0.0.1.", file=sys.stderr)
        return 2
    from ..app import go_offline
    go_offline()
    from ..backends import local as engine_factories
    from ..engines.base import EngineError
    from ..engines.lora import lora_folders
    from ..settings import Settings
    settings = Settings(llm_model=args.llm_model or "", projector=args.projector, image_model=args.image_model or "",
                        n_ctx=args.n_ctx, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers)
    slots = []
    try:
        if not args.no_llm:
            slots.append(_load("chat", engine_factories.llm_factory(settings)(), log))
        if not args.no_image:
            image_engine = engine_factories.image_factory(settings)()
            if image_engine.capabilities.loras:   # a local pipeline (a remote images server has its own)
                image_engine.lora_dirs = lora_folders(args.lora_dir, None)
            slots.append(_load("image", image_engine, log))
    except EngineError as exc:
        print(f"chatapp serve: {exc}", file=sys.stderr)
        return 1
    if not slots:
        print("chatapp serve: nothing to serve (both --no-llm and --no-image).", file=sys.stderr)
        return 2
    import uvicorn

    app = asgi_app(slots, key, args.cors_origin)
    log.info("serving on http://%s:%d/v1%s", args.host, args.port, " (API key required)" if key else "")
    for slot in slots:
        if slot.kind == "chat" and slot.engine.capabilities.vision:
            log.info("%s sees pictures (image_url parts, data URLs)", slot.id)
    # Our gate writes one line per request when it ends; uvicorn's access log would add a second.
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
