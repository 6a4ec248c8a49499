"""What chatapp makes of an MCP server's settings entry, its tools and its answers (no I/O, no Qt)."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

CALL_TIMEOUT = 60.0       # s a call may take unless the server's settings say otherwise
MAX_RESULT_CHARS = 16_000  # what the model reads of one result: a tool's answer must not fill the context


@dataclass(frozen=True)
class ServerConfig:
    """One entry of settings.mcp_servers (checks.McpServers checked it): a command for stdio, or a URL."""
    name: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = ""
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = CALL_TIMEOUT
    enabled: bool = True

    @classmethod
    def from_entry(cls, entry: dict) -> "ServerConfig":
        return cls(name=entry["name"], command=entry.get("command", ""), args=tuple(entry.get("args", ())),
                   env=tuple(sorted(entry.get("env", {}).items())), cwd=entry.get("cwd", ""),
                   url=entry.get("url", ""), headers=tuple(sorted(entry.get("headers", {}).items())),
                   timeout=float(entry.get("timeout", CALL_TIMEOUT)), enabled=entry.get("enabled", True))

    @property
    def key_name(self) -> str:
        """The server's API key in backends.secrets (CHATAPP_MCP_<NAME>_API_KEY, the keychain, the file)."""
        return f"mcp_{self.name}"

    @property
    def where(self) -> str:
        return self.url or " ".join((self.command, *self.args))


def tool_name(server: str, tool: str) -> str:
    """The name the model sees: "server__tool", kept to OpenAI's ^[a-zA-Z0-9_-]{1,64}$."""
    name = f"{server}__{re.sub(r'[^A-Za-z0-9_-]', '_', tool)}"
    if len(name) > 64:   # a long tool name keeps its head and a hash, so two long names stay apart
        name = name[:55] + "_" + hashlib.sha1(tool.encode()).hexdigest()[:8]
    return name


# --- what a server said -> what the model reads ---------------------------------------------------
def cap(text: str) -> str:
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return (text[:MAX_RESULT_CHARS] + f"\n[… cut: the answer was {len(text):,} characters; "
            f"the first {MAX_RESULT_CHARS:,} are kept]")


def result_text(result: Any) -> tuple[str, bool]:
    """A CallToolResult's parts as text (pictures and sounds become a note), and whether it is an error."""
    pieces = []
    for part in getattr(result, "content", None) or []:
        kind = getattr(part, "type", "")
        if kind == "text":
            pieces.append(part.text)
        elif kind in ("image", "audio"):
            pieces.append(f"[The tool returned {'a picture' if kind == 'image' else 'a sound'} "
                          f"({getattr(part, 'mime_type', '') or kind}); it is not shown to this model.]")
        elif kind == "resource_link":
            pieces.append(f"[Resource: {getattr(part, 'name', '')} {getattr(part, 'uri', '')}]".replace("  ", " "))
        elif kind == "resource":
            inner = part.resource
            text = getattr(inner, "text", None)
            pieces.append(text if isinstance(text, str) else f"[A file ({getattr(inner, 'mime_type', None) or 'binary'}) "
                          f"at {getattr(inner, 'uri', '')}; it is not shown to this model.]")
        else:
            pieces.append(f"[A part of kind {kind or '?'} that chatapp does not read.]")
    structured = getattr(result, "structured_content", None)
    if structured is not None and not any(p.strip() for p in pieces):
        pieces.append(json.dumps(structured, ensure_ascii=False, default=str))
    is_error = bool(getattr(result, "is_error", False))
    text = "\n".join(pieces).strip()
    if not text:
        text = "The tool reported an error without saying what." if is_error else "The tool returned nothing."
    return cap(text), is_error


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException, config: ServerConfig | None = None) -> str:
    """An exception from starting or talking to a server, in words."""
    exc = _leaf(exc)
    if isinstance(exc, FileNotFoundError) and config is not None and config.command:
        return f"the command {config.command!r} was not found"
    if isinstance(exc, PermissionError) and config is not None and config.command:
        return f"the command {config.command!r} may not be run (permission denied)"
    name = type(exc).__name__
    if "Connect" in name and config is not None and config.url:
        return f"nothing answered at {config.url}"
    if name == "HTTPStatusError" and getattr(exc, "response", None) is not None:
        return f"the server answered HTTP {exc.response.status_code}"
    message = str(exc).strip() or name
    return message[:300]


def description(tool, server: str) -> str:
    text = (getattr(tool, "description", None) or getattr(tool, "title", None) or tool.name).strip()
    return f"{text[:1000]} (from the MCP server {server})"


def schema(tool) -> dict:
    schema = dict(getattr(tool, "input_schema", None) or {})
    schema.setdefault("type", "object")
    if schema["type"] == "object":
        schema.setdefault("properties", {})
    return schema


def tail(errlog, chars: int = 300) -> str:
    """The last words the server wrote to stderr, as a clause for a note ("" when it said nothing)."""
    if errlog is None or errlog.closed:
        return ""
    try:
        errlog.flush()
        size = errlog.seek(0, 2)
        errlog.seek(max(0, size - chars))
        text = errlog.read().decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return f"; it said: {lines[-1].strip()[:200]}" if lines else ""
