"""What a chat engine's stream yields, in order: thinking, text, tool-call parts and, last, the reply's usage."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Iterator, Union

if TYPE_CHECKING:
    from .base import ChatStats

# Failures are not events: an engine raises EngineError (ContextOverflow for a prompt too long). The
# generator's own `finally` then closes its connection or decoding loop, what came before is already
# with the caller, and no consumer can read past a failure by forgetting to check for one.


@dataclass(frozen=True)
class TextDelta:
    """The next piece of the reply's text (one or more tokens, never a broken UTF-8 character)."""
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """The next piece of the model's thinking before its answer (a reasoning model's <think> block, a
    server's `reasoning_content`): shown apart from the answer, never sent back to the model."""
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """Part of the reply's tool call number `index`, in the shape of OpenAI's streamed `tool_calls`: the
    call's first part names it (id, name); each part may add to its arguments, JSON text in pieces.
    Parts pass through unchanged to an OpenAI stream; Reply joins them into whole ToolCalls."""
    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True)
class ToolCall:
    """A whole tool call: the arguments exactly as the model wrote them (the tool checks they parse)."""
    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict:
        """The arguments as a dict; ValueError in plain words when the model's JSON is not an object."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"The arguments of {self.name} are not valid JSON ({exc.msg}).") from None
        if not isinstance(value, dict):
            raise ValueError(f"The arguments of {self.name} are not a JSON object.")
        return value

    def openai(self) -> dict:
        """As an assistant message's `tool_calls` entry in OpenAI's chat API."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class Usage:
    """A reply's last event: what it cost and why it ended ("stop", "length" or "tool_calls";
    a Stop pressed by the user is stats.stopped)."""
    stats: ChatStats
    finish_reason: str = "stop"


ChatEvent = Union[TextDelta, ReasoningDelta, ToolCallDelta, Usage]


def new_call_id() -> str:
    """A tool call's id in OpenAI's style."""
    return f"call_{uuid.uuid4().hex[:24]}"


def calls_named_once(events: Iterable[ChatEvent], named: dict[int, str] | None = None) -> Iterator[ChatEvent]:
    """The events with each call named once, as ToolCallDelta promises: its first part has an id (made
    when a model or server gives none: a tool result names its call by it) and later parts no id or
    name again (llama-cpp-python's server repeats both in every chunk). `named`: index -> name of the
    calls seen so far, for a stream read in pieces."""
    named = {} if named is None else named
    for event in events:
        if isinstance(event, ToolCallDelta):
            if event.index not in named:
                named[event.index] = event.name
                if not event.id:
                    event = replace(event, id=new_call_id())
            else:
                name = "" if event.name == named[event.index] else event.name
                named[event.index] = named[event.index] or name
                event = replace(event, id="", name=name)
        yield event


@dataclass
class Reply:
    """A reply gathered from its events: the text, the thinking, the whole tool calls, the usage once it ended."""
    text_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    _calls: dict[int, list] = field(default_factory=dict)   # index -> [id, name, [argument pieces]]

    def add(self, event: ChatEvent) -> ChatEvent:
        if isinstance(event, TextDelta):
            self.text_parts.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self.reasoning_parts.append(event.text)
        elif isinstance(event, ToolCallDelta):
            call = self._calls.setdefault(event.index, ["", "", []])
            call[0], call[1] = call[0] or event.id, call[1] or event.name
            call[2].append(event.arguments)
        elif isinstance(event, Usage):
            self.usage = event
        else:
            raise TypeError(f"not a chat event: {event!r}")
        return event

    @classmethod
    def of(cls, events: Iterable[ChatEvent]) -> Reply:
        reply = cls()
        for event in events:
            reply.add(event)
        return reply

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(c[0], c[1], "".join(c[2])) for _, c in sorted(self._calls.items())]
