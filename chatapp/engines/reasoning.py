"""A reply's thinking told from its answer: <think>...</think> (Qwen3, DeepSeek R1, QwQ, SmolLM3),
[THINK]...[/THINK] (Magistral), Gemma 4's thought channel or gpt-oss's analysis channel at the reply's start ->
ReasoningDelta, the rest TextDelta (gpt-oss's final-channel header dropped)."""
from __future__ import annotations

from .events import ReasoningDelta, TextDelta

# (opening, closing) markers. Only at the reply's start (whitespace before it aside): a model that talks
# about "<think>" tags later in an answer is writing text, not thinking.
MARKERS = (("<think>", "</think>"), ("[THINK]", "[/THINK]"), ("<|channel>thought", "<channel|>"),
           ("<|channel|>analysis<|message|>", "<|end|>"))
# What opens the answer itself in gpt-oss's "harmony" form, after its analysis or at once: not shown.
ANSWER_HEADS = ("<|start|>assistant<|channel|>final<|message|>", "<|channel|>final<|message|>")
# The special tokens these are written with (gpt-oss's are control tokens, hidden by plain detokenizing).
SPECIALS = tuple({m for pair in MARKERS for m in pair} | {"<|channel|>", "<|message|>", "<|start|>", "<|end|>"})


def _head_cut(text: str) -> tuple[str, bool]:
    """text without an answer head at its start; (text, True) when it could still become one (wait for more)."""
    for head in ANSWER_HEADS:
        if text.startswith(head):
            return text[len(head):], False
    return text, any(head.startswith(text) for head in ANSWER_HEADS) and bool(text)


def opened_thinking(prompt_tail: str) -> str | None:
    """The closing marker awaited when the prompt itself ends by opening the thinking (DeepSeek R1's and
    QwQ's templates end the generation prompt with "<think>\\n": the model writes only its close)."""
    tail = prompt_tail.rstrip()
    return next((close for open_, close in MARKERS if tail.endswith(open_)), None)


class ThinkingSplitter:
    """Text pieces in, TextDelta and ReasoningDelta out, incrementally.

    The reply's start is held while it can still be an opening marker; inside the thinking, an end that
    could be the start of the closing marker is held back. Whitespace right after the closing marker (the
    blank line templates put before the answer) is dropped, as is whitespace before the thinking's first word.
    A reply that never opens one is all text.
    """

    def __init__(self, inside_until: str | None = None):
        self._close = inside_until    # the closing marker awaited while inside the thinking
        self._deciding = inside_until is None   # at the start: could the reply still open a marker?
        self._after_close = False     # just closed: leading whitespace of the answer is dropped
        self._begun = False           # the thinking's first visible character came (the newline before it is dropped)
        self._held = ""

    @property
    def inside(self) -> bool:
        """Within the thinking now (the tool-call watch waits for its end: a marker in thinking is no call)."""
        return self._close is not None

    def feed(self, text: str) -> list:
        out: list = []
        buf = self._held + text
        self._held = ""
        if self._deciding:
            start = buf.lstrip()
            opened = next(((o, c) for o, c in MARKERS if start.startswith(o)), None)
            answer, wait = _head_cut(start)
            if opened:
                self._deciding, self._close, buf = False, opened[1], start[len(opened[0]):]
            elif any(o.startswith(start) for o, _ in MARKERS) or wait:
                self._held = buf   # "", "<th", "[TH": not decided yet
                return out
            else:   # an answer head at the start (gpt-oss's final channel) is dropped as after a thinking
                self._deciding, self._after_close = False, answer != start
                buf = answer if self._after_close else buf
        if self._close is not None:
            if not self._begun:
                buf = buf.lstrip()
                self._begun = bool(buf)
            at = buf.find(self._close)
            if at < 0:
                keep = next((n for n in range(min(len(self._close) - 1, len(buf)), 0, -1)
                             if buf.endswith(self._close[:n])), 0)
                shown, self._held = buf[:len(buf) - keep], buf[len(buf) - keep:]
                return [ReasoningDelta(shown)] if shown else out
            if buf[:at]:
                out.append(ReasoningDelta(buf[:at]))
            buf, self._close, self._after_close = buf[at + len(self._close):], None, True
        if self._after_close:
            buf, wait = _head_cut(buf.lstrip())
            if not buf or wait:
                self._held = buf
                return out
            self._after_close = False
        if buf:
            out.append(TextDelta(buf))
        return out

    def finish(self) -> list:
        """At the reply's end: what was held back (an unclosed thinking stays thinking; text that only
        looked like the start of a marker is text)."""
        held, self._held = self._held, ""
        if not held or (self._after_close and (not held.strip() or _head_cut(held.lstrip())[1])):
            return []   # nothing, or the start of an answer head that never came whole
        if self._close is not None:
            return [ReasoningDelta(held)]
        return [TextDelta(held)] if held.strip() or not self._deciding else []


def answer_through(events, calls):
    """The splitter's events with the answer's text passed on to the tool-call parser (calls: a CallParser-like
    with feed(), or None when no tools are offered): thinking is never read for calls."""
    for event in events:
        if calls is not None and isinstance(event, TextDelta):
            yield from calls.feed(event.text)
        else:
            yield event
