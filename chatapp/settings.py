"""User settings: one dataclass, saved as JSON in the user's config dir; env and CLI override dirs."""
from __future__ import annotations

import json
import os
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

import platformdirs

from .checks import NAME, PATH, THREADS, URL, Flag, Many, McpServers, Number, Text, fits_type, option  # noqa: F401 (settings' API)
from .conversation import GenParams
from .recipes.request import MAX_CFG, MAX_STEPS

APP_NAME = "chatapp"
DEFAULT_SYSTEM_PROMPT = "You are a helpful, concise assistant."


@dataclass
class Settings:
    # The local backends' options (backends/local.py) keep their historic top-level names: the model
    # picker, `chatapp serve` and the documents read them too.
    llm_model: str = ""            # "" means the embedded default GGUF
    image_model: str = ""          # "" means the embedded default diffusers folder
    projector: str = ""            # the chat model's vision projector (mmproj); "" = the fitting one beside it, if any
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    # Sampling: the defaults are GenParams' own, so they are written in one place (the reply's length apart).
    temperature: float = GenParams.temperature
    top_p: float = GenParams.top_p
    top_k: int = GenParams.top_k
    min_p: float = GenParams.min_p
    repeat_penalty: float = GenParams.repeat_penalty
    # No limit (0): a reply runs to its end or the context's, as in LM Studio and Ollama (a reasoning model thinks
    # for thousands of tokens; the old 512 cut most of them off). Stop ends a rambling one.
    max_tokens: int = 0
    seed: int = GenParams.seed
    n_ctx: int = 4096              # as LM Studio and GPT4All: room for the built-in tools (~1,500 tokens) and a chat
    n_threads: int = 0             # 0: let llama.cpp choose
    n_gpu_layers: int = 0
    image_steps: int = 0           # 0: the image model's own default
    image_cfg: float = 0.0
    image_size: str = ""           # "" or "WxH"
    attention_slicing: bool = False
    cpu_offload: bool = False
    preload_image_model: bool = False
    llm_backend: str = "local"        # a name in backends.CHAT ("local": a GGUF file, "openai": a server)
    image_backend: str = "local"      # a name in backends.IMAGE
    # Every other backend's options, as its own dataclass under "KIND.NAME" ("chat.openai"); a backend
    # that is not installed now keeps its plain dict, so its options survive a save.
    backend_options: dict[str, Any] = field(default_factory=dict)
    library_folder: str = ""       # documents: every supported file under it is indexed ("" = no library)
    image_threads: int = 0         # torch threads for pictures; 0: every core, half while a reply streams
    image_precision: str = "auto"  # "auto" | "float32" | "bfloat16"; auto: bfloat16 on a CPU only where faster
    vae_tiling: bool = False       # decode pictures in tiles: less memory for large pictures, a little slower
    image_idle_unload_min: int = 10   # free the image model after this many idle minutes; 0: keep it loaded
    model_folders: str = ""           # extra folders the model picker scans, separated by os.pathsep
    theme: str = "system"             # "system" (follow the desktop), "light" or "dark"
    lora_folder: str = ""             # LoRAs for /image --lora; "" = <data dir>/loras (chatapp's own are found too)
    embedding_model: str = ""         # documents: a GGUF for hybrid search (llama.cpp embedding mode); "" = BM25 only
    # MCP servers whose tools the assistant may call (checks.MCP_SERVER_FIELDS: name, command or url, ...).
    mcp_servers: list[dict] = field(default_factory=list)
    # Tools the assistant calls (assistant/loop.py): built-ins ask first too; the tools answered "Always for this tool"
    # (source/name/hash of what it says it does).
    tools_ask_first: bool = False
    tools_always: list[str] = field(default_factory=list)
    # Read from older settings files only: the chats (ids) whose tools toggle was off. Each chat keeps its own switch
    # now (Conversation.tools_off); ChatSession.take_old_tools_switches moves these into the chats and empties this.
    tools_off_chats: list[int] = field(default_factory=list)

    def gen_params(self) -> GenParams:
        # GenParams' API-only fields (stop, grammar, ...) are no settings: they keep their defaults here.
        return GenParams(**{f.name: getattr(self, f.name) for f in fields(GenParams) if hasattr(self, f.name)})


def _backends(kind: str) -> tuple[str, ...]:
    from . import backends        # imported late: backends imports this module
    return tuple(backends.KINDS[kind])


