"""Chat through an OpenAI-compatible server (llama-server, vLLM, Ollama, LM Studio, `chatapp serve`)."""
from __future__ import annotations

import queue
import time
from dataclasses import replace
from typing import Callable, Iterator

from ..conversation import GenParams, reply_reserve
from .base import ChatCapabilities, ChatStats, EngineError, ModelInfo
from .context import fit_messages, image_urls, message_tokens
from .events import ChatEvent, ReasoningDelta, ToolCallDelta, Usage, calls_named_once
from .reasoning import ThinkingSplitter
from .remote import RemoteCall, RemoteClient, check_url, describe_error, host_of, said_vision, server_text

# Keys under which servers report a model's context length in GET /models (vLLM, LM Studio, ours).
CONTEXT_KEYS = ("context_length", "max_model_len", "max_context_length", "n_ctx")
# Words in a server's 400 that say the picture was the trouble (llama-server: "image input is not
# supported", OpenAI and chatapp serve: "image_url is only supported by certain models").
PICTURE_WORDS = ("image", "picture", "vision", "multimodal", "mmproj", "modalit")


def approx_tokens(text: str | None) -> int:
    """The server's tokenizer is not here; ~3 characters a token errs on the long side, so trimming is safe.
    (An assistant message that only calls tools has no text.)"""
    return len(text or "") // 3 + 1


def context_length(model) -> int:
    extra = dict(getattr(model, "model_extra", None) or {})
    if isinstance(extra.get("meta"), dict):   # llama.cpp's llama-server nests it
        extra = {**extra["meta"], **extra}
    for key in CONTEXT_KEYS:
        value = extra.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def list_models(client: RemoteClient, what: str) -> list:
    try:
        return list(client.openai.models.list())
    except Exception as exc:
        raise EngineError(describe_error(exc, client.base_url, what)) from exc


# Where servers put a reasoning model's thinking in a delta: llama-server, vLLM and DeepSeek's
# `reasoning_content`; Ollama's and OpenRouter's `reasoning`. Not OpenAI's fields: read from the extras.
REASONING_KEYS = ("reasoning_content", "reasoning")


def _events(delta, thinking: ThinkingSplitter) -> Iterator[ChatEvent]:
    """One streamed delta's thinking, text and tool-call parts, as events. A server that passes the
    model's <think> block on as text (vLLM without a reasoning parser, older Ollama) is split here."""
    if delta is None:
        return
    said = next((v for v in (getattr(delta, k, None) for k in REASONING_KEYS) if isinstance(v, str) and v), "")
    if said:
        yield ReasoningDelta(said)
    if delta.content:
        yield from thinking.feed(delta.content)
    for part in delta.tool_calls or []:
        function = part.function
        index = getattr(part, "index", None)   # the client does not validate: a server may leave it out
        yield ToolCallDelta(index if isinstance(index, int) else 0, part.id or "", (function and function.name) or "",
                            (function and function.arguments) or "")


