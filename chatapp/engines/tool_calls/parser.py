"""A local reply's text -> TextDelta and ToolCallDelta events, in its family's call format (formats.py)."""
from __future__ import annotations

from ..events import ChatEvent, TextDelta, ToolCallDelta, new_call_id
from .formats import ToolFormat, short_call_id


def call_parser(fmt: ToolFormat, tools, short_ids: bool = False):
    """The incremental parser for fmt's calls of tools (OpenAI tool dicts, or names where the format does not
    need their schemas); short_ids: give calls Mistral's 9-character ids."""
    return (StartCallParser if fmt.start_only else CallParser)(fmt, tools, short_ids or fmt.short_ids)


class CallParser:
    """The reply's text -> TextDelta and ToolCallDelta events, incrementally.

    Text before a call streams at once, except an end that could be the start of the opening
    marker (held back as a stop string is). A call is gathered up to its closing marker (where the
    family has none: up to the next opening marker or the reply's end), then parsed and given as two
    deltas per call (id and name, then the arguments). A body that is no call of an offered tool (the
    grammar rules that out; a model without one may not) is kept as text, as llama.cpp does.
    Whitespace before, between or after calls is dropped.
    """

    def __init__(self, fmt: ToolFormat, tools, short_ids: bool = False):
        self.fmt = fmt
        self.schemas = {t["function"]["name"]: t["function"].get("parameters") or {}
                        for t in tools if isinstance(t, dict)}
        self.names = {t if isinstance(t, str) else t["function"]["name"] for t in tools}
        self.calls = 0
        self._new_id = short_call_id if short_ids else new_call_id
        self._held, self._in_call = "", False
        self._from = 0   # where to look for the call's end marker next

    def _body_end(self, buf: str) -> int:
        """Where the call's body ends in buf, -1 if not yet: at the first closing marker (for a family
        without one, the next opening marker) that follows a whole call. A marker inside one of the call's
        strings is the string's: the grammar lets a prompt hold "</tool_call>", and cutting the call there
        turned a valid call into text (seen on CI with a sampled prompt)."""
        marker = self.fmt.close or self.fmt.open
        while (at := buf.find(marker, self._from)) >= 0:
            body = buf[:at].strip()
            if self._parse(body) or (self.fmt.close and not body.startswith(self.fmt.head)):
                return at   # a whole call, or prose that began no call (it streams on as text)
            self._from = at + 1
        self._from = max(self._from, len(buf) - len(marker) + 1, 0)
        return -1

    def feed(self, text: str) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        buf = self._held + text
        while True:
            if self._in_call:
                at = self._body_end(buf)
                if at < 0:
                    break
                out += self._call(buf[:at])
                buf, self._in_call, self._from = buf[at + len(self.fmt.close):], False, 0
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
        """At the reply's end: held text; the last call of a family without a closing marker; an unfinished
        call as the text it was."""
        rest, self._held = self._held, ""
        if self._in_call:
            self._in_call, self._from = False, 0
            return self._call(rest) if not self.fmt.close else self._text(self.fmt.open + rest)
        return [] if self.calls and not rest.strip() else self._text(rest)

    def _text(self, text: str) -> list[ChatEvent]:
        return [TextDelta(text)] if text else []

    def _parse(self, body: str):
        return self.fmt.parse(body, self.schemas) if self.fmt.typed else self.fmt.parse(body)

    def _call(self, body: str) -> list[ChatEvent]:
        parsed = self._parse(body.strip())
        if not parsed or any(name not in self.names for name, _ in parsed):
            return self._text(self.fmt.open + body + self.fmt.close)
        out: list[ChatEvent] = []
        for name, arguments in parsed:
            index, self.calls = self.calls, self.calls + 1
            out += [ToolCallDelta(index, id=self._new_id(), name=name), ToolCallDelta(index, arguments=arguments)]
        return out


class StartCallParser(CallParser):
    """For a family whose call is the whole reply (ToolFormat.start_only): the reply's start is held while
    it can still begin the call's head; from the first character that cannot, it is all text, streamed;
    else it is all call, parsed at the end (a body that is no call comes out as text then)."""

    def __init__(self, fmt: ToolFormat, tools, short_ids: bool = False):
        super().__init__(fmt, tools, short_ids)
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
