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


def _tps(engine, messages, tools, max_tokens) -> tuple[float, int, str]:
    from chatapp.conversation import GenParams
    from chatapp.engines.base import ChatStats
    from chatapp.engines.events import Usage
    params = GenParams(temperature=0.0, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=max_tokens,
                       seed=1, tools=tools)
    stats, first, finish = ChatStats(), None, ""
    for event in engine.stream(messages, params, lambda: False, stats):
        if first is None:
            first = time.perf_counter()
        if isinstance(event, Usage):
            finish = event.finish_reason
    end = time.perf_counter()
    return (stats.completion_tokens - 1) / (end - first), stats.completion_tokens, finish


def _same_prompt(engine, messages) -> list[dict]:
    """messages whose system prompt is the tools' system block as the template writes it: the very prompt
    tokens the tools give, with no tools offered (Qwen2.5's template puts them all in the system block)."""
    from chatapp.conversation import GenParams
    args = engine._completion_args(messages, GenParams(tools=TOOLS))
    text = engine.llm.detokenize(list(args["prompt"]), special=True).decode("utf-8")
    block = text.split("<|im_start|>system\n", 1)[1].split("<|im_end|>", 1)[0]
    same = [{"role": "system", "content": block}, *messages[1:]]
    assert list(engine._completion_args(same, GenParams())["prompt"]) == list(args["prompt"])
    return same


def tools_offered(runs: int, max_tokens: int, bar: float = 0.97) -> list[Row]:
    """One engine on the embedded SmolLM2 re-saved with Qwen2.5's template (tests/tool_model.py), greedy:
    tools offered ("auto": in the prompt, the marker watched, a grammar only once the model calls) against
    the same prompt tokens without tools, so the ratio is what tool support costs per token; the prompt asks
    for prose, so both write the same reply to max_tokens. Pairs alternate which runs first (the first of a
    pair measured a few percent slower here). The note gives the ratio to no tools at all: the price of the
    longer prompt (attention over it), which a 135M model feels far more than a 7B one."""
    from chatapp.engines.llama import LlamaChatEngine
    from tests.tool_model import tool_model_path
    engine = LlamaChatEngine(tool_model_path(), n_ctx=2048, n_threads=default_llm_threads())
    engine.load()
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    same = _same_prompt(engine, messages)
    offered, reference, bare, counts, finishes = [], [], [], [], set()
    for i in range(runs):
        pair = [(same, ()), (messages, TOOLS)]
        for msgs, tools in (pair if i % 2 else pair[::-1]):
            tps, n, finish = _tps(engine, msgs, tools, max_tokens)
            (offered if tools else reference).append(tps)
            if tools:
                counts.append(n)
                finishes.add(finish)
        bare.append(_tps(engine, messages, (), max_tokens)[0])
    ratio = median(offered) / median(reference)
    paired = median([o / r for o, r in zip(offered, reference)])
    return [Row(f"Chat throughput, tools offered vs the same prompt without (engine, {max_tokens}-token replies)",
                median(offered), "tok/s", median(reference), ratio, f">= {bar:.2f}", ratio >= bar,
                f"{median(counts):.0f}-token replies (finish: {', '.join(sorted(finishes))}), median of {runs}, "
                f"alternating; 2 tools, {len(engine._completion_args(messages, _params(TOOLS))['prompt'])} prompt tokens; "
                f"median of per-pair ratios {paired:.3f} (offered {', '.join(f'{x:.0f}' for x in offered)}; "
                f"same prompt {', '.join(f'{x:.0f}' for x in reference)}); against no tools at all "
                f"({len(engine._completion_args(messages, _params(()))['prompt'])} prompt tokens, {median(bare):.0f} tok/s) "
                f"{median(offered) / median(bare):.3f}")]


def _params(tools):
    from chatapp.conversation import GenParams
    return GenParams(tools=tools)
