"""Chat threads measured (issue 27): decode and prompt tok/s with 1 and all threads, quiet, while a picture
renders, and on one core (as `taskset -c 0`). Each case runs in its own process, so affinity and load stay put."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time

from .common import Row

CASES = ("quiet", "picture", "one core")


def _measure(case: str, runs: int, tokens: int) -> dict:
    """Engines with 1 thread, all cores and auto in one process, interleaved: load from other jobs
    shifts between runs far more than between neighbouring replies."""
    if case == "one core":
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})   # what `taskset -c 0` does
    from chatapp.conversation import GenParams
    from chatapp.engines.base import ChatStats
    from chatapp.engines.cpu import cores
    from chatapp.engines.defaults import default_llm_path

    from chatapp.engines.llama import LlamaChatEngine
    from .speculative import CODE, DOCUMENT
    counts = {"1": 1, "all": 2 if case == "one core" else cores(), "auto": 0}   # one core: 2 threads on it
    engines = {k: LlamaChatEngine(default_llm_path(), n_ctx=2048, n_threads=n, prompt_lookup=False)
               for k, n in counts.items()}
    for e in engines.values():
        e.load()
    stop = threading.Event()
    pictures = []
    if case == "picture":      # the app's own image engine, drawing pictures one after another
        from chatapp.conversation import ImageRequest
        from chatapp.engines.defaults import default_image_model_path
        from chatapp.engines.diffusion import DiffusionImageEngine
        image = DiffusionImageEngine(default_image_model_path())
        image.load()
        image.chat_busy = lambda: True      # as in the app while a reply streams

        def draw():
            while not stop.is_set():
                image.generate(ImageRequest(prompt="a red circle on a blue background", steps=20, seed=len(pictures)),
                               lambda progress: None, stop.is_set)
                pictures.append(1)
        threading.Thread(target=draw, daemon=True).start()
        while not pictures:
            time.sleep(0.1)     # measure while one is surely in progress, not during the model load
    for e in engines.values():   # a first reply, as every chat has: auto times both options on it
        for _ in e.stream([{"role": "user", "content": "Hello"}], GenParams(max_tokens=24), lambda: False,
                          ChatStats()):
            pass
    prompt = engines["1"].llm.tokenize((DOCUMENT + "\n\n" + CODE).encode())
    params = GenParams(temperature=0.0, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=tokens, seed=1)
    out = {k: {"prompt": [], "decode": []} for k in engines}
    try:
        for _ in range(runs):
            for k, engine in engines.items():
                engine.llm.reset()
                engine._threads.apply(engine.llm._ctx.ctx, engine._threads.best())   # as a reply's prompt gets
                t = time.perf_counter()
                engine.llm.eval(prompt)
                out[k]["prompt"].append(len(prompt) / (time.perf_counter() - t))
                engine.llm.reset()
                stats, first = ChatStats(), None
                for _ in engine.stream([{"role": "user", "content": "Write a long story about a storm at sea."}],
                                       params, lambda: False, stats):
                    first = first or time.perf_counter()
                out[k]["decode"].append((stats.completion_tokens - 1) / (time.perf_counter() - first))
    finally:
        stop.set()
    return {k: {w: statistics.median(v) for w, v in d.items()} | {"prompt_tokens": len(prompt)} for k, d in out.items()}


def threads(runs: int = 3, tokens: int = 128, cases=CASES) -> list[Row]:
    """Per case: 1 thread (the old default), all cores, and auto (the engine's measured choice)."""
    load = os.getloadavg()[0]
    rows = []
    for case in cases:
        out = subprocess.run([sys.executable, "-m", "bench.threads", case, str(runs), str(tokens)],
                             capture_output=True, text=True, timeout=1200)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
        one, every, auto = r["1"], r["all"], r["auto"]
        n = "2" if case == "one core" else str(os.cpu_count() and len(os.sched_getaffinity(0)))
        for what in ("decode", "prompt"):
            best = max(one[what], every[what])
            rows.append(Row(f"Chat threads, {case}: {what}, auto vs 1 thread (the old default)", auto[what], "tok/s",
                            one[what], auto[what] / one[what], ">= 0.9 of the better fixed count",
                            auto[what] >= 0.9 * best,
                            f"1 thread {one[what]:.0f}, {n} threads {every[what]:.0f}, auto {auto[what]:.0f} tok/s "
                            f"({n} vs 1: {every[what] / one[what]:.2f}x); interleaved in one process, median of "
                            f"{runs}; load average {load:.1f} at the start; " +
                            (f"{one['prompt_tokens']}-token prompt" if what == "prompt" else
                             f"{tokens}-token greedy replies")))
    return rows


if __name__ == "__main__":
    print(json.dumps(_measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
