"""POST /v1/chat/completions: n choices, stop, usage chunk, context check; plain JSON or server-sent events."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import replace

from fastapi import Request
from sse_starlette.sse import EventSourceResponse

from ..conversation import GenParams
from ..engines.base import ChatStats, ContextOverflow, EngineError
from ..engines.events import Reply, TextDelta, ToolCallDelta, Usage
from .schemas import ApiError, ChatBody


def _choice_params(params: GenParams, index: int) -> GenParams:
    """Choice i is its own generation: with a fixed seed, seed + i (so n choices can differ, reproducibly)."""
    return replace(params, seed=params.seed + index) if params.seed >= 0 and index else params


def _tool_call_delta(part: ToolCallDelta) -> dict:
    """OpenAI's streamed shape: the call's first part has its id, type and name; later ones add arguments."""
    out: dict = {"index": part.index}
    if part.id:
        out.update(id=part.id, type="function")
    function = {"name": part.name} if part.name else {}
    out["function"] = {**function, "arguments": part.arguments}
    return out


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def overflow(exc: Exception) -> ApiError:
    return ApiError(400, str(exc), param="messages", code="context_length_exceeded")


async def check_fits(slot, messages: list[dict], params: GenParams, wait) -> None:
    """As llama.cpp's server: a prompt that does not fit the context is a 400 before anything streams
    (the desktop trims old turns; an API must not answer a conversation it did not read)."""
    if not slot.engine.capabilities.counts_prompt:
        return
    try:
        used = await wait(asyncio.wrap_future(slot.executor.submit(slot.engine.prompt_tokens, messages, params)))
    except EngineError as exc:
        raise ApiError(400, str(exc), param="messages") from exc
    n_ctx = slot.info.n_ctx
    if used is not None and used >= n_ctx:
        raise ApiError(400, f"This model's maximum context length is {n_ctx} tokens, but the messages are "
                            f"{used} tokens (context_length_exceeded). Shorten the conversation, or start "
                            "chatapp serve with a larger --n-ctx.", param="messages", code="context_length_exceeded")


async def complete(request: Request, slot, body: ChatBody, wait, note):
    messages, params = body.dict_messages(), body.params()
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    n_vocab = slot.info.details.get("n_vocab")
    unknown = [t for t, _ in params.logit_bias if n_vocab and t >= n_vocab]
    if unknown:
        raise ApiError(400, f"logit_bias names token {unknown[0]}, but this model's vocabulary has {n_vocab} tokens.",
                       param="logit_bias")
    await check_fits(slot, messages, params, wait)
    if params.grammar and slot.engine.capabilities.grammars:
        problem = await wait(asyncio.wrap_future(slot.executor.submit(slot.engine.grammar_problem, params.grammar)))
        if problem:
            raise ApiError(400, f"{body.constraint_field()}: {problem}.", param=body.constraint_field())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return EventSourceResponse(_stream(request, slot, messages, params, body.n, include_usage, cid, created,
                                           note), ping=10, sep="\n")
    stop = threading.Event()
    choices, prompt_tokens, completion_tokens = [], 0, 0

    def work():
        nonlocal prompt_tokens, completion_tokens
        for i in range(body.n):
            if stop.is_set():   # its client left while it was queued
                return
            stats = ChatStats()
            reply = Reply.of(slot.engine.stream(messages, _choice_params(params, i), stop.is_set, stats))
            prompt_tokens, completion_tokens = stats.prompt_tokens, completion_tokens + stats.completion_tokens
            message = {"role": "assistant", "content": reply.text}
            if reply.tool_calls:
                message.update(content=reply.text or None, tool_calls=[c.openai() for c in reply.tool_calls])
            choices.append({"index": i, "message": message, "logprobs": None,
                            "finish_reason": reply.usage.finish_reason if reply.usage else "stop"})
    try:
        await wait(asyncio.wrap_future(slot.executor.submit(work)), stop)
    except ContextOverflow as exc:
        raise overflow(exc) from exc
    except EngineError as exc:
        raise ApiError(500, str(exc), kind="server_error") from exc
    note(request, tokens=completion_tokens)
    return {"id": cid, "object": "chat.completion", "created": created, "model": slot.id, "choices": choices,
            "usage": usage(prompt_tokens, completion_tokens)}


async def _stream(request: Request, slot, messages, params: GenParams, n: int, include_usage: bool, cid: str,
                  created: int, note):
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()
    counts = {"prompt": 0, "completion": 0}

    def put(*item):
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def work():
        try:
            for i in range(n):
                if stop.is_set():
                    break
                stats, finish = ChatStats(), "stop"
                put("start", i)
                try:
                    for event in slot.engine.stream(messages, _choice_params(params, i), stop.is_set, stats):
                        if isinstance(event, TextDelta):
                            put("delta", i, {"content": event.text})
                        elif isinstance(event, ToolCallDelta):
                            put("delta", i, {"tool_calls": [_tool_call_delta(event)]})
                        elif isinstance(event, Usage):
                            finish = event.finish_reason
                finally:
                    counts["prompt"] = stats.prompt_tokens
                    counts["completion"] += stats.completion_tokens
                put("finish", i, finish)
            put("end")
        except Exception as exc:   # sent to the client as an error event
            put("error", exc)

    def chunk(index: int, delta: dict, finish=None) -> dict:
        data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": slot.id,
                "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:   # OpenAI: every chunk has "usage": null but the last, which has only usage
            data["usage"] = None
        return {"data": json.dumps(data)}
    slot.executor.submit(work)
    ended = False
    try:
        while True:
            kind, *value = await queue.get()
            if kind == "start":
                yield chunk(value[0], {"role": "assistant", "content": ""})
            elif kind == "delta":
                yield chunk(value[0], value[1])
            elif kind == "finish":
                yield chunk(value[0], {}, value[1])
            elif kind == "end":
                ended = True
                if include_usage:
                    yield {"data": json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                               "model": slot.id, "choices": [],
                                               "usage": usage(counts["prompt"], counts["completion"])})}
                yield {"data": "[DONE]"}
                break
            else:
                ended = True
                exc = value[0]
                error = overflow(exc) if isinstance(exc, ContextOverflow) else ApiError(500, str(exc), kind="server_error")
                note(request, error=error.message)
                yield {"data": json.dumps(error.body())}
                break
    finally:
        # Client gone (the generator is cancelled) or done: either way the model is freed at once.
        if not ended:
            note(request, client_gone=True)
        stop.set()
        note(request, tokens=counts["completion"])
