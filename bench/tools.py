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


def app_tools() -> tuple[dict, ...]:
    """The tools the desktop offers a model that calls tools and cannot see (its built-ins, default limits)."""
    from chatapp.tools import builtin  # noqa: F401  (registers the built-in tools)
    from chatapp.tools.base import offered, openai_tool
    return tuple(openai_tool(t) for t in offered())


def _same_prompt(engine, messages, with_tools: list[int]) -> list[dict]:
    """messages whose system prompt is the tools' system block as the template writes it: the very prompt
    tokens the tools give (with_tools), with no tools offered (Qwen2.5's template puts them all in the system block)."""
    text = engine.llm.detokenize(with_tools, special=True).decode("utf-8")
    block = text.split("<|im_start|>system\n", 1)[1].split("<|im_end|>", 1)[0]
    same = [{"role": "system", "content": block}, *messages[1:]]
    assert list(engine._completion_args(same, _params(()))["prompt"]) == with_tools
    return same


def _raw_tps(llm, prompt: list[int], max_tokens: int) -> float:
    """Raw llama-cpp-python on the same prompt tokens, greedy, streamed: tokens/s from the first to the last."""
    first, n = None, 0
    for _chunk in llm.create_completion(prompt=prompt, max_tokens=max_tokens, temperature=0.0, seed=1, stream=True):
        n += 1
        first = first or time.perf_counter()
    return (n - 1) / (time.perf_counter() - first)


