"""Servers for the remote-backend tests, all on loopback: real ones as processes, and a faulty one."""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_process(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 240.0, headers=None) -> None:
    """Poll GET url until it answers 200; fail with the server's own output if it died."""
    import httpx
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=2, headers=headers, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"server not ready:\n{log.read_text(errors='replace')[-3000:]}")


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def serving(args_for_port, log: Path, env: dict | None = None, headers=None):
    """An OpenAI-compatible server process on a free loopback port (args_for_port(port) are its arguments):
    yields its /v1 URL once /v1/models answers, and stops it after."""
    port = free_port()
    proc = start_process(args_for_port(port), log, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(proc, url + "/models", log, headers=headers)
        yield url
    finally:
        stop_process(proc)


@contextlib.contextmanager
def serving_slots(slots: list):
    """chatapp serve's real app on a free loopback port, uvicorn in a thread (so a test can script the
    engines it serves): yields the /v1 URL, and stops the server and the slots' threads after."""
    import uvicorn

    from chatapp.serve.cli import asgi_app
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(asgi_app(slots), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.01):   # uvicorn says when it listens; its thread ending first is a failure
        assert thread.is_alive(), "uvicorn did not start"
        if server.started:
            started.set()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
        for slot in slots:
            slot.executor.shutdown()


@contextlib.contextmanager
def serving_chat_engines(engines: dict):
    """serving_slots for scripted chat engines, each served under its key as the model's name."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from chatapp.serve.app import Slot
    with serving_slots([Slot("chat", e, replace(e.load(), name=name), ThreadPoolExecutor(max_workers=1))
                        for name, e in engines.items()]) as url:
        yield url


def _chunk(text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    body = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet request handler for the test servers here, with a JSON answer."""

    def log_message(self, *args):
        pass

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LoopbackServer:
    """A threaded HTTP server on a free loopback port, answering with `handler`; close() stops it."""

    def __init__(self, handler, port: int = 0):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FaultServer(LoopbackServer):
    """An OpenAI-shaped server that misbehaves on purpose; the first path part picks how.

    /stall/v1: three words, then silence (until the client hangs up); /malformed/v1: one word, then an
    event that is not JSON; /cut/v1: two words, then the connection closes without a finish;
    /auth/v1: 401 everywhere; /nomodel/v1: 404 for the model; /ok/v1: a short reply, pictures as b64 PNG;
    /think/v1: a reply whose thinking comes as <think> text in the content;
    /noimage/v1: llama-server's refusal of a picture without a projector (500).
    `hangups` records each request whose client closed the connection while the server waited.
    """

    def __init__(self, port: int = 0):
        self.release = threading.Event()
        self.hangups: list[str] = []
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(JsonHandler):
            def _mode(self):
                return self.path.strip("/").split("/")[0]

            def do_GET(self):
                if self._mode() == "auth":
                    return self._json(401, {"error": {"message": "Invalid API key", "type": "auth"}})
                self._json(200, {"object": "list", "data": [{"id": "m1", "object": "model", "created": 0,
                                                               "owned_by": "test"}]})

            def _wait_for_hangup(self):
                """Block like a stalled server, but notice at once when the client closes the connection."""
                while not outer.release.is_set():
                    ready, _, _ = select.select([self.connection], [], [], 0.05)
                    if ready and not self.connection.recv(1, socket.MSG_PEEK):
                        outer.hangups.append(self.path)
                        return

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.requests.append((self.path, body))
                mode = self._mode()
                if mode == "auth":
                    return self._json(401, {"error": {"message": "Invalid API key", "type": "auth"}})
                if mode == "noimage" and self.path.endswith("/chat/completions"):   # llama-server without --mmproj
                    return self._json(500, {"error": {"code": 500, "type": "server_error", "message":
                                                      "image input is not supported - hint: if this is unexpected, "
                                                      "you may need to provide the mmproj"}})
                if mode == "nomodel":
                    return self._json(404, {"error": {"message": "model 'm1' not found", "type": "invalid_request_error",
                                                      "code": "model_not_found"}})
                if self.path.endswith("/images/generations"):
                    if mode == "stall":
                        return self._wait_for_hangup()
                    from PIL import Image
                    buf = io.BytesIO()
                    Image.new("RGB", (40, 24), (200, 30, 30)).save(buf, format="PNG")
                    return self._json(200, {"created": 0, "data": [{"b64_json": base64.b64encode(buf.getvalue()).decode()}]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = {"stall": ["Hello", " there", " friend"], "malformed": ["Hello"], "cut": ["Hello", " there"],
                         "ok": ["Hello", " again"],
                         # vLLM without a reasoning parser, older Ollama: the model's <think> block as content
                         "think": ["<thi", "nk>The user", " greets me.</th", "ink>\n\n", "Hello", " again"]}
                for w in words.get(mode, []):
                    self.wfile.write(_chunk(w))
                self.wfile.flush()
                if mode in ("ok", "think"):
                    self.wfile.write(_chunk(None, "stop") + b"data: [DONE]\n\n")
                elif mode == "stall":
                    self._wait_for_hangup()
                elif mode == "malformed":
                    self.wfile.write(b"data: {this is not json\n\n")

        super().__init__(Handler, port)

    def base(self, mode: str) -> str:
        return f"{self.url}/{mode}/v1"

    def close(self) -> None:
        self.release.set()
        super().close()


def build_remote_app(qtbot, data_dir, built: list, chat: dict | None = None, image: dict | None = None, **fields):
    """The real app, its backends chosen by Settings through the registry (no engine injected); chat/image:
    that kind through the OpenAI-compatible backend, with these of its options."""
    from chatapp import backends
    from chatapp.app import build
    from chatapp.settings import Settings, resolve_paths
    settings = Settings(**fields)
    for kind, options in (("chat", chat), ("image", image)):
        if options is not None:
            settings = backends.choose(settings, kind, "openai", **options)
    parts = build(resolve_paths(str(data_dir)), settings)
    qtbot.addWidget(parts.window)
    parts.window.show()
    parts.session.load_models()
    qtbot.waitUntil(lambda: parts.session.llm_status in ("ready", "error"), timeout=60000)
    built.append(parts)
    return parts


def isolate_keys(monkeypatch):
    """No test reads or writes the developer's real keychain or key variables."""
    from chatapp.backends import secrets
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for name in secrets.ENV.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(secrets, "_keychain", None)