class OpenAIChatEngine:
    """Streams replies from a server; owned by the LLM worker like any engine, and as stoppable."""

    # The server's model may not call tools: it says so (a 400); stream() then asks again without them
    # where the model may answer in words ("auto"), and words the refusal where a call was required.
    # Whether it sees is learnt at load (vision; image_side 0: no server says what size its projector takes).
    capabilities = ChatCapabilities(tools=True)

    def __init__(self, base_url: str, model: str = "", api_key: str = "", *, n_ctx: int = 4096,
                 timeout: float = 60.0, sees: bool = False):
        self.base_url, self.model, self.api_key = base_url, model.strip(), api_key
        self.n_ctx, self.timeout = n_ctx, timeout
        self.sees = sees   # the user's word, for a server that does not say whether its model sees
        self.vision_said_by = ""   # where load() learnt it: the server's endpoint, or "Settings"
        self.client: RemoteClient | None = None

    def load(self) -> ModelInfo:
        """Connect: list the server's models, check ours is there, learn its context length if told and
        whether it sees pictures (the server's word where it gives one, else the user's)."""
        self.base_url = check_url(self.base_url, "chat")
        self.capabilities = type(self).capabilities   # a refusal of tools is learnt again per connection
        self.client = RemoteClient(self.base_url, self.api_key, self.timeout)
        models = list_models(self.client, "chat")
        ids = [m.id for m in models]
        if not self.model:
            if not ids:
                raise EngineError(f"The chat server at {host_of(self.base_url)} lists no models; name one in Settings.")
            self.model = ids[0]
        elif ids and self.model not in ids:
            raise EngineError(f"The chat server at {host_of(self.base_url)} has no model '{self.model}'. "
                              f"It offers: {', '.join(ids[:8])}. Choose one in Settings.")
        reported = next((context_length(m) for m in models if m.id == self.model), 0)
        if reported:
            self.n_ctx = reported
        said = said_vision(self.client, self.model)
        sees, self.vision_said_by = said if said is not None else (self.sees, "Settings")
        self.capabilities = replace(self.capabilities, vision=sees, image_side=0)
        return ModelInfo(name=f"{self.model} @ {host_of(self.base_url)}", path=self.base_url, n_ctx=self.n_ctx,
                         details={"backend": "openai", "context_reported": bool(reported), "vision": sees,
                                  "vision_said_by": self.vision_said_by})

    def _request(self, messages: list[dict], params: GenParams) -> dict:
        # Thinking is not sent back to a server: DeepSeek's API refuses reasoning_content in a request.
        messages = [{k: v for k, v in m.items() if k != "reasoning_content"} for m in messages]
        kwargs = dict(model=self.model, messages=messages, stream=True, temperature=params.temperature,
                      top_p=params.top_p,
                      # Not in OpenAI's API; llama.cpp, vLLM and LM Studio read them, others ignore them.
                      extra_body={"top_k": params.top_k, "min_p": params.min_p,
                                  "repeat_penalty": params.repeat_penalty})
        if params.max_tokens > 0:   # none: left out, so the server runs the reply to its end or the context's
            kwargs["max_tokens"] = params.max_tokens
        if params.seed >= 0:
            kwargs["seed"] = params.seed
        if params.tools:   # OpenAI's fields as they are; parallel_tool_calls only when it differs from the default
            kwargs.update(tools=list(params.tools), tool_choice=params.tool_choice)
            if not params.parallel_tool_calls:
                kwargs["parallel_tool_calls"] = False
        return kwargs

    def stream(self, messages: list[dict], params: GenParams, should_stop: Callable[[], bool],
               stats: ChatStats | None = None) -> Iterator[ChatEvent]:
        if self.client is None:
            raise EngineError("Not connected to the chat server.")
        stats = stats if stats is not None else ChatStats()
        reserve = reply_reserve(params.max_tokens, self.n_ctx)
        # Each picture counts as context.IMAGE_TOKENS_ESTIMATE: no server says its cost before reading it.
        fitted, stats.dropped_messages = fit_messages(messages, approx_tokens, self.n_ctx, reserve)
        stats.n_ctx = self.n_ctx
        stats.prompt_tokens = stats.evaluated_prompt_tokens = sum(message_tokens(m, approx_tokens) for m in fitted)
        start = last = time.perf_counter()
        call = self._start(self._request(fitted, params))
        finished = ""   # the server's finish_reason
        named: dict[int, str] = {}   # the calls whose first part went out (with an id, given or made here)
        thinking = ThinkingSplitter()
        try:
            while True:
                if should_stop():
                    stats.stopped = True
                    break
                try:
                    kind, item = call.get()
                except queue.Empty:
                    if time.perf_counter() - last > self.timeout:
                        raise EngineError(self._stall_message(stats)) from None
                    continue
                last = time.perf_counter()
                if kind == "end":
                    break
                if kind == "error":
                    if self._refuses_tools(item, params) and params.tool_choice == "auto":
                        # Its model cannot call tools and this reply need not: asked again without them, and
                        # from now on none are offered (the chat worker reads capabilities before each reply).
                        self.capabilities = replace(self.capabilities, tools=False)
                        params = replace(params, tools=())
                        call.stop()
                        call = self._start(self._request(fitted, params))
                        continue
                    raise EngineError(self._describe(item, params, fitted)) from item
                usage = getattr(item, "usage", None)
                if usage is not None and getattr(usage, "prompt_tokens", None):
                    stats.prompt_tokens = stats.evaluated_prompt_tokens = usage.prompt_tokens
                for choice in item.choices or []:
                    finished = finished or choice.finish_reason or ""
                    for event in calls_named_once(_events(choice.delta, thinking), named):
                        if stats.completion_tokens == 0:
                            stats.ttft_s = time.perf_counter() - start
                        stats.completion_tokens += 1
                        yield event
            yield from thinking.finish()
            if not finished and not stats.stopped:
                raise EngineError(f"The chat server at {host_of(self.base_url)} closed the stream before the "
                                  "reply was complete; what arrived is kept.")
        finally:
            call.stop()   # closes this request's connection at once: the server stops generating
            stats.total_s = time.perf_counter() - start
        yield Usage(stats, finished or "stop")

    def _start(self, kwargs: dict) -> RemoteCall:
        call, openai_client = RemoteCall(), self.client.openai

        def produce():
            with openai_client.chat.completions.create(**kwargs) as chunks:
                yield from chunks
        call.start(produce)
        return call

    @staticmethod
    def _refuses_tools(exc: BaseException, params: GenParams) -> bool:
        """A 400 about tools: the server's model (or the server as started) cannot call them."""
        import openai
        return bool(params.tools) and isinstance(exc, openai.BadRequestError) and "tool" in str(exc).lower()

    def _describe(self, exc: BaseException, params: GenParams, messages: list[dict]) -> str:
        if self._refuses_tools(exc, params):   # a call was asked for ("required" or named): said, with what to do
            return (f"The chat server at {host_of(self.base_url)} would not offer tools to '{self.model}' "
                    f"({server_text(exc)}). Its model may not be able to call tools: choose one that can, "
                    "or turn tools off for this chat.")
        if self._refuses_pictures(exc, messages):   # never asked again without them: a blind answer invents
            told = ("Turn off \"This model can see pictures\" in Settings, or choose a model that sees."
                    if self.vision_said_by == "Settings" else "Choose a model that sees pictures (Settings).")
            return (f"The chat server at {host_of(self.base_url)} would not take the pictures for '{self.model}' "
                    f"({server_text(exc)}). Its model may not see pictures; the message was not answered. {told}")
        return describe_error(exc, self.base_url, "chat", self.model)

    @staticmethod
    def _refuses_pictures(exc: BaseException, messages: list[dict]) -> bool:
        """A refusal about a picture, for a request that carried some (llama-server answers 400 or, in
        some versions, 500 "image input is not supported")."""
        import openai
        return (isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 422, 500)
                and any(image_urls(m) for m in messages) and any(w in server_text(exc).lower() for w in PICTURE_WORDS))

    def _stall_message(self, stats: ChatStats) -> str:
        host = host_of(self.base_url)
        if stats.completion_tokens:
            return (f"The chat server at {host} stopped sending for {self.timeout:.0f} s, so chatapp stopped "
                    "waiting; the reply so far is kept.")
        return (f"The chat server at {host} did not start answering within {self.timeout:.0f} s. "
                "It may be busy or loading a model; try again, or raise the timeout in Settings.")