def tools_offered(runs: int, max_tokens: int, bar: float = 0.97) -> list[Row]:
    """One engine on the embedded SmolLM2 re-saved with Qwen2.5's template (tests/tool_model.py), greedy, with the
    desktop's own built-in tools at its 4,096-token context. First row (the bar): tools offered ("auto": in the
    prompt, the marker watched, a grammar only once the model calls) against the same prompt tokens without tools,
    so the ratio is what tool support costs per token; the prompt asks for prose, so both write the same reply to
    max_tokens. Second row: against no tools at all, next to raw llama-cpp-python on the same two prompts: the
    price of the longer prompt (attention over it), which the library pays the same and a 135M model feels far
    more than a 7B one. Pairs alternate which runs first (the first of a pair measured a few percent slower)."""
    from llama_cpp import Llama

    from chatapp.engines.llama import LlamaChatEngine
    from tests.tool_model import tool_model_path
    tools, threads = app_tools(), default_llm_threads()
    engine = LlamaChatEngine(tool_model_path(), n_ctx=4096, n_threads=threads)
    engine.load()
    raw = Llama(str(tool_model_path()), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    with_tools = list(engine._completion_args(messages, _params(tools))["prompt"])
    without = list(engine._completion_args(messages, _params(()))["prompt"])
    same = _same_prompt(engine, messages, with_tools)
    offered, reference, bare, raw_tools, raw_bare, counts, finishes = [], [], [], [], [], [], set()
    for i in range(runs):
        pair = [(same, ()), (messages, tools)]
        for msgs, offer in (pair if i % 2 else pair[::-1]):
            tps, n, finish = _tps(engine, msgs, offer, max_tokens)
            (offered if offer else reference).append(tps)
            if offer:
                counts.append(n)
                finishes.add(finish)
        bare.append(_tps(engine, messages, (), max_tokens)[0])
        for prompt, into in ((with_tools, raw_tools), (without, raw_bare))[:: 1 if i % 2 else -1]:
            into.append(_raw_tps(raw, prompt, max_tokens))
    ratio = median(offered) / median(reference)
    paired = median([o / r for o, r in zip(offered, reference)])
    names = ", ".join(t["function"]["name"] for t in tools)
    literal, raw_literal = median(offered) / median(bare), median(raw_tools) / median(raw_bare)
    return [Row(f"Chat throughput, the app's {len(tools)} tools offered vs the same prompt without (engine, "
                f"{max_tokens}-token replies)", median(offered), "tok/s", median(reference), ratio, f">= {bar:.2f}",
                ratio >= bar,
                f"{median(counts):.0f}-token replies (finish: {', '.join(sorted(finishes))}), median of {runs}, "
                f"alternating; tools {names}: {len(with_tools)} prompt tokens; median of per-pair ratios "
                f"{paired:.3f} (offered {', '.join(f'{x:.0f}' for x in offered)}; same prompt "
                f"{', '.join(f'{x:.0f}' for x in reference)})"),
            Row(f"Chat throughput, tools offered vs none at all ({len(with_tools)} vs {len(without)} prompt tokens; "
                f"engine)", median(offered), "tok/s", median(bare), literal, "", None,
                f"the longer prompt's own price: raw llama-cpp-python on the same two prompts "
                f"{median(raw_tools):.0f} vs {median(raw_bare):.0f} tok/s, {raw_literal:.3f}; median of {runs}")]


def _params(tools):
    from chatapp.conversation import GenParams
    return GenParams(tools=tools)


def tool_draw(image_steps: int) -> list[Row]:
    """The desktop asked in words by a local model that calls tools (the tool model above, its first reply told to
    call draw_picture: a 135M model seldom chooses to), with the embedded image model: the GUI event loop while the
    call's picture renders and the reply goes on, and the time from the model's finished call to the picture's
    first step (the card, the tool's thread, the service door, the picture queue)."""
    import tempfile
    from dataclasses import replace

    from chatapp.app import build
    from chatapp.engines.llama import LlamaChatEngine
    from chatapp.settings import Settings, resolve_paths
    from tests.tool_model import tool_model_path

    from .common import LoopProbe, qapp, wait_until
    from .image import model_folder

    class Told(LlamaChatEngine):
        def stream(self, messages, params, should_stop, stats=None):
            if params.tools and messages[-1]["role"] == "user":
                params = replace(params, tool_choice={"type": "function", "function": {"name": "draw_picture"}})
            return super().stream(messages, params, should_stop, stats)

    qapp()
    folder, label = model_folder()
    engine = Told(tool_model_path(), n_ctx=4096, n_threads=default_llm_threads())   # the tools take ~1,700 tokens
    parts = build(resolve_paths(tempfile.mkdtemp(prefix="chatapp-tooldraw-")),
                  Settings(temperature=0.0, seed=1, max_tokens=64, preload_image_model=True, image_model=str(folder),
                           image_steps=image_steps), llm_engine_factory=lambda: engine)
    parts.window.resize(1180, 800)
    parts.window.show()
    s, probe, times = parts.session, LoopProbe(), {}
    s.replies.called_tools.connect(lambda *_: times.setdefault("call", time.perf_counter()))
    # On the image worker's thread: a time only, read after the run.
    s.images.worker.progress.connect(lambda _rid, e: times.setdefault("step", time.perf_counter())
                                     if e.phase == "step" else None)
    try:
        s.load_models()
        wait_until(lambda: s.llm_status == "ready" and s.images.status == "ready")
        for run in ("warm-up", "measured"):
            times.clear()
            s.new_conversation()
            probe.start()
            s.submit("Draw me a lighthouse at dusk, please.")
            wait_until(lambda: s.current is not None and not parts.window.composer.busy and not s.images.jobs)
            probe.stop()
        drawn = [m for m in s.storage.branch(s.current.id) if m.kind == "image" and m.status == "done"]
    finally:
        s.shutdown()
    if not drawn or "step" not in times:
        raise RuntimeError("the tool drew no picture")
    longest, p99 = probe.summary_ms()
    to_step = (times["step"] - times["call"]) * 1000
    note = f"SmolLM2 + Qwen2.5's tool template, draw_picture forced; {label}, {image_steps} steps; 5 ms probe"
    return [Row("Event loop: longest stall while a tool draws (call, picture, reply)", longest, "ms", None, None,
                "<= 50 ms", longest <= 50, f"{note}; 99th percentile {p99:.1f} ms"),
            Row("Tool call -> the picture's first step", to_step, "ms", None, None, "", None,
                "from the reply's finished call to the image engine's first step (model loaded)")]


def call_speed(runs: int, max_tokens: int) -> list[Row]:
    """Tokens/s while the model writes a call (tool_choice "required": the grammar from the first token), the
    grammar checking only the chain's pick (llama_tools.ReplyTools.grammar_last, llama.cpp's common sampler)
    against the grammar in the chain (every candidate, every token). Greedy, so both write the same call
    token for token (checked); pairs alternate which runs first."""
    from chatapp.conversation import GenParams
    from chatapp.engines.base import ChatStats
    from chatapp.engines.events import Reply
    from chatapp.engines.llama import LlamaChatEngine
    from chatapp.engines.llama_tools import ReplyTools
    from tests.tool_model import tool_model_path
    engine = LlamaChatEngine(tool_model_path(), n_ctx=2048, n_threads=default_llm_threads())
    engine.load()
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Draw a lighthouse at dusk with a storm coming in from the sea."}]
    params = GenParams(temperature=0.0, max_tokens=max_tokens, seed=1, tools=TOOLS[:1], tool_choice="required",
                       parallel_tool_calls=False)
    speeds: dict[bool, list[float]] = {True: [], False: []}
    calls, tokens = set(), set()
    original = ReplyTools.grammar_last
    try:
        for i in range(runs):
            for last in ((True, False) if i % 2 else (False, True)):
                ReplyTools.grammar_last = last
                stats = ChatStats()
                events = list(engine.stream(messages, params, lambda: False, stats))
                # From the first token to the last: a call's events come only at its end.
                speeds[last].append((stats.completion_tokens - 1) / (stats.total_s - stats.ttft_s))
                calls.add(tuple(c.arguments for c in Reply.of(events).tool_calls))
                tokens.add(stats.completion_tokens)
    finally:
        ReplyTools.grammar_last = original
    assert len(calls) == 1 and len(tokens) == 1, "the two ways wrote different calls"
    fast, slow = median(speeds[True]), median(speeds[False])
    return [Row("Writing a tool call: grammar checks the pick, whole vocabulary only on a refusal (engine)", fast,
                "tok/s", slow, fast / slow, "", None,
                f"reference: the grammar over every candidate every token; {tokens.pop()}-token call, greedy, "
                f"same tokens both ways; median of {runs}, alternating (checked {', '.join(f'{x:.0f}' for x in speeds[True])}; "
                f"in the chain {', '.join(f'{x:.0f}' for x in speeds[False])})")]
