"""Remote chat: the app vs the raw openai client on one llama_cpp.server, and `chatapp serve` vs llama_cpp.server."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chatapp.engines.cpu import default_llm_threads

from .chat import PROMPT, SYSTEM, _app_turn
from .common import Row, median, qapp, wait_until

ROOT = Path(__file__).resolve().parent.parent
SAMPLING = dict(temperature=0.0, top_p=0.9, seed=1)
EXTRA = dict(top_k=40, min_p=0.05, repeat_penalty=1.1)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str]) -> tuple[subprocess.Popen, str]:
    import httpx
    port = _free_port()
    proc = subprocess.Popen([sys.executable, *args, "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}/v1"
    end = time.monotonic() + 180
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[:3]} exited {proc.returncode}")
        try:
            if httpx.get(url + "/models", timeout=2, trust_env=False).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise TimeoutError("server did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _raw_tps(url: str, max_tokens: int) -> tuple[float, int]:
    """Tokens/s as a plain `openai` client sees them stream in."""
    import openai
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
    model = client.models.list().data[0].id
    first, n = None, 0
    stream = client.chat.completions.create(
        model=model, stream=True, max_tokens=max_tokens, extra_body=EXTRA, **SAMPLING,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}])
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            n += 1
            first = first or time.perf_counter()
    end = time.perf_counter()
    client.close()
    return (n - 1) / (end - first), n


def _llama_server(threads: int) -> tuple[subprocess.Popen, str]:
    from chatapp.engines.defaults import default_llm_path
    # The same thread counts chatapp's engine uses, so the two servers differ only in their HTTP layers.
    return _start(["-m", "llama_cpp.server", "--model", str(default_llm_path()), "--host", "127.0.0.1",
                   "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads)])


def app_vs_client(runs: int, max_tokens: int) -> list[Row]:
    from chatapp import backends
    from chatapp.app import build
    from chatapp.settings import Settings, resolve_paths
    threads = default_llm_threads()
    proc, url = _llama_server(threads)
    qapp()
    settings = backends.choose(Settings(max_tokens=max_tokens, system_prompt=SYSTEM, temperature=0.0, top_p=0.9,
                                        top_k=40, min_p=0.05, repeat_penalty=1.1, seed=1), "chat", "openai", url=url)
    parts = build(resolve_paths(tempfile.mkdtemp(prefix="chatapp-bench-")), settings)
    parts.window.show()
    parts.session.load_models()
    raw, app, counts = [], [], []
    try:
        wait_until(lambda: parts.session.llm_status == "ready")
        _raw_tps(url, 8)   # the server's first completion pays its warm-up; neither side should
        for _ in range(runs):
            raw.append(_raw_tps(url, max_tokens)[0])
            parts.session.new_conversation()
            _, tps, n = _app_turn(parts, PROMPT)
            app.append(tps)
            counts.append(n)
    finally:
        parts.session.shutdown()
        _stop(proc)
    ratio = median(app) / median(raw)
    return [Row("Chat through llama_cpp.server: app vs raw openai client", median(app), "tok/s", median(raw), ratio,
                ">= 0.97", ratio >= 0.97, f"{median(counts):.0f}-token replies, median of {runs}, interleaved")]


def serve_vs_llama_server(runs: int, max_tokens: int) -> list[Row]:
    threads = default_llm_threads()
    ours, theirs = [], []
    # Both servers stay up; only one generates at a time, so each measured run has the cores to itself.
    serve, serve_url = _start(["-m", "chatapp", "serve", "--no-image", "--threads", str(threads)])
    llama, llama_url = _llama_server(threads)
    try:
        _raw_tps(serve_url, 8)
        _raw_tps(llama_url, 8)
        for _ in range(runs):
            ours.append(_raw_tps(serve_url, max_tokens)[0])
            theirs.append(_raw_tps(llama_url, max_tokens)[0])
    finally:
        _stop(serve)
        _stop(llama)
    ratio = median(ours) / median(theirs)
    return [Row("`chatapp serve` vs `llama_cpp.server`, same GGUF, openai client", median(ours), "tok/s",
                median(theirs), ratio, ">= 0.97", ratio >= 0.97,
                f"{max_tokens}-token replies, median of {runs}, interleaved")]


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    from bench.__main__ import table
    rows = app_vs_client(1 if quick else 5, 32 if quick else 256) + \
        serve_vs_llama_server(1 if quick else 5, 32 if quick else 256)
    print(table(rows))
