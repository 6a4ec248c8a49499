"""Shared plumbing for OpenAI-compatible servers: the client, error wording, and calls that stop at once."""
from __future__ import annotations

import queue
import socket
import threading
from typing import Callable, Iterable
from urllib.parse import urlsplit

from .base import EngineError

POLL_S = 0.05   # how often a waiting worker looks at its stop flag
_local = threading.local()   # the RemoteCall whose helper thread is sending (each call has its own thread)


def check_url(base_url: str, what: str) -> str:
    """A base URL the user typed, or a clear message; nothing is contacted here."""
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineError(f"The {what} server URL '{base_url}' is not an http(s) address, "
                          "e.g. http://gpu-box:8000/v1. Fix it in Settings.")
    return url


def host_of(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or base_url)


class RemoteCall:
    """One blocking HTTP call run on a helper thread, so the worker that waits for it can stop at once.

    The worker polls get(); stop() shuts the call's socket down, which both wakes the helper thread
    (its read returns) and tells the server the client is gone, so it stops generating too.
    """

    def __init__(self):
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.stopped = False

    def trace(self, name: str, info: dict) -> None:
        """httpcore's trace hook: remember the socket of the connection this call opened."""
        if name.endswith(("connect_tcp.complete", "start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            with self._lock:
                self._sock = sock
                if self.stopped:
                    self._shutdown()

    def start(self, produce: Callable[[], Iterable]) -> None:
        def run():
            _local.call = self   # the request hook finds this call by thread, never another call's
            try:
                for item in produce():
                    self._items.put(("item", item))
                    if self.stopped:
                        return
                self._items.put(("end", None))
            except BaseException as exc:  # handed to the worker, which words it for the user
                self._items.put(("error", exc))
        threading.Thread(target=run, name="remote-call", daemon=True).start()

    def get(self, timeout: float = POLL_S) -> tuple[str, object]:
        """("item", x) | ("end", None) | ("error", exc); raises queue.Empty after timeout."""
        return self._items.get(timeout=timeout)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class RemoteClient:
    """An `openai` client whose every request made inside a RemoteCall carries that call's trace hook.

    Keep-alive is off: each request opens its own connection, so stopping it can close exactly that
    connection without touching another one.
    """

    def __init__(self, base_url: str, api_key: str, timeout: float):
        import httpx
        import openai
        self.base_url, self.timeout, self.api_key = base_url, timeout, api_key
        self.http = http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0),
                            # read: a backstop only; the caller words its own stall timeout first
                            timeout=httpx.Timeout(timeout * 1.5 + 5, connect=min(10.0, timeout)),
                            event_hooks={"request": [self._on_request]}, trust_env=False)
        # trust_env=False: no proxy from the environment; the app talks only to the URL the user typed.
        self.openai = openai.OpenAI(base_url=base_url, api_key=api_key or "none", max_retries=0,
                                    http_client=http)

    @staticmethod
    def _on_request(request) -> None:
        call = getattr(_local, "call", None)
        if call is not None:
            request.extensions["trace"] = call.trace

    def close(self) -> None:
        self.openai.close()


def server_root(base_url: str) -> str:
    """The server's own address under its OpenAI base URL (http://gpu-box:8080/v1 -> http://gpu-box:8080):
    where llama-server, Ollama and LM Studio keep their own endpoints."""
    return base_url[:-3] if base_url.endswith("/v1") else base_url


def said_vision(client: RemoteClient, model: str) -> tuple[bool, str] | None:
    """Whether the server says its model sees pictures, and where it said so: llama-server's GET /props
    (`modalities.vision`), Ollama's POST /api/show (`capabilities` has "vision"), LM Studio's GET
    /api/v0/models/{model} (`type` "vlm"). None where it does not say (vLLM, OpenAI, an older server:
    a 404, or no such field); a probe never fails the connection, and waits at most 5 s."""
    import httpx
    from urllib.parse import quote
    root, headers = server_root(client.base_url), {"Authorization": f"Bearer {client.api_key or 'none'}"}
    probes = (("llama-server's /props", "GET", "/props", {"params": {"model": model}}),
              ("Ollama's /api/show", "POST", "/api/show", {"json": {"model": model}}),
              ("LM Studio's /api/v0/models", "GET", f"/api/v0/models/{quote(model, safe='')}", {}))
    for name, method, path, kwargs in probes:
        try:
            r = client.http.request(method, root + path, headers=headers, timeout=min(client.timeout, 5.0), **kwargs)
            body = r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):   # unreachable, or not JSON: this server does not say
            continue
        if not isinstance(body, dict):
            continue
        modalities, capabilities = body.get("modalities"), body.get("capabilities")
        if path == "/props" and isinstance(modalities, dict) and isinstance(modalities.get("vision"), bool):
            return modalities["vision"], name
        if path == "/api/show" and isinstance(capabilities, list):
            return "vision" in capabilities, name
        if path.startswith("/api/v0/") and body.get("type") in ("llm", "vlm"):
            return body["type"] == "vlm", name
    return None


def describe_error(exc: BaseException, base_url: str, what: str, model: str = "") -> str:
    """Words for a failed call: what happened and what the user can do."""
    import httpx
    import openai
    host = host_of(base_url)
    if isinstance(exc, openai.AuthenticationError) or getattr(exc, "status_code", 0) == 401:
        return f"The {what} server at {host} refused the API key (401). Check the key in Settings."
    if isinstance(exc, openai.PermissionDeniedError):
        return f"The {what} server at {host} does not allow this (403): {server_text(exc)}"
    if isinstance(exc, openai.NotFoundError):
        which = f"the model '{model}'" if model else "this address"
        return (f"The {what} server at {host} does not know {which} (404): {server_text(exc)} "
                "Choose a model from the list in Settings, or check the URL (it usually ends in /v1).")
    if isinstance(exc, openai.APIStatusError):
        return f"The {what} server at {host} answered {exc.status_code}: {server_text(exc)}"
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
        return f"The {what} server at {host} did not answer in time. Is it overloaded, or the timeout too short?"
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError, OSError)):
        cause = exc.__cause__ or exc
        return (f"Could not reach the {what} server at {host} ({_short(cause)}). "
                "Is it running, and is the URL in Settings right?")
    if isinstance(exc, ValueError):  # JSON in the event stream or the body that is not JSON
        return f"The {what} server at {host} sent a reply chatapp could not read ({_short(exc)})."
    return f"The {what} server at {host} failed: {_short(exc)}"


def server_text(exc) -> str:
    body = getattr(exc, "body", None)   # the client unwraps {"error": {...}} into body already
    if isinstance(body, dict):
        inner = body.get("error")
        msg = body.get("message") or (inner.get("message") if isinstance(inner, dict) else inner)
        if msg:
            return _short(msg)
    return _short(getattr(exc, "message", exc))


def _short(exc, limit: int = 200) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
