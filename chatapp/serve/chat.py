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
from ..engines.events import ReasoningDelta, Reply, TextDelta, ToolCallDelta, Usage, calls_named_once
from .content_parts import check_parts
from .gate import MAX_BODY, body_size
from .pictures import has_pictures, prepare_pictures
from .schemas import ApiError, ChatBody, schema_grammar
from .tool_fields import check_choice, check_history, check_tools


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


def _finish(reason: str, called: bool) -> str:
    """A reply that ended in calls says so, whatever the engine said ("stop" after a forced call); one
    whose calls all went out as text did not."""
    if called:
        return "tool_calls" if reason == "stop" else reason
    return "stop" if reason == "tool_calls" else reason


def offered_calls_only(events, names: set[str], one: bool = False):
    """Calls named once with ids; a call to a function the request did not offer (a model's invention),
    or past the first when `one` (parallel_tool_calls false), goes out as the text it was, after the
    rest (as llama.cpp's server keeps an unparsable call as content), never as a call the client did
    not ask for. The calls sent keep consecutive indexes."""
    sent: dict[int, int] = {}              # the engine's index -> the index the client sees
    stray: dict[int, list[str]] = {}       # the engine's index -> [name, argument pieces...]
    for event in calls_named_once(events):
        if isinstance(event, ToolCallDelta):
            if event.index not in sent and event.index not in stray:
                if event.name in names and not (one and sent):
                    sent[event.index] = len(sent)
                else:
                    stray[event.index] = [event.name]
            if event.index in stray:
                stray[event.index].append(event.arguments)
                continue
            event = replace(event, index=sent[event.index])
        elif isinstance(event, Usage):
            for name, *pieces in stray.values():
                yield TextDelta(f'{{"name": {json.dumps(name)}, "arguments": {"".join(pieces) or "{}"}}}')
        yield event


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


def tool_request(slot, body: ChatBody) -> tuple[list[dict], GenParams]:
    """The body's messages and parameters with its tools checked as OpenAI checks them; tools offered to
    a model that cannot call them are a 400 naming it (never ignored), unless tool_choice is "none"."""
    tools = check_tools(body.tools or [])
    choice = check_choice(body.tool_choice, tools, body.parallel_tool_calls)
    check_history(body.messages)
    can_call = slot.engine.capabilities.tools
    if tools and choice != "none" and not can_call:
        raise ApiError(400, f"The model '{slot.id}' cannot call tools. Send the request without "
                            "'tools', or with tool_choice 'none'.", param="tools",
                       code="tools_not_supported")
    if can_call and slot.engine.capabilities.grammars:   # its calls are kept to each schema by a grammar
        for i, tool in enumerate(tools):
            if "parameters" in tool["function"]:
                schema_grammar(tool["function"]["parameters"], f"tools[{i}].function.parameters")
    params = replace(body.params(), tools=tools if can_call else (), tool_choice=choice if can_call else "none",
                     parallel_tool_calls=body.parallel_tool_calls is not False)
    if params.tools and choice != "none" and params.grammar:
        field = body.constraint_field()
        raise ApiError(400, f"Send '{field}' or 'tools', not both: this server keeps a reply either to a format or "
                            "to the tools' calls.", param=field)
    return body.dict_messages(tools=can_call), params


async def complete(request: Request, slot, body: ChatBody, wait, note):
    check_parts(body.messages, slot.id, slot.engine.capabilities.vision)   # before anything reads the text
    if has_pictures(body.messages):   # decoded and re-encoded off the event loop (a photo takes a while)
        await asyncio.to_thread(prepare_pictures, body.messages, slot.engine.capabilities.image_side)
    elif body_size(request.scope) > MAX_BODY:   # the gate let it in for pictures; it has none
        raise ApiError(413, f"The request body is larger than {MAX_BODY >> 20} MB (only a request with pictures "
                            "may be larger).")
    messages, params = tool_request(slot, body)
    names = {t["function"]["name"] for t in params.tools} if params.tool_choice != "none" else set()
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
        return EventSourceResponse(_stream(request, slot, messages, params, names, body.n, include_usage, cid,
                                           created, note), ping=10, sep="\n")
    stop = threading.Event()
    choices, prompt_tokens, completion_tokens = [], 0, 0

    def work():
        nonlocal prompt_tokens, completion_tokens
        for i in range(body.n):
            if stop.is_set():   # its client left while it was queued
                return
            stats = ChatStats()
            events = slot.engine.stream(messages, _choice_params(params, i), stop.is_set, stats)
            reply = Reply.of(offered_calls_only(events, names, not params.parallel_tool_calls))
            prompt_tokens, completion_tokens = stats.prompt_tokens, completion_tokens + stats.completion_tokens
            message = {"role": "assistant", "content": reply.text}
            if reply.reasoning:   # a reasoning model's thinking, apart from its answer (as llama-server gives it)
                message["reasoning_content"] = reply.reasoning
            if reply.tool_calls:
                message.update(content=reply.text or None, tool_calls=[c.openai() for c in reply.tool_calls])
            choices.append({"index": i, "message": message, "logprobs": None,
                            "finish_reason": _finish(reply.usage.finish_reason if reply.usage else "stop",
                                                     bool(reply.tool_calls))})
    try:
        await wait(asyncio.wrap_future(slot.executor.submit(work)), stop)
    except ContextOverflow as exc:
        raise overflow(exc) from exc
    except EngineError as exc:
        raise ApiError(500, str(exc), kind="server_error") from exc
    note(request, tokens=completion_tokens)
    return {"id": cid, "object": "chat.completion", "created": created, "model": slot.id, "choices": choices,
            "usage": usage(prompt_tokens, completion_tokens)}


async def _stream(request: Request, slot, messages, params: GenParams, names: set[str], n: int, include_usage: bool,
                  cid: str, created: int, note):
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
                stats, finish, called = ChatStats(), "stop", False
                put("start", i)
                try:
                    events = slot.engine.stream(messages, _choice_params(params, i), stop.is_set, stats)
                    for event in offered_calls_only(events, names, not params.parallel_tool_calls):
                        if isinstance(event, TextDelta):
                            put("delta", i, {"content": event.text})
                        elif isinstance(event, ReasoningDelta):   # llama-server's and vLLM's field for it
                            put("delta", i, {"reasoning_content": event.text})
                        elif isinstance(event, ToolCallDelta):
                            called = True
                            put("delta", i, {"tool_calls": [_tool_call_delta(event)]})
                        elif isinstance(event, Usage):
                            finish = event.finish_reason
                finally:
                    counts["prompt"] = stats.prompt_tokens
                    counts["completion"] += stats.completion_tokens
                put("finish", i, _finish(finish, called))
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
