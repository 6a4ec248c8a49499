"""Local tool calling (issue 23): chat throughput with tools offered against the same engine without them."""
from __future__ import annotations

import time

from chatapp.engines.cpu import default_llm_threads

from .common import Row, median

SYSTEM = "You are a helpful assistant."
PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
TOOLS = (
    {"type": "function", "function": {
        "name": "draw_picture", "description": "Draw a picture from a text prompt.",
        "parameters": {"type": "object", "properties": {
            "prompt": {"type": "string", "maxLength": 300},
            "width": {"type": "integer", "enum": [256, 512, 768, 1024]},
            "height": {"type": "integer", "enum": [256, 512, 768, 1024]},
            "steps": {"type": "integer", "enum": [10, 20, 30]}}, "required": ["prompt"]}}},
    {"type": "function", "function": {
        "name": "search_documents", "description": "Search this chat's files and the library.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string", "maxLength": 200}},
                       "required": ["query"]}}},
)


def _tps(engine, tools, max_tokens) -> tuple[float, int, str]:
    from chatapp.conversation import GenParams
    from chatapp.engines.base import ChatStats
    from chatapp.engines.events import Usage
    params = GenParams(temperature=0.0, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=max_tokens,
                       seed=1, tools=tools)
    stats, first, finish = ChatStats(), None, ""
    for event in engine.stream([{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}], params,
                               lambda: False, stats):
        if first is None:
            first = time.perf_counter()
        if isinstance(event, Usage):
            finish = event.finish_reason
    end = time.perf_counter()
    return (stats.completion_tokens - 1) / (end - first), stats.completion_tokens, finish


def tools_offered(runs: int, max_tokens: int, bar: float = 0.97) -> list[Row]:
    """One engine on the embedded SmolLM2 re-saved with Qwen2.5's template (tests/tool_model.py), greedy,
    interleaved: tools offered ("auto": rendered in the prompt, the marker watched, no grammar unless the
    model calls) against none. The prompt asks for prose, so both replies run to max_tokens."""
    from chatapp.engines.llama import LlamaChatEngine
    from tests.tool_model import tool_model_path
    engine = LlamaChatEngine(tool_model_path(), n_ctx=2048, n_threads=default_llm_threads())
    engine.load()
    plain, offered, counts, finishes = [], [], [], set()
    for _ in range(runs):
        tps, _, _ = _tps(engine, (), max_tokens)
        plain.append(tps)
        tps, n, finish = _tps(engine, TOOLS, max_tokens)
        offered.append(tps)
        counts.append(n)
        finishes.add(finish)
    ratio = median(offered) / median(plain)
    paired = median([o / p for o, p in zip(offered, plain)])
    return [Row(f"Chat throughput, tools offered vs none (engine, {max_tokens}-token replies)", median(offered), "tok/s",
                median(plain), ratio, f">= {bar:.2f}", ratio >= bar,
                f"{median(counts):.0f}-token replies (finish: {', '.join(sorted(finishes))}), median of {runs}, "
                f"interleaved; 2 tools in the prompt; reference = the same engine without tools; median of "
                f"per-pair ratios {paired:.3f} (offered {', '.join(f'{x:.0f}' for x in offered)}; "
                f"none {', '.join(f'{x:.0f}' for x in plain)})")]
