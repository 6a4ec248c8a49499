"""How a local model's chat template takes tools and writes calls: the probe, each family's format, the call parser."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable

from ..registry import Registry
from .events import ChatEvent, TextDelta, ToolCallDelta, new_call_id

PROBE_NAME = "chatapp_probe_x9"     # names no real tool has, so finding them in a render proves the template put them there
PROBE_VALUE = "probe_val_x9"
PROBE_TOOL = {"type": "function", "function": {
    "name": PROBE_NAME, "description": "A probe.",
    "parameters": {"type": "object", "properties": {"arg": {"type": "string"}}, "required": ["arg"]}}}


@dataclass(frozen=True)
class ToolFormat:
    """One family's way of writing a tool call: `open`, a little whitespace, then `head` + NAME + `between`
    + ARGUMENTS (a JSON object) + `end`; calls repeat with `separator` between them.

    detect(before) reads what a template writes just before a called tool's name. The parser
    reads what lies between `open` and `close`; parse(body) -> (name, arguments JSON text), None if
    it is no call. The grammar (tool_grammar.py) is built from the same pieces. start_only: a family
    whose call is the whole reply, JSON from its first character (no marker, no close); parallel:
    whether its templates take several calls in one turn.
    """
    name: str
    open: str
    head: str
    between: str
    end: str
    close: str
    separator: str
    detect: Callable[[str], bool]
    parse: Callable[[str], tuple[str, str] | None]
    start_only: bool = False
    parallel: bool = True


def _json_call(body: str) -> tuple[str, str] | None:
    """{"name": N, "arguments": {...}} (or "parameters", as Llama 3.x and some Hermes fine-tunes write)."""
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):      # some models write the arguments as JSON text
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return value["name"], json.dumps(args, ensure_ascii=False)


TOOL_FORMATS: Registry[ToolFormat] = Registry("tool-call format")
TOOL_FORMATS.register("hermes", ToolFormat(
    # Hermes 2 Pro / 3, Qwen 2.5 / 3, SmolLM3 and the like; written the way their templates render a
    # call in the history, so the model writes what it has seen.
    "hermes", open="<tool_call>", head='{"name": "', between='", "arguments": ', end="}\n</tool_call>",
    close="</tool_call>", separator="\n", detect=lambda before: "<tool_call>" in before, parse=_json_call))
TOOL_FORMATS.register("llama3-json", ToolFormat(
    # Llama 3.1 / 3.2 / 3.3: the reply is the call, {"name": N, "parameters": {...}}, and one call a turn
    # ("This model only supports single tool-calls at once!"); results come back as role ipython.
    "llama3-json", open="", head='{"name": "', between='", "parameters": ', end="}", close="", separator="",
    detect=lambda before: before.endswith('<|end_header_id|>\n\n{"name": "'), parse=_json_call,
    start_only=True, parallel=False))


@dataclass(frozen=True)
class TemplateTools:
    """What probing a chat template found: whether it shows tools to the model, how it wants a call's
    arguments in the history (a dict for templates that apply `tojson` to them), and the call format."""
    takes_tools: bool = False
    object_arguments: bool = False
    format: ToolFormat | None = None

    @property
    def can_call(self) -> bool:
        return self.takes_tools and self.format is not None


def probe(render: Callable[[list[dict], list[dict] | None], str | None]) -> TemplateTools:
    """Ask the template itself, as llama.cpp's caps.cpp does: render with a probe tool (its name shows:
    the template takes tools), then a turn calling it, with the arguments as JSON text and as a dict
    (the value shows unescaped: that form renders), and read the call's format from that render.
    render(messages, tools) is the template's text, None where it cannot say; template errors are
    answers too (a template that raises on a form does not take it)."""
    user = {"role": "user", "content": "hi"}

    def safe(messages, tools):
        try:
            return render(messages, tools) or ""
        except Exception:   # a template that raises on tools or on a call does not take them
            return ""
    if PROBE_NAME not in safe([user], [PROBE_TOOL]):
        return TemplateTools()
    found = {}
    for as_object in (False, True):
        args = {"arg": PROBE_VALUE}
        call = {"id": "abcDEF123", "type": "function",
                "function": {"name": PROBE_NAME, "arguments": args if as_object else json.dumps(args)}}
        text = safe([user, {"role": "assistant", "content": "", "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": "abcDEF123", "content": "ok"}], [PROBE_TOOL])
        if f'"arg": "{PROBE_VALUE}"' in text:
            found[as_object] = text
    if not found:
        return TemplateTools(takes_tools=True)
    as_object = False not in found
    text = found[as_object]
    # What stands just before each mention of the name: one of them is the call's opening.
    befores = [text[:m.start()][-40:] for m in re.finditer(PROBE_NAME, text)]
    fmt = next((f for f in TOOL_FORMATS.values() if any(f.detect(b) for b in befores)), None)
    return TemplateTools(takes_tools=True, object_arguments=as_object, format=fmt)


def history_for_template(messages: list[dict], object_arguments: bool) -> list[dict]:
    """OpenAI chat messages as a template renders them: content None -> "", a call's arguments as a dict
    where the template wants one (JSON text that does not parse stays text)."""
    out = []
    for m in messages:
        if m.get("content") is None or (object_arguments and m.get("tool_calls")):
            m = dict(m, content=m.get("content") or "")
            if object_arguments and m.get("tool_calls"):
                m["tool_calls"] = [_with_object_arguments(c) for c in m["tool_calls"]]
        out.append(m)
    return out


def _with_object_arguments(call: dict) -> dict:
    fn = call.get("function") or {}
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            parsed = json.loads(args or "{}")
        except json.JSONDecodeError:
            return call
        return {**call, "function": {**fn, "arguments": parsed}}
    return call


def call_parser(fmt: ToolFormat, tool_names):
    """The incremental parser for fmt's calls."""
    return (StartCallParser if fmt.start_only else CallParser)(fmt, tool_names)