# The options schema: what each setting may be beyond its type (which comes from the field's
# annotation). The settings file's loader, the Settings dialog and the command line's --set all read
# it, so each range is written once. The settings below are the app's own; each backend's options
# join them from its options dataclass (checks.option fields): under their own names for a backend
# whose options are Settings fields (the local ones), else as "KIND.BACKEND.FIELD" ("chat.openai.url").
_OWN: dict[str, Number | Text | Flag | Many | McpServers] = {
    "system_prompt": Text(max_chars=100_000),
    "temperature": Number(0.0, 2.0), "top_p": Number(0.0, 1.0), "top_k": Number(0, 200),
    "min_p": Number(0.0, 1.0), "repeat_penalty": Number(0.5, 2.0), "max_tokens": Number(0, 32768),
    "seed": Number(-1, 2**31 - 1), "image_steps": Number(0, MAX_STEPS), "image_cfg": Number(0.0, MAX_CFG),
    "image_size": Text(r"([1-9][0-9]{0,4}x[1-9][0-9]{0,4})?", "WIDTHxHEIGHT such as 512x768", max_chars=11),
    "preload_image_model": Flag(),
    "llm_backend": Text(choices=lambda: _backends("chat")),
    "image_backend": Text(choices=lambda: _backends("image")),
    "library_folder": PATH, "image_threads": THREADS, "image_idle_unload_min": Number(0, 24 * 60),
    "model_folders": Text(max_chars=16384), "theme": Text(choices=("system", "light", "dark")),
    "lora_folder": PATH, "embedding_model": PATH, "mcp_servers": McpServers(),
    "tools_ask_first": Flag(), "tools_always": Many(str), "tools_off_chats": Many(int),
}


def _backend_fields() -> dict[str, tuple[type, Any]]:
    """Every registered backend's options: setting name -> (its options dataclass, its field)."""
    from . import backends        # imported late: backends imports this module
    return {name: (cls, f) for name, cls, f in backends.option_fields()}


class _Schema(Mapping):
    """OPTIONS: the app's own settings' checks, then every registered backend's (read when asked, so a
    backend registered later, a plugin's or a test's, is in it)."""

    def __getitem__(self, name):
        if name in _OWN:
            return _OWN[name]
        return _backend_fields()[name][1].metadata["check"]

    def __iter__(self):
        return iter([*_OWN, *_backend_fields()])

    def __len__(self):
        return len(_OWN) + len(_backend_fields())


OPTIONS = _Schema()


class _Limits(Mapping):
    """A read-only view for older callers: a number's (low, high) or a text's pattern, from OPTIONS."""

    def __getitem__(self, name):
        option = OPTIONS[name]
        if isinstance(option, Number):
            return option.bounds()
        if isinstance(option, Text) and option.pattern:
            return option.pattern
        raise KeyError(name)

    def __iter__(self):
        return (n for n, o in OPTIONS.items() if isinstance(o, Number) or getattr(o, "pattern", ""))

    def __len__(self):
        return sum(1 for _ in self)


LIMITS = _Limits()


def _hint(name: str):
    """The type a setting's value must have: its Settings field's, or its backend options field's."""
    if "." in name:
        found = _backend_fields().get(name)
        return typing.get_type_hints(found[0]).get(found[1].name) if found else None
    return typing.get_type_hints(Settings).get(name)


def check_setting(name: str, value) -> tuple[object, str | None]:
    """The value to use for a setting read from a file, or (None, why not) when it is unusable."""
    hint = _hint(name)
    ok, value = fits_type(hint, value)
    if not ok:
        return None, f"{name} ({json.dumps(value)[:40]} is not {getattr(hint, '__name__', str(hint))})"
    option = OPTIONS.get(name)   # a field without one (a test's, a plugin's) is checked by its type alone
    problem = option.problem(value) if option is not None and value is not None else None
    return (None, f"{name} ({problem})") if problem else (value, None)


_WORDS = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}


def parse_text(name: str, text: str):
    """A setting given as text (the command line): converted by its type, then checked like the file's."""
    hint = _hint(name)
    if hint is None or name == "backend_options":
        raise ValueError(f"there is no setting called {name!r}")
    try:
        if typing.get_origin(hint) in (list, dict):   # a list or an object setting is given as JSON text
            value = json.loads(text)
        else:
            value = _WORDS[text.strip().lower()] if hint is bool else hint(text) if hint in (int, float) else text
    except (KeyError, ValueError):
        raise ValueError(f"{name} ({text[:40]!r} is not {getattr(hint, '__name__', hint)})") from None
    value, problem = check_setting(name, value)
    if problem:
        raise ValueError(problem)
    return value


