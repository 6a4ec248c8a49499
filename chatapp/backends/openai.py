"""The server backends: chat through any OpenAI-compatible server, pictures through an OpenAI images API."""
from __future__ import annotations

from dataclasses import dataclass

from ..checks import NAME, URL, Flag, Number, option
from ..settings import Paths, Settings
from . import secrets
from .base import Backend

_URL_HELP = "the server's base URL, e.g. http://gpu-box:8000/v1"


@dataclass(frozen=True)
class OpenAIChatOptions:
    url: str = option("", URL, "Server URL", help=_URL_HELP, role="url")
    model: str = option("", NAME, "Model", help="the model to ask that server for (default: its first)",
                        role="model", placeholder="the server's first model")
    ctx: int = option(4096, Number(256, 1 << 20), "Context length (if the server does not say)", step=1024,
                      help="the context length to trim to when the server does not report one")
    timeout: float = option(60.0, Number(1.0, 3600.0), "Give up after silence of (s)", decimals=0, step=5,
                            help="seconds without a byte from the server before a reply is given up")
    sees: bool = option(False, Flag(), "This model can see pictures",
                        help="for a server that does not say (vLLM, OpenAI, another OpenAI-compatible one): pictures "
                             "go to it in messages; llama-server, Ollama and LM Studio say so themselves, and "
                             "their word counts")


@dataclass(frozen=True)
class OpenAIImageOptions:
    url: str = option("", URL, "Server URL", help=_URL_HELP, role="url")
    model: str = option("", NAME, "Model", help="the image model to ask that server for",
                        role="model", placeholder="the server's default")
    timeout: float = option(300.0, Number(5.0, 3600.0), "Wait for a picture up to (s)", decimals=0, step=10,
                            help="seconds to wait for one picture")


def list_model_ids(base_url: str, api_key: str, timeout: float = 8.0) -> list[str]:
    """GET /models for the Settings drop-down; blocking, so callers run it off the GUI thread."""
    from ..engines.openai_chat import list_models
    from ..engines.remote import RemoteClient, check_url
    client = RemoteClient(check_url(base_url, "model"), api_key, timeout)
    try:
        return [m.id for m in list_models(client, "model")]
    finally:
        client.close()


def _key(name: str, paths: Paths | None) -> str:
    return secrets.get_key(name, paths.config_dir) if paths else ""   # a keychain read: on the worker thread


def _chat(options: OpenAIChatOptions, _settings: Settings, paths: Paths | None):
    def make():
        from ..engines.openai_chat import OpenAIChatEngine
        return OpenAIChatEngine(options.url, options.model, _key("llm", paths), n_ctx=options.ctx,
                                timeout=options.timeout, sees=options.sees)
    return make


def _image(options: OpenAIImageOptions, _settings: Settings, paths: Paths | None):
    def make():
        from ..engines.openai_images import OpenAIImageEngine
        return OpenAIImageEngine(options.url, options.model, _key("image", paths), timeout=options.timeout)
    return make


# The key names "llm" and "image" are the ones keys were stored under before the registry.
CHAT = Backend("openai", "OpenAI-compatible server", OpenAIChatOptions, _chat,
               list_models=lambda o, key: list_model_ids(o.url, key), secret="llm", remote=True,
               flags=(("--llm-url", "url"), ("--llm-remote-model", "model")))
IMAGE = Backend("openai", "OpenAI images API server", OpenAIImageOptions, _image,
                list_models=lambda o, key: list_model_ids(o.url, key), secret="image", remote=True,
                flags=(("--image-url", "url"), ("--image-remote-model", "model")))
