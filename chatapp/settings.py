"""User settings: one dataclass, saved as JSON in the user's config dir; env and CLI override dirs."""
from __future__ import annotations

import json
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import platformdirs

from .conversation import GenParams
from .engines.cpu import cores
from .engines.torch_runtime import PRECISIONS

APP_NAME = "chatapp"
DEFAULT_SYSTEM_PROMPT = "You are a helpful, concise assistant."


@dataclass
class Settings:
    llm_model: str = ""            # "" means the embedded default GGUF
    image_model: str = ""          # "" means the embedded default diffusers folder
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    # Sampling: the defaults are GenParams' own, so they are written in one place.
    temperature: float = GenParams.temperature
    top_p: float = GenParams.top_p
    top_k: int = GenParams.top_k
    min_p: float = GenParams.min_p
    repeat_penalty: float = GenParams.repeat_penalty
    max_tokens: int = GenParams.max_tokens
    seed: int = GenParams.seed
    n_ctx: int = 2048
    n_threads: int = 0             # 0: let llama.cpp choose
    n_gpu_layers: int = 0
    image_steps: int = 0           # 0: the image model's own default
    image_cfg: float = 0.0
    image_size: str = ""           # "" or "WxH"
    attention_slicing: bool = False
    cpu_offload: bool = False
    preload_image_model: bool = False
    llm_backend: str = "local"        # "local" (a GGUF file) | "openai" (an OpenAI-compatible server); see backends.py
    llm_remote_url: str = ""          # base URL of that server, e.g. http://gpu-box:8000/v1
    llm_remote_model: str = ""        # "" means the first model the server lists
    llm_remote_ctx: int = 4096        # context length to trim to when the server does not report one
    llm_remote_timeout: float = 60.0  # seconds without a byte from the server before a reply is given up
    image_backend: str = "local"      # "local" (diffusers) | "openai" (an OpenAI images API server)
    image_remote_url: str = ""        # base URL of the image server
    image_remote_model: str = ""      # "" means the server's default
    image_remote_timeout: float = 300.0  # seconds to wait for one picture
    library_folder: str = ""       # documents: every supported file under it is indexed ("" = no library)
    image_threads: int = 0         # torch threads for pictures; 0: every core, half while a reply streams
    image_precision: str = "auto"  # "auto" | "float32" | "bfloat16"; auto: bfloat16 on a CPU only where faster
    vae_tiling: bool = False       # decode pictures in tiles: less memory for large pictures, a little slower
    image_idle_unload_min: int = 10   # free the image model after this many idle minutes; 0: keep it loaded
    model_folders: str = ""           # extra folders the model picker scans, separated by os.pathsep
    theme: str = "system"             # "system" (follow the desktop), "light" or "dark"
    lora_folder: str = ""             # LoRAs for /image --lora; "" = <data dir>/loras (chatapp's own are found too)
    embedding_model: str = ""         # documents: a GGUF for hybrid search (llama.cpp embedding mode); "" = BM25 only

    def gen_params(self) -> GenParams:
        # GenParams' API-only fields (stop, grammar, ...) are no settings: they keep their defaults here.
        return GenParams(**{f.name: getattr(self, f.name) for f in fields(GenParams) if hasattr(self, f.name)})


def _backends(kind: str) -> tuple[str, ...]:
    from . import backends        # imported late: backends imports this module
    return tuple(backends.CHAT if kind == "chat" else backends.IMAGE)


@dataclass(frozen=True)
class Number:
    """A number from low to high, both included; high may be a function (the cores this process may use)."""
    low: float
    high: float | Callable[[], float]

    def bounds(self) -> tuple[float, float]:
        return self.low, self.high() if callable(self.high) else self.high

    def problem(self, value) -> str | None:
        low, high = self.bounds()
        return None if low <= value <= high else f"{value} is outside {low}–{high}"


@dataclass(frozen=True)
class Text:
    """Text of at most max_chars; with a pattern the whole of it must match, with choices it must be one."""
    pattern: str = ""
    form: str = ""                # the pattern in words, for the message
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()
    max_chars: int = 4096         # a path or a name; PATH_MAX is 4096 on Linux

    def allowed(self) -> tuple[str, ...]:
        return self.choices() if callable(self.choices) else self.choices

    def problem(self, value: str) -> str | None:
        if len(value) > self.max_chars:   # first, so a pattern only ever sees bounded text
            return f"{len(value)} characters, at most {self.max_chars}"
        if self.allowed() and value not in self.allowed():
            return f"{json.dumps(value)[:40]} is not one of {', '.join(self.allowed())}"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return f"{json.dumps(value)[:40]} is not {self.form or 'in the expected form'}"
        return None