class CallParser:
    """The reply's text -> TextDelta and ToolCallDelta events, incrementally.

    Text before a call streams at once, except an end that could be the start of the opening
    marker (held back as a stop string is). A call is gathered up to its closing marker, then
    parsed and given as two deltas (id and name, then the arguments). A body that is no call of an
    offered tool (the grammar rules that out; a model without one may not) is kept as text, as
    llama.cpp does. Whitespace before, between or after calls is dropped.
    """

    def __init__(self, fmt: ToolFormat, tool_names):
        self.fmt, self.names = fmt, set(tool_names)
        self.calls = 0
        self._held, self._in_call = "", False

    def feed(self, text: str) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        buf = self._held + text
        while True:
            if self._in_call:
                at = buf.find(self.fmt.close)
                if at < 0:
                    break
                out += self._call(buf[:at])
                buf, self._in_call = buf[at + len(self.fmt.close):], False
                continue
            at = buf.find(self.fmt.open)
            if at >= 0:
                if buf[:at].strip():
                    out += self._text(buf[:at])
                buf, self._in_call = buf[at + len(self.fmt.open):], True
                continue
            keep = next((n for n in range(min(len(self.fmt.open) - 1, len(buf)), 0, -1)
                         if buf.endswith(self.fmt.open[:n])), 0)
            shown, buf = buf[:len(buf) - keep], buf[len(buf) - keep:]
            if shown.strip():
                out += self._text(shown)
            else:       # whitespace waits: before or between calls it only separates them
                buf = shown + buf
            break
        self._held = buf
        return out

    def finish(self) -> list[ChatEvent]:
        """At the reply's end: held text, and an unfinished call as the text it was."""
        rest, self._held = self._held, ""
        if self._in_call:
            self._in_call = False
            return self._text(self.fmt.open + rest)
        return [] if self.calls and not rest.strip() else self._text(rest)

    def _text(self, text: str) -> list[ChatEvent]:
        return [TextDelta(text)] if text else []

    def _call(self, body: str) -> list[ChatEvent]:
        parsed = self.fmt.parse(body.strip())
        if parsed is None or parsed[0] not in self.names:
            return self._text(self.fmt.open + body + self.fmt.close)
        name, arguments = parsed
        index, self.calls = self.calls, self.calls + 1
        return [ToolCallDelta(index, id=new_call_id(), name=name), ToolCallDelta(index, arguments=arguments)]


class StartCallParser(CallParser):
    """For a family whose call is the whole reply (ToolFormat.start_only): the reply's start is held while
    it can still begin the call's head; from the first character that cannot, it is all text, streamed;
    else it is all call, parsed at the end (a body that is no call comes out as text then)."""

    def __init__(self, fmt: ToolFormat, tool_names):
        super().__init__(fmt, tool_names)
        self._text_only = False

    def feed(self, text: str) -> list[ChatEvent]:
        if self._text_only:
            return self._text(text)
        self._held += text
        start = self._held.lstrip()
        if not self._in_call and start.startswith(self.fmt.head):
            self._in_call = True
        elif not self._in_call and not self.fmt.head.startswith(start):
            self._text_only, held, self._held = True, self._held, ""
            return self._text(held)
        return []

    def finish(self) -> list[ChatEvent]:
        rest, self._held = self._held, ""
        return self._call(rest) if self._in_call else self._text(rest)
