"""Request bodies of the OpenAI API as chatapp serves it, with the checks that turn bad input into a 400."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..branches import folded
from ..conversation import GenParams
from ..engines.events import ToolCall

_DEFAULTS = GenParams()


class ApiError(Exception):
    """An error for the client, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class CalledFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    arguments: str   # JSON text, as the model wrote it


class AssistantCall(BaseModel):
    """One entry of an assistant message's `tool_calls`."""
    model_config = ConfigDict(extra="ignore")
    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict] | None = ""
    tool_calls: list[AssistantCall] | None = None   # an assistant's calls
    tool_call_id: str | None = None            # a tool message: the call it answers
    reasoning_content: str | None = None       # an assistant's thinking before its calls (llama-server's field)

    def text(self) -> str:
        """OpenAI allows content as a list of parts; joined with a line break between parts, as llama.cpp's
        server does (no separator ran "What is" + "the best book" together). Only text parts get here:
        content_parts.check_parts refuses the others, or keeps pictures as parts (content_for_engine())."""
        if isinstance(self.content, list):
            return "\n".join(p["text"] for p in self.content)
        return self.content or ""

    def content_for_engine(self) -> str | list[dict]:
        """The text, or OpenAI's parts as they came where a picture rides along (only for a model that
        sees; issue 24's vision engine takes them from here)."""
        if isinstance(self.content, list) and any(p.get("type") != "text" for p in self.content):
            return [dict(p) for p in self.content]
        return self.text()


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


RESPONSE_FORMATS = ("text", "json_object", "json_schema")
# Fields of OpenAI's chat API this server does not do: a request that sets one gets a 400 naming it
# (a client relying on one must not get a reply that silently lacks it). The old `functions` API: use `tools`.
# reasoning_effort: a local model's thinking has no dial here (its template decides), so asking for one is refused.
UNSUPPORTED = ("functions", "function_call", "audio", "modalities", "prediction", "web_search_options",
               "reasoning_effort")


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="ignore")   # unknown fields; the known ones not done here: UNSUPPORTED
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=1 << 20)
    max_completion_tokens: int | None = Field(None, ge=1, le=1 << 20)
    temperature: float = Field(_DEFAULTS.temperature, ge=0, le=2)
    top_p: float = Field(_DEFAULTS.top_p, ge=0, le=1)
    top_k: int = Field(_DEFAULTS.top_k, ge=0)
    min_p: float = Field(_DEFAULTS.min_p, ge=0, le=1)
    repeat_penalty: float = Field(_DEFAULTS.repeat_penalty, gt=0, le=4)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=16)
    stream_options: StreamOptions | None = None
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict | None = None
    # llama.cpp server's own constraint fields, honoured the same way (clients written for it send them).
    grammar: str | None = Field(None, max_length=100_000)
    json_schema: dict | None = None
    logit_bias: dict[int, float] | None = None
    # Tools (tool_fields.py checks them as OpenAI does; chat.py refuses them for a model that cannot call tools).
    tools: list | None = None
    tool_choice: str | dict | None = None
    parallel_tool_calls: bool | None = None

    @field_validator("logit_bias")
    @classmethod
    def _bias(cls, value):
        for token, bias in (value or {}).items():
            if token < 0 or not -100 <= bias <= 100:
                raise ValueError(f"token ids are 0 or more and biases between -100 and 100, not {token}: {bias}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _not_done_here(cls, data):
        if isinstance(data, dict):
            for name in UNSUPPORTED:
                if data.get(name):   # an empty list or null asks for nothing
                    raise ApiError(400, f"'{name}' is not supported by this server; send the request without it.",
                                   param=name, code="unsupported_parameter")
            if data.get("logprobs") or data.get("top_logprobs"):
                name = "logprobs" if data.get("logprobs") else "top_logprobs"
                raise ApiError(400, f"'{name}' is not supported by this server; send the request without it.",
                               param=name, code="unsupported_parameter")
        return data

    @field_validator("stop")
    @classmethod
    def _stop(cls, value):
        stops = [value] if isinstance(value, str) else list(value or [])
        if len(stops) > 4:
            raise ValueError(f"at most 4 stop sequences, not {len(stops)}")
        return [s for s in stops if s]

    @field_validator("response_format")
    @classmethod
    def _response_format(cls, value):
        if value is None:
            return None
        kind = value.get("type")
        if kind not in RESPONSE_FORMATS:
            raise ValueError(f"unknown type {kind!r}; one of {', '.join(RESPONSE_FORMATS)}")
        if kind == "json_object" and "schema" in value and not isinstance(value["schema"], dict):
            raise ValueError("json_object's schema (llama.cpp's extension) must be a JSON schema object")
        if kind == "json_schema":
            spec = value.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
                raise ValueError("json_schema needs {'name': ..., 'schema': {...}}")
        return value

    def params(self) -> GenParams:
        # No max_tokens: to the end of the reply or of the context (0), as OpenAI and llama-server do.
        return GenParams(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, min_p=self.min_p,
                         repeat_penalty=self.repeat_penalty,
                         max_tokens=self.max_completion_tokens or self.max_tokens or 0,
                         seed=self.seed if self.seed is not None and self.seed >= 0 else -1,
                         stop=tuple(self.stop or ()), presence_penalty=self.presence_penalty,
                         frequency_penalty=self.frequency_penalty, fit_context=False,
                         grammar=self.gbnf(), logit_bias=tuple((self.logit_bias or {}).items()))

    def gbnf(self) -> str:
        """response_format (or llama.cpp's grammar / json_schema fields) as a llama.cpp GBNF grammar ("": free text)."""
        fmt = self.response_format or {}
        asked = [n for n, v in (("response_format", fmt.get("type") not in (None, "text")), ("grammar", self.grammar),
                                ("json_schema", self.json_schema is not None)) if v]
        if len(asked) > 1:
            raise ApiError(400, f"Send one of {' and '.join(asked)}, not both.", param=asked[1])
        if fmt.get("type") == "json_schema":
            return schema_grammar(fmt["json_schema"].get("schema") or {"type": "object"}, "response_format")
        if fmt.get("type") == "json_object":
            if isinstance(fmt.get("schema"), dict):   # llama.cpp's extension: a schema inside json_object
                return schema_grammar(fmt["schema"], "response_format")
            from llama_cpp.llama_grammar import JSON_GBNF
            return JSON_GBNF
        if self.json_schema is not None:
            return schema_grammar(self.json_schema, "json_schema")
        return self.grammar or ""   # parsed by the engine before the reply starts (engine.grammar_problem)

    def constraint_field(self) -> str:
        """Which field a grammar came from, to name it when llama.cpp cannot read the grammar."""
        return "grammar" if self.grammar else "json_schema" if self.json_schema is not None else "response_format"

    def dict_messages(self, tools: bool = True) -> list[dict]:
        """The messages as the engine takes them, in OpenAI's shapes; tools False (a model that cannot call
        tools): calls and their results folded into the assistant's text, as the desktop's history does."""
        out = []
        for m in self.messages:
            if m.role == "tool":
                out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text()})
            elif m.role == "assistant" and m.tool_calls:
                out.append({"role": "assistant", "content": m.text(), "tool_calls": [
                    ToolCall(c.id, c.function.name, c.function.arguments).openai() for c in m.tool_calls],
                    # for the templates that show it during a turn's tool rounds (Qwen3, Gemma 4)
                    **({"reasoning_content": m.reasoning_content} if m.reasoning_content else {})})
            else:   # "developer" is OpenAI's newer name for the system role
                out.append({"role": "system" if m.role == "developer" else m.role, "content": m.content_for_engine()})
        return out if tools else folded(out)


