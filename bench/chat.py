"""Chat throughput through the whole app path vs raw create_chat_completion, and follow-up latency."""
from __future__ import annotations

import time

from .common import Row, median, qapp, wait_until

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
SYSTEM = "You are a helpful assistant."


def _raw_tps(path, threads, max_tokens) -> tuple[float, int]:
    import llama_cpp
    llm = llama_cpp.Llama(str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, seed=0, verbose=False)
    for _ in llm.create_chat_completion([{"role": "user", "content": "hi"}], max_tokens=1, stream=True):
        pass  # the same one-time warm-up the app does
    start = first = None
    n = 0
    start = time.perf_counter()
    for chunk in llm.create_chat_completion([{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
                                            stream=True, max_tokens=max_tokens, temperature=0.0, top_p=0.9, top_k=40,
                                            min_p=0.05, repeat_penalty=1.1, seed=1):
        if chunk["choices"][0]["delta"].get("content"):
            n += 1
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    del llm
    return (n - 1) / (end - first), n


def _app(max_tokens):
    import tempfile

    from chatapp.app import build
    from chatapp.settings import Settings, resolve_paths
    qapp()
    settings = Settings(temperature=0.0, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1,
                        max_tokens=max_tokens, seed=1, system_prompt=SYSTEM)
    parts = build(resolve_paths(tempfile.mkdtemp(prefix="chatapp-bench-")), settings)
    parts.window.resize(1180, 800)
    parts.window.show()
    parts.session.load_models()
    wait_until(lambda: parts.session.llm_status == "ready")
    return parts


def _app_turn(parts, text):
    s = parts.session
    events = {"tokens": 0}

    def on_text(mid, t):
        events.setdefault("first", time.perf_counter())
        events["tokens"] += 1
    done = []
    s.reply_text.connect(on_text)
    s.reply_finished.connect(done.append)
    sent = time.perf_counter()
    s.submit(text)
    wait_until(lambda: done)
    end = time.perf_counter()
    s.reply_text.disconnect(on_text)
    s.reply_finished.disconnect(done.append)
    return events["first"] - sent, (events["tokens"] - 1) / (end - events["first"]), events["tokens"]


def throughput(runs: int, max_tokens: int, bar: float = 0.97) -> list[Row]:
    """Interleaved raw, app, raw, app...: load from other jobs on the machine hits both paths alike.

    Greedy, the same sampling settings in both; this prompt runs to max_tokens on SmolLM2 (no EOS
    before 1,500 tokens), so both paths produce the same, full-length replies without forcing.
    """
    from chatapp.engines.defaults import default_llm_path
    import os
    path = default_llm_path()
    threads = max(1, (os.cpu_count() or 2) // 2)   # what the app uses by default
    raw, app, counts = [], [], []
    parts = _app(max_tokens)
    try:
        for _ in range(runs):
            raw.append(_raw_tps(path, threads, max_tokens)[0])
            parts.session.new_conversation()
            _, tps, n = _app_turn(parts, PROMPT)
            app.append(tps)
            counts.append(n)
    finally:
        parts.session.shutdown()
    ratio = median(app) / median(raw)
    return [Row(f"Chat throughput (app path), {max_tokens}-token replies", median(app), "tok/s", median(raw), ratio,
                f">= {bar:.2f}", ratio >= bar, f"{median(counts):.0f}-token replies, median of {runs}, interleaved "
                f"(app {', '.join(f'{x:.0f}' for x in app)}; raw {', '.join(f'{x:.0f}' for x in raw)})")]


def follow_up(turns: int = 10) -> list[Row]:
    parts = _app(48)
    ttft = []
    try:
        for i in range(turns):
            t, _, _ = _app_turn(parts, f"Tell me one short fact about the number {i + 1}.")
            ttft.append(t * 1000)
    finally:
        parts.session.shutdown()
    ratio = ttft[-1] / ttft[0]
    return [Row(f"Time to first token, turn {turns} vs turn 1", ttft[-1], "ms", ttft[0], ratio, "<= 1.2x",
                ratio <= 1.2, f"turn 1 {ttft[0]:.0f} ms, turn {turns} {ttft[-1]:.0f} ms (prefix re-use)")]
