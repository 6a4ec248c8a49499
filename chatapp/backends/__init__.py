"""Which engine answers: the chat and image backend registries, and which settings changes reload one.

A backend (backends/base.Backend) registers here like a plugin would: one line per backend below.
"""
from __future__ import annotations

from typing import Callable

from . import local, openai, secrets
from .base import (CHAT, CHOSEN_BY, IMAGE, KINDS, Backend, choose, chosen, option_fields, option_name, options_of,
                   with_options)
from .openai import list_model_ids
from ..settings import Paths, Settings

for _kind, _backend in (("chat", local.CHAT), ("chat", openai.CHAT), ("image", local.IMAGE), ("image", openai.IMAGE)):
    KINDS[_kind].register(_backend.name, _backend)

__all__ = ["CHAT", "CHOSEN_BY", "IMAGE", "KINDS", "Backend", "choose", "chosen", "option_fields", "option_name",
           "options_of", "with_options", "list_model_ids", "secrets", "chat_backend", "image_backend",
           "chat_factory", "image_factory", "needs_reload", "chat_needs_reload", "image_needs_reload"]


def chat_backend(settings: Settings) -> Backend:
    return chosen("chat", settings)


def image_backend(settings: Settings) -> Backend:
    return chosen("image", settings)


def factory(kind: str, settings: Settings, paths: Paths | None = None) -> Callable[[], object]:
    backend = chosen(kind, settings)
    return backend.factory(options_of(kind, backend, settings), settings, paths)


def chat_factory(settings: Settings, paths: Paths | None = None) -> Callable[[], object]:
    return factory("chat", settings, paths)


def image_factory(settings: Settings, paths: Paths | None = None) -> Callable[[], object]:
    return factory("image", settings, paths)


def needs_reload(kind: str, old: Settings, new: Settings) -> bool:
    before, after = chosen(kind, old), chosen(kind, new)
    if before is not after or after.remote:
        return True
    was, now = options_of(kind, after, old), options_of(kind, after, new)
    return any(getattr(was, name) != getattr(now, name) for name in after.reload_fields())


def chat_needs_reload(old: Settings, new: Settings) -> bool:
    return needs_reload("chat", old, new)


def image_needs_reload(old: Settings, new: Settings) -> bool:
    return needs_reload("image", old, new)
