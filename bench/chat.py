"""Chat throughput through the whole app path vs raw create_chat_completion, and follow-up latency."""
from __future__ import annotations

import time

from chatapp.engines.cpu import default_llm_threads

from .common import Row, median, qapp, wait_until

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
SYSTEM = "You are a helpful assistant."


def _raw_tps(path, threads, max_tokens) -> tuple[float, int]:
    import llama_cpp
    llm = llama_cpp.Llama(str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, seed=0, verbose=False)
    for _ in llm.create_chat_completion([{"role": "user", "content": "hi"}], max_tokens=1, stream=True):
        pass  # the same one-time warm-up the app does
    first = None
    n = 0
    for chunk in llm.create_chat_completion([{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
                                            stream=True, max_tokens=max_tokens, temperature=0.0, top_p=0.9, top_k=40,
                                            min_p=0.05, repeat_penalty=1.1, seed=1):
        if chunk["choices"][0]["delta"].get("content"):
            n += 1
            if first is None:
                first, cpu0, proc0 = time.perf_counter(), time.thread_time(), time.process_time()
    end, cpu1, proc1 = time.perf_counter(), time.thread_time(), time.process_time()
    del llm
    _raw_tps.cpu = (n - 1) / (cpu1 - cpu0)   # tokens per CPU-second of this thread: steadier on a busy machine
    _raw_tps.proc = (n - 1) / (proc1 - proc0)  # per CPU-second of the whole process (all threads)
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
    """Seconds to the first shown text, tokens/s after it, tokens: counted by the engine, since
    the worker hands several tokens on in one update."""
    s = parts.session
    events = {}

    def on_text(mid, t):
        if "first" not in events:
            events["first"], events["proc"] = time.perf_counter(), time.process_time()
    done, stats = [], []
    s.reply_text.connect(on_text)
    s.reply_finished.connect(done.append)
    s.stats_changed.connect(stats.append)
    sent = time.perf_counter()
    s.submit(text)
    wait_until(lambda: done, wake=[s.reply_finished])
    end, proc_end = time.perf_counter(), time.process_time()
    wait_until(lambda: stats, wake=[s.stats_changed])
    s.reply_text.disconnect(on_text)
    s.reply_finished.disconnect(done.append)
    s.stats_changed.disconnect(stats.append)
    n = stats[-1].completion_tokens
    # Tokens per CPU-second of the whole process (decoding, GUI, workers): what the app's own work
    # costs, unmoved by other machines' load on the host that only stretches the wall clock.
    _app_turn.proc = (n - 1) / (proc_end - events["proc"])
    return events["first"] - sent, (n - 1) / (end - events["first"]), n


def throughput(runs: int, max_tokens: int, bar: float = 0.97) -> list[Row]:
    """Interleaved raw, app, raw, app...: load from other jobs on the machine hits both paths alike.

    Greedy, the same sampling settings in both; this prompt runs to max_tokens on SmolLM2 (no EOS
    before 1,500 tokens), so both paths produce the same, full-length replies without forcing.
    """
    from chatapp.engines.defaults import default_llm_path
    path = default_llm_path()
    threads = default_llm_threads()   # what the app uses by default
    raw, app, counts, proc_ratios = [], [], [], []
    parts = _app(max_tokens)
    try:
        for _ in range(runs):
            raw.append(_raw_tps(path, threads, max_tokens)[0])
            parts.session.new_conversation()
            _, tps, n = _app_turn(parts, PROMPT)
            app.append(tps)
            counts.append(n)
            proc_ratios.append(_app_turn.proc / _raw_tps.proc)
    finally:
        parts.session.shutdown()
    ratio = median(app) / median(raw)
    paired = median([a / r for a, r in zip(app, raw)])   # each pair ran back to back: steadier under shifting load
    return [Row(f"Chat throughput (app path), {max_tokens}-token replies", median(app), "tok/s", median(raw), ratio,
                f">= {bar:.2f}", ratio >= bar, f"{median(counts):.0f}-token replies, median of {runs}, interleaved; raw in the same process "
                f"with the app open and idle (its workers waiting, as they are for the app's own reply); "
                f"median of per-pair ratios {paired:.3f}; per process CPU-second {median(proc_ratios):.3f} "
                f"(app {', '.join(f'{x:.0f}' for x in app)}; raw {', '.join(f'{x:.0f}' for x in raw)})")]


def _engine_tps(engine, max_tokens) -> tuple[float, int]:
    from chatapp.conversation import GenParams
    from chatapp.engines.base import ChatStats
    params = GenParams(temperature=0.0, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=max_tokens,
                       seed=1)
    stats, first = ChatStats(), None
    for _ in engine.stream([{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}], params,
                           lambda: False, stats):
        if first is None:
            first, cpu0 = time.perf_counter(), time.thread_time()
    end, cpu1 = time.perf_counter(), time.thread_time()
    _engine_tps.cpu = (stats.completion_tokens - 1) / (cpu1 - cpu0)
    return (stats.completion_tokens - 1) / (end - first), stats.completion_tokens


def engine_throughput(runs: int, max_tokens: int, bar: float = 1.05) -> list[Row]:
    """The engine alone (no GUI) against the raw library, interleaved, same sampling: the decoding loop's gain."""

    from chatapp.engines.defaults import default_llm_path
    from chatapp.engines.llama import LlamaChatEngine
    path = default_llm_path()
    threads = default_llm_threads()
    engine = LlamaChatEngine(path, n_ctx=2048, n_threads=threads)
    engine.load()
    raw, eng, counts, cpu_ratios = [], [], [], []
    for _ in range(runs):
        raw.append(_raw_tps(path, threads, max_tokens)[0])
        tps, n = _engine_tps(engine, max_tokens)
        eng.append(tps)
        counts.append(n)
        cpu_ratios.append(_engine_tps.cpu / _raw_tps.cpu)
    ratio = median(eng) / median(raw)
    paired = median([e / r for e, r in zip(eng, raw)])
    cpu = median(cpu_ratios)
    return [Row(f"Chat throughput (engine alone), {max_tokens}-token replies", median(eng), "tok/s", median(raw),
                ratio, f">= {bar:.2f}", ratio >= bar, f"{median(counts):.0f}-token replies, median of {runs}, "
                f"interleaved; median of per-pair ratios {paired:.3f}; per CPU-second {cpu:.3f} (engine {', '.join(f'{x:.0f}' for x in eng)}; raw {', '.join(f'{x:.0f}' for x in raw)})")]


OPENERS = ("Tell me", "Give me", "Share", "State", "Name")


def follow_up(turns: int = 10, conversations: int = 5) -> list[Row]:
    """Turn `turns` against turn 1, in several conversations: the median ratio and its spread.

    One sample of each was a coin toss on a busy machine. The prompt tokens the engine really
    evaluated (llama.cpp's own counter) are reported beside it: a regression in prefix re-use shows
    there whatever the timing does.
    """
    import statistics
    parts = _app(48)
    s = parts.session
    stats = []
    s.stats_changed.connect(stats.append)
    ratios, first_ms, last_ms, evaluated_first, evaluated_last, prompt_last = [], [], [], [], [], []
    try:
        for c in range(conversations):
            s.new_conversation()
            ttft = []
            for i in range(turns):
                # Each chat opens with other words: the same opening in every chat let turn 1 re-use the
                # previous chat's cached question (9 tokens evaluated instead of ~20), which no user's
                # first question gets. The system prompt is still shared, as it is in the app.
                # A user reads the reply and types for seconds; the worker's warm-up of the next turn
                # (tens of ms) is done by then. Submitting at once would time the warm-up as well.
                wait_until(lambda: not s.llm.busy.is_set())
                t, _, _ = _app_turn(parts, f"{OPENERS[c % len(OPENERS)]} one short fact about the number "
                                           f"{c * turns + i + 1}.")
                ttft.append(t * 1000)
                if i == 0:
                    evaluated_first.append(stats[-1].evaluated_prompt_tokens)
            evaluated_last.append(stats[-1].evaluated_prompt_tokens)
            prompt_last.append(stats[-1].prompt_tokens)
            first_ms.append(ttft[0])
            last_ms.append(ttft[-1])
            ratios.append(ttft[-1] / ttft[0])
    finally:
        s.shutdown()
    med = statistics.median
    ratio = med(ratios)
    return [Row(f"Time to first token, turn {turns} vs turn 1 (median of {conversations} chats)", med(last_ms), "ms",
                med(first_ms), ratio, "<= 1.2x", ratio <= 1.2,
                f"ratios {min(ratios):.2f}-{max(ratios):.2f}; prompt tokens evaluated: turn 1 {med(evaluated_first):.0f}, "
                f"turn {turns} {med(evaluated_last):.0f} of {med(prompt_last):.0f} (prefix re-use)")]