def schema_grammar(schema: dict, param: str) -> str:
    """A JSON schema as a llama.cpp grammar; a 400 naming param when the converter cannot express it."""
    import json

    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from ..engines.tool_calls.grammar import strict_json_strings
    try:
        return strict_json_strings(json_schema_to_gbnf(json.dumps(schema)))
    except Exception as exc:   # the converter raises plain Exceptions on what it cannot express
        raise ApiError(400, f"{param}: this JSON schema cannot be turned into a grammar ({exc}).", param=param) from None


class ImageBody(BaseModel):
    """The fields' types; their limits are the recipe's one validation (recipes/request.py), in app.py."""
    model_config = ConfigDict(extra="ignore")
    prompt: str
    model: str | None = None
    n: int = 1
    size: str | None = None
    response_format: Literal["b64_json"] = "b64_json"   # no "url": this server keeps no files
    # chatapp's recipe fields, which the OpenAI API lacks (other servers ignore them).
    negative_prompt: str = ""
    steps: int | None = None
    cfg_scale: float | None = None
    seed: int | None = None
    scheduler: str | None = None

    @field_validator("size")
    @classmethod
    def _size(cls, value):
        if value is None or value == "auto":
            return None
        if not re.fullmatch(r"\d+x\d+", value):
            raise ValueError(f"size must look like 512x512, not {value!r}")
        return value

    def width_height(self) -> tuple[int | None, int | None]:
        if not self.size:
            return None, None
        w, _, h = self.size.partition("x")
        return int(w), int(h)