def arg_type(name: str) -> Callable[[str], object]:
    """argparse's type= for a flag that sets one setting: the schema's check, in argparse's message."""
    import argparse

    def convert(text: str):
        try:
            return parse_text(name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = name   # argparse names the type in its message
    return convert


def assignment(text: str) -> tuple[str, object]:
    """argparse's type= for --set NAME=VALUE."""
    import argparse
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not NAME=VALUE, e.g. image_threads=2")
    name = name.strip().replace("-", "_")
    return name, arg_type(name)(value)


def with_setting(settings: Settings, name: str, value) -> Settings:
    """A copy with one setting changed: a field, or a backend option by its "KIND.BACKEND.FIELD" name."""
    if "." not in name:
        return replace(settings, **{name: value})
    kind, backend, option_name = name.split(".", 2)
    key = f"{kind}.{backend}"
    cls = _backend_fields()[name][0]
    current = settings.backend_options.get(key)
    current = current if isinstance(current, cls) else cls()
    # A new dict: a copy made with replace() shares the old one, and the old settings must stay as they were.
    return replace(settings, backend_options={**settings.backend_options, key: replace(current, **{option_name: value})})


def setting_value(settings: Settings, name: str):
    """A setting's value by its schema name, a backend option's too ("chat.openai.url")."""
    if "." not in name:
        return getattr(settings, name)
    cls, f = _backend_fields()[name]
    value = settings.backend_options.get(name.rsplit(".", 1)[0])
    return getattr(value if isinstance(value, cls) else cls(), f.name)


def setting_problems(settings: Settings) -> list[str]:
    """Every value the options schema refuses, worded as the settings file's loader words it."""
    found = (check_setting(name, setting_value(settings, name))[1] for name in OPTIONS)
    return [p for p in found if p]


# Old settings files (before the backend registry) kept the server backends' options flat.
RENAMED = {"llm_remote_url": "chat.openai.url", "llm_remote_model": "chat.openai.model",
           "llm_remote_ctx": "chat.openai.ctx", "llm_remote_timeout": "chat.openai.timeout",
           "image_remote_url": "image.openai.url", "image_remote_model": "image.openai.model",
           "image_remote_timeout": "image.openai.timeout"}


# A settings file holds every setting (save_settings writes them all), so in a file written before a default
# changed, that old default is no choice of the user's: it reads as the new default. Files say which version wrote
# them ("settings_version"; none: 1); OLD_DEFAULTS: version -> the defaults it had that later changed.
SETTINGS_VERSION = 3
OLD_DEFAULTS = {1: {"n_ctx": 2048},      # 2: the context 4,096 (the built-in tools take ~1,500 tokens)
                2: {"max_tokens": 512}}  # 3: replies of no set length (reasoning models think for longer)


def _unchosen(raw: Mapping) -> set[str]:
    """The settings an older file holds at a default that has changed since."""
    written = raw.get("settings_version", 1)
    written = written if isinstance(written, int) and not isinstance(written, bool) else 1
    return {name for version, old in OLD_DEFAULTS.items() if written <= version
            for name, value in old.items() if raw.get(name) == value}


def settings_from(raw: Mapping) -> tuple[Settings, list[str]]:
    """Settings from a settings file's object (old flat names and old defaults included); each bad value falls back
    to its default on its own and is named in the problems."""
    settings, problems = Settings(), []
    unchosen = _unchosen(raw)
    for f in fields(Settings):
        if f.name in raw and f.name != "backend_options" and f.name not in unchosen:
            value, problem = check_setting(f.name, raw[f.name])
            if problem:
                problems.append(problem)
            else:
                setattr(settings, f.name, value)
    nested = raw.get("backend_options", {})
    if not isinstance(nested, dict):
        problems.append("backend_options (not a JSON object)")
        nested = {}
    flat = {new: raw[old] for old, new in RENAMED.items() if old in raw}
    known = _backend_fields()
    for key, values in nested.items():
        if not isinstance(values, dict):
            problems.append(f"backend_options.{key} (not a JSON object)")
        elif not any(n.startswith(key + ".") for n in known):
            settings.backend_options[key] = values      # a backend not installed now: kept as it was
        else:
            flat.update({f"{key}.{k}": v for k, v in values.items()})
    for name, value in flat.items():
        if name not in known:
            continue      # an option this version does not have (as unknown fields above): ignored
        value, problem = check_setting(name, value)
        if problem:
            problems.append(problem)
        else:
            settings = with_setting(settings, name, value)
    return settings, problems


@dataclass
class Paths:
    data_dir: Path
    config_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "chatapp.sqlite3"

    @property
    def images(self) -> Path:
        return self.data_dir / "images"

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"


def resolve_paths(data_dir: str | None = None, config_dir: str | None = None) -> Paths:
    """CLI beats env (CHATAPP_DATA_DIR, CHATAPP_CONFIG_DIR) beats the platform's user dirs.

    A data dir given without a config dir keeps the config beside it, so a test or a portable
    install never touches the user's real settings.
    """
    data = data_dir or os.environ.get("CHATAPP_DATA_DIR")
    config = config_dir or os.environ.get("CHATAPP_CONFIG_DIR")
    if data and not config:
        config = str(Path(data) / "config")
    return Paths(Path(data or platformdirs.user_data_dir(APP_NAME, appauthor=False)),
                 Path(config or platformdirs.user_config_dir(APP_NAME, appauthor=False)))


def load_settings(path: Path) -> tuple[Settings, str | None]:
    """Read settings; garbage is moved aside (never deleted) and defaults are used.

    Returns the settings and, when something was wrong, a message for the user.
    """
    if not path.exists():
        return Settings(), None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        aside = path.with_name(path.name + ".bad")
        try:
            os.replace(path, aside)
            where = f" It was kept as {aside.name}."
        except OSError:
            where = ""
        return Settings(), f"Settings file could not be read ({exc}); using defaults.{where}"
    settings, problems = settings_from(raw)
    note = f"Ignored bad values in settings, using the defaults instead: {'; '.join(problems)}." if problems else None
    return settings, note


def save_settings(settings: Settings, path: Path) -> None:
    """Write atomically, so a crash mid-write never leaves a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"settings_version": SETTINGS_VERSION, **asdict(settings)}, indent=2), encoding="utf-8")
    os.replace(tmp, path)