@dataclass(frozen=True)
class Flag:
    """On or off: the type says it all."""

    def problem(self, value) -> str | None:
        return None


PATH, NAME = Text(), Text(max_chars=512)
URL = Text(r"((?i:https?)://[^\s/?#]+\S*)?", "an http(s) address such as http://gpu-box:8000/v1")
# More threads than cores makes llama.cpp's spinning barrier crawl (256 on 2 cores: a one-line reply
# took 33 s; 100000 aborted the process inside libgomp), and torch's too (256 image threads on
# 2 cores: 35 s for a 0.8 s picture; 100000: "Cannot allocate memory"). 0 means automatic.
THREADS = Number(0, lambda: cores())

# The options schema: what each setting may be beyond its type (which comes from the field's
# annotation). The settings file's loader, the Settings dialog's spin boxes and combos and the
# command line's --set all read it, so each range is written once. Every field has an entry.
OPTIONS: dict[str, Number | Text | Flag] = {
    "llm_model": PATH, "image_model": PATH, "system_prompt": Text(max_chars=100_000),
    "temperature": Number(0.0, 2.0), "top_p": Number(0.0, 1.0), "top_k": Number(0, 200),
    "min_p": Number(0.0, 1.0), "repeat_penalty": Number(0.5, 2.0), "max_tokens": Number(1, 32768),
    "seed": Number(-1, 2**31 - 1), "n_ctx": Number(256, 131072), "n_threads": THREADS,
    "n_gpu_layers": Number(-1, 999), "image_steps": Number(0, 150), "image_cfg": Number(0.0, 30.0),
    "image_size": Text(r"([1-9][0-9]{0,4}x[1-9][0-9]{0,4})?", "WIDTHxHEIGHT such as 512x768", max_chars=11),
    "attention_slicing": Flag(), "cpu_offload": Flag(), "preload_image_model": Flag(),
    "llm_backend": Text(choices=lambda: _backends("chat")), "llm_remote_url": URL, "llm_remote_model": NAME,
    "llm_remote_ctx": Number(256, 1 << 20), "llm_remote_timeout": Number(1.0, 3600.0),
    "image_backend": Text(choices=lambda: _backends("image")), "image_remote_url": URL,
    "image_remote_model": NAME, "image_remote_timeout": Number(5.0, 3600.0),
    "library_folder": PATH, "image_threads": THREADS,
    "image_precision": Text(choices=PRECISIONS), "vae_tiling": Flag(),
    "image_idle_unload_min": Number(0, 24 * 60),
    "model_folders": Text(max_chars=16384), "theme": Text(choices=("system", "light", "dark")),
    "lora_folder": PATH, "embedding_model": PATH,
}


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


def _fits_type(hint, value) -> tuple[bool, object]:
    """Does a JSON value fit a type annotation? Returns (fits, value converted). Never coerces text."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            ok, converted = _fits_type(arg, value)
            if ok:
                return True, converted
        return False, value
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, bool), value            # "false" is not False
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str) and "\x00" not in value, value   # null is not "None"
    if isinstance(origin or hint, type):
        return isinstance(value, origin or hint), value  # lists, dicts: their container type
    return True, value                                   # Any and friends: nothing to check


def check_setting(name: str, value) -> tuple[object, str | None]:
    """The value to use for a setting read from a file, or (None, why not) when it is unusable."""
    hint = typing.get_type_hints(Settings).get(name)
    ok, value = _fits_type(hint, value)
    if not ok:
        return None, f"{name} ({json.dumps(value)[:40]} is not {getattr(hint, '__name__', str(hint))})"
    option = OPTIONS.get(name)   # a field without one (a test's, a plugin's) is checked by its type alone
    problem = option.problem(value) if option is not None and value is not None else None
    return (None, f"{name} ({problem})") if problem else (value, None)


_WORDS = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}


def parse_text(name: str, text: str):
    """A setting given as text (the command line): converted by its type, then checked like the file's."""
    hint = typing.get_type_hints(Settings).get(name)
    if hint is None:
        raise ValueError(f"there is no setting called {name!r}")
    try:
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
    settings, problems = Settings(), []
    for f in fields(Settings):
        if f.name not in raw:
            continue
        value, problem = check_setting(f.name, raw[f.name])
        if problem:   # each bad field falls back to its default on its own
            problems.append(problem)
        else:
            setattr(settings, f.name, value)
    note = f"Ignored bad values in settings, using the defaults instead: {'; '.join(problems)}." if problems else None
    return settings, note


def save_settings(settings: Settings, path: Path) -> None:
    """Write atomically, so a crash mid-write never leaves a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    os.replace(tmp, path)
