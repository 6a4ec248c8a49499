"""What a setting may be beyond its type: Number, Text, Flag, Many, the shared checks, option() for a backend's options."""
from __future__ import annotations

import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Callable

from .engines.cpu import cores


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


@dataclass(frozen=True)
class Many:
    """A list the app keeps itself (ids, keys): at most max_items, each of one type."""
    item: type = str
    max_items: int = 10_000

    def problem(self, value: list) -> str | None:
        if len(value) > self.max_items:
            return f"{len(value)} items, at most {self.max_items}"
        if not all(isinstance(v, self.item) and not isinstance(v, bool) for v in value):
            return f"not a list of {self.item.__name__}"
        return None


PATH, NAME = Text(), Text(max_chars=512)
URL = Text(r"((?i:https?)://[^\s/?#]+\S*)?", "an http(s) address such as http://gpu-box:8000/v1")
# More threads than cores makes llama.cpp's spinning barrier crawl (256 on 2 cores: a one-line reply
# took 33 s; 100000 aborted the process inside libgomp), and torch's too (256 image threads on
# 2 cores: 35 s for a 0.8 s picture; 100000: "Cannot allocate memory"). 0 means automatic.
THREADS = Number(0, lambda: cores())


def option(default, check: Number | Text | Flag, label: str, *, help: str = "", reload: bool = True, **ui):
    """A field of a backend's options dataclass: its default, its check, and how the Settings form shows it.

    reload: a change needs a new engine. ui: hints for the form's widget (placeholder, special: the
    text for the lowest value, step, decimals, suffix, browse: "gguf" | "image" | "folder", role:
    "url" | "model" for a server's address and its listed models).
    """
    return field(default=default, metadata={"check": check, "label": label, "help": help, "reload": reload, "ui": ui})


def fits_type(hint, value) -> tuple[bool, object]:
    """Does a JSON value fit a type annotation? Returns (fits, value converted). Never coerces text."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            ok, converted = fits_type(arg, value)
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


# One MCP server in settings.mcp_servers (tools/mcp_client.py starts them): a name, and either a command to
# start over stdio (args, env, cwd) or a streamable-HTTP URL (headers; a key from backends.secrets).
MCP_SERVER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str, "command": str, "args": list, "env": dict, "cwd": str, "url": str, "headers": dict,
    "timeout": (int, float), "enabled": bool}
MCP_NAME = r"[A-Za-z0-9_-]{1,32}"     # short: "server__tool" must fit OpenAI's 64-character tool names
MCP_TIMEOUT = (1.0, 3600.0)           # seconds a tool call may take


@dataclass(frozen=True)
class McpServers:
    """A list of MCP servers, each a JSON object of MCP_SERVER_FIELDS: a unique name, a command or a URL."""
    max_servers: int = 32

    def problem(self, value) -> str | None:
        if len(value) > self.max_servers:
            return f"{len(value)} servers, at most {self.max_servers}"
        seen = set()
        for n, entry in enumerate(value, 1):
            where = f"server {n}"
            if not isinstance(entry, dict):
                return f"{where} is not a JSON object"
            name = entry.get("name")
            if not isinstance(name, str) or not re.fullmatch(MCP_NAME, name):
                return f"{where}: name {json.dumps(name)[:40]} is not 1-32 letters, digits, _ or -"
            where = f"server {name!r}"
            if name in seen:
                return f"{where} is named twice"
            seen.add(name)
            for key, kind in MCP_SERVER_FIELDS.items():
                if key in entry and (not isinstance(entry[key], kind) or isinstance(entry[key], bool) is not (kind is bool)):
                    return f"{where}: {key} has the wrong type"
            unknown = set(entry) - set(MCP_SERVER_FIELDS)
            if unknown:
                return f"{where}: unknown field {sorted(unknown)[0]!r}"
            texts = [entry.get("command", ""), entry.get("url", ""), entry.get("cwd", ""), *entry.get("args", []),
                     *entry.get("env", {}).values(), *entry.get("headers", {}).values()]
            if any(not isinstance(t, str) or len(t) > 4096 or "\x00" in t for t in texts):
                return f"{where}: its texts must be text without NUL, at most 4096 characters each"
            if bool(entry.get("command")) == bool(entry.get("url")):
                return f"{where} needs either a command (stdio) or a URL (streamable HTTP), not both"
            if entry.get("url") and URL.problem(entry["url"]):
                return f"{where}: {URL.problem(entry['url'])}"
            if "timeout" in entry and not MCP_TIMEOUT[0] <= entry["timeout"] <= MCP_TIMEOUT[1]:
                return f"{where}: timeout {entry['timeout']} is outside {MCP_TIMEOUT[0]:g}–{MCP_TIMEOUT[1]:g} s"
        return None
