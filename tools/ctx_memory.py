"""The chat model's memory at each context length: RSS after loading and after one reply, real llama.cpp through
chatapp's engine, each length in a fresh process (the README's figures for the 4,096 default).

    python tools/ctx_memory.py                      # the embedded SmolLM2-135M at 2048, 4096 and 8192
    python tools/ctx_memory.py --model X.gguf 2048 4096
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    with open("/proc/self/status") as f:   # Linux: VmRSS, the resident set now
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def one(model: str, n_ctx: int) -> None:
    sys.path.insert(0, str(ROOT))   # this checkout's chatapp
    from chatapp.conversation import GenParams
    from chatapp.engines.defaults import default_llm_path
    from chatapp.engines.llama import LlamaChatEngine
    engine = LlamaChatEngine(model or default_llm_path(), n_ctx=n_ctx, n_threads=1, seed=1)
    info = engine.load()
    loaded = rss_mb()
    asked = [{"role": "user", "content": "Tell me about lighthouses in three sentences."}]
    for _event in engine.stream(asked, GenParams(max_tokens=64, temperature=0.0, seed=1), lambda: False):
        pass
    print(f"n_ctx {info.n_ctx:>6}: RSS after load {loaded:6.0f} MB, after one reply {rss_mb():6.0f} MB", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lengths", nargs="*", type=int, default=[2048, 4096, 8192])
    p.add_argument("--model", default="", help="a GGUF file (default: the embedded SmolLM2-135M)")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)   # the child process: one length
    args = p.parse_args()
    if args.one:
        one(args.model, args.lengths[0])
        return
    for n in args.lengths:
        subprocess.run([sys.executable, __file__, "--one", "--model", args.model, str(n)], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
