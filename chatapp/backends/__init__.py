"""Which engine answers: the registry of chat and image backends, and which settings changes reload one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import secrets
from .local import IMAGE_RELOAD_FIELDS
from .local import image_factory as local_image_factory
from .local import llm_factory
from ..settings import Paths, Settings


@dataclass(frozen=True)
class Backend:
    name: str                 # the value of Settings.llm_backend / image_backend
    label: str                # what the Settings dialog shows
    factory: Callable[[Settings, Paths | None], Callable[[], object]]   # runs on the GUI thread; make() on the worker
    reload_keys: tuple[str, ...]   # Settings fields whose change needs a new engine
    remote: bool = False      # talks to a server: reconnects on every Settings save (picks up a new key, a server back up)


def _remote_chat(settings: Settings, paths: Paths | None):
    config_dir = paths.config_dir if paths else None

    def make():
        from ..engines.openai_chat import OpenAIChatEngine
        key = secrets.get_key("llm", config_dir) if config_dir else ""   # keychain read: on the worker thread
        return OpenAIChatEngine(settings.llm_remote_url, settings.llm_remote_model, key,
                                n_ctx=settings.llm_remote_ctx, timeout=settings.llm_remote_timeout)
    return make


def _remote_image(settings: Settings, paths: Paths | None):
    config_dir = paths.config_dir if paths else None

    def make():
        from ..engines.openai_images import OpenAIImageEngine
        key = secrets.get_key("image", config_dir) if config_dir else ""
        return OpenAIImageEngine(settings.image_remote_url, settings.image_remote_model, key,
                                 timeout=settings.image_remote_timeout)
    return make


CHAT = {b.name: b for b in (
    Backend("local", "Local GGUF file", lambda s, _p: llm_factory(s), ("llm_model", "n_ctx", "n_threads", "n_gpu_layers")),
    Backend("openai", "OpenAI-compatible server", _remote_chat,
            ("llm_remote_url", "llm_remote_model", "llm_remote_ctx", "llm_remote_timeout"), remote=True),
)}
IMAGE = {b.name: b for b in (
    Backend("local", "Local diffusers model", lambda s, _p: local_image_factory(s), IMAGE_RELOAD_FIELDS),
    Backend("openai", "OpenAI images API server", _remote_image,
            ("image_remote_url", "image_remote_model", "image_remote_timeout"), remote=True),
)}


def chat_backend(settings: Settings) -> Backend:
    return CHAT.get(settings.llm_backend, CHAT["local"])


def image_backend(settings: Settings) -> Backend:
    return IMAGE.get(settings.image_backend, IMAGE["local"])


def chat_factory(settings: Settings, paths: Paths | None = None) -> Callable[[], object]:
    return chat_backend(settings).factory(settings, paths)


def image_factory(settings: Settings, paths: Paths | None = None) -> Callable[[], object]:
    return image_backend(settings).factory(settings, paths)


def _needs_reload(pick, old: Settings, new: Settings) -> bool:
    before, after = pick(old), pick(new)
    if before is not after or after.remote:
        return True
    return any(getattr(old, k) != getattr(new, k) for k in after.reload_keys)


def chat_needs_reload(old: Settings, new: Settings) -> bool:
    return _needs_reload(chat_backend, old, new)


def image_needs_reload(old: Settings, new: Settings) -> bool:
    return _needs_reload(image_backend, old, new)


def list_model_ids(base_url: str, api_key: str, timeout: float = 8.0) -> list[str]:
    """GET /models for the Settings drop-down; blocking, so callers run it off the GUI thread."""
    from ..engines.openai_chat import list_models
    from ..engines.remote import RemoteClient, check_url
    client = RemoteClient(check_url(base_url, "model"), api_key, timeout)
    try:
        return [m.id for m in list_models(client, "model")]
    finally:
        client.close()
