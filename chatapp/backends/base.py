"""The backend shape: a name, a label, its own options dataclass, a factory, a model listing, its key's name."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Callable

from ..registry import Registry
from ..settings import Paths, Settings


@dataclass(frozen=True)
class Backend:
    name: str                 # the value of Settings.llm_backend / image_backend, and its options' key
    label: str                # what the Settings dialog's backend drop-down shows
    options: type             # its options dataclass, each field made with checks.option()
    # (options, settings, paths) -> make: runs on the GUI thread; make() builds the engine on the worker.
    factory: Callable[[Any, Settings, Paths | None], Callable[[], object]]
    # (options, api key) -> model ids, for the Settings drop-down; blocking, so called off the GUI thread.
    list_models: Callable[[Any, str], list[str]] | None = None
    secret: str = ""          # its API key's name in backends.secrets; "" = it takes no key
    remote: bool = False      # talks to a server: reconnects on every Settings save (a new key, a server back up)
    flat: bool = False        # its options are Settings' own fields of the same names (the local backends)
    # Command-line flags: (flag, option field); the first one given chooses this backend for the run.
    flags: tuple[tuple[str, str], ...] = ()

    def reload_fields(self) -> tuple[str, ...]:
        """Options whose change needs a new engine."""
        return tuple(f.name for f in fields(self.options) if f.metadata.get("reload", True))


CHAT: Registry[Backend] = Registry("chat backend")
IMAGE: Registry[Backend] = Registry("image backend")
KINDS = {"chat": CHAT, "image": IMAGE}
CHOSEN_BY = {"chat": "llm_backend", "image": "image_backend"}   # the Settings field naming each kind's backend


def chosen(kind: str, settings: Settings) -> Backend:
    """The backend settings name for this kind; the local one when it names none that is registered."""
    return KINDS[kind].find(getattr(settings, CHOSEN_BY[kind]), default="local")


def option_name(kind: str, backend: Backend, field_name: str) -> str:
    """The setting's name in the options schema, settings files and --set: "n_ctx" or "chat.openai.url"."""
    return field_name if backend.flat else f"{kind}.{backend.name}.{field_name}"


def option_fields():
    """(setting name, options dataclass, field) for every registered backend's every option."""
    for kind, registry in KINDS.items():
        for backend in registry.values():
            for f in fields(backend.options):
                yield option_name(kind, backend, f.name), backend.options, f


def options_of(kind: str, backend: Backend, settings: Settings):
    """The backend's options as its own dataclass, from wherever Settings keeps them."""
    if backend.flat:
        return backend.options(**{f.name: getattr(settings, f.name) for f in fields(backend.options)})
    value = settings.backend_options.get(f"{kind}.{backend.name}")
    return value if isinstance(value, backend.options) else backend.options()


def with_options(settings: Settings, kind: str, backend: Backend, options) -> Settings:
    """A copy of settings keeping these options for the backend (the old settings stay as they were)."""
    if backend.flat:
        return replace(settings, **{f.name: getattr(options, f.name) for f in fields(options)})
    return replace(settings, backend_options={**settings.backend_options, f"{kind}.{backend.name}": options})


def choose(settings: Settings, kind: str, name: str, **values) -> Settings:
    """A copy with this backend chosen and some of its options set (the rest as they were)."""
    backend = KINDS[kind][name]
    settings = replace(settings, **{CHOSEN_BY[kind]: name})
    return with_options(settings, kind, backend, replace(options_of(kind, backend, settings), **values))
