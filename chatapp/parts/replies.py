"""The session's reply part (GUI thread): one streaming reply per request, its text saved as it grows, its end.

It is given the message log (its only way to write messages), a notice sink and its worker; never the session.
The session decides what the model sees and when a reply starts; the part tells it when one ended."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from PySide6.QtCore import QCoreApplication, QObject, Signal

from ..conversation import DONE, ERROR, STOPPED, STREAMING, Message
from ..engines.base import ChatStats
from ..engines.events import Reply, ToolCall, ToolCallDelta, new_call_id
from ..message_log import MessageLog
from . import Notice

FLUSH_EVERY_S = 2.0  # partial replies reach the database this often, so a crash keeps most of one
NO_REPLY = "The disk holding your chats is full, so no reply was started. Free some space, then use Regenerate."
_request_ids = itertools.count(1)


@dataclass
class _Reply:
    message: Message
    text: str = ""
    last_flush: float = field(default_factory=time.monotonic)
    calls: Reply = field(default_factory=Reply)   # its tool calls' parts, joined (calls.tool_calls)
    tool_round: int = 0   # how many rounds of tool calls this turn of the conversation had before this reply
    reasoning: str = ""   # a reasoning model's thinking before its answer (meta["reasoning"])
    thinking_since: float | None = None   # when the thinking began
    thought_s: float | None = None        # how long it took, once the answer began

    def thinking_meta(self) -> dict:
        if not self.reasoning:
            return {}
        spent = self.thought_s if self.thought_s is not None else time.monotonic() - (self.thinking_since or 0)
        return {"reasoning": self.reasoning, "thought_s": round(spent, 1)}

    @property
    def said_anything(self) -> bool:
        return bool(self.text or self.reasoning)


class Replies(QObject):
    text = Signal(int, str)        # message id, whole text so far
    thinking = Signal(int, str)    # message id, whole thinking so far (a reasoning model's, before its answer)
    tool_call = Signal(int, object)  # message id, ToolCallDelta: part of a tool call, as it streams
    stats = Signal(object)         # ChatStats of a reply that finished
    ended = Signal(int)            # message id: the reply ended (done, stopped, failed, or dropped when empty)
    # The reply ended calling tools: its message (meta["tool_calls"] saved), [ToolCall], its round; sent before `ended`.
    called_tools = Signal(object, list, int)

    def __init__(self, log: MessageLog, notice: Notice, worker):
        super().__init__()
        self.log, self.notice, self.worker = log, notice, worker
        self.active: dict[int, _Reply] = {}   # request id -> the reply streaming for it
        # Worker signals go only to bound methods of this GUI-thread QObject, so Qt queues them
        # here; a lambda would run on the worker's thread and race with the GUI.
        worker.token.connect(self._on_token)
        worker.reasoning.connect(self._on_reasoning)
        worker.tool_call.connect(self._on_tool_call)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    def start(self, conversation_id: int, question_id: int, waiting: bool,
              tool_round: int = 0) -> tuple[int, Message] | None:
        """An empty streaming reply under question_id, the conversation's current leaf; (request id, its message),
        or None when it could not be saved (the notice says so). waiting: the model is not ready yet.
        tool_round: the round of tool calls whose results it goes on after (0: it answers the user)."""
        reply = self.log.add(conversation_id, "assistant", "", status=STREAMING, meta={"waiting": True} if waiting else {},
                             parent_id=question_id, make_current=True, when_full=NO_REPLY)
        if reply is None:
            return None
        rid = next(_request_ids)
        self.active[rid] = _Reply(reply, tool_round=tool_round)
        return rid, reply

    def request(self, rid: int, messages: list[dict], params) -> None:
        """Send the history (sources put in by the documents part) to the worker for reply rid."""
        self.worker.request_reply(rid, messages, params)

    def streaming_in(self, conversation_id: int) -> bool:
        return any(r.message.conversation_id == conversation_id for r in self.active.values())

    def stop(self, conversation_id: int) -> None:
        """Stop the replies streaming in a conversation (each ends as usual, kept as Stopped)."""
        for rid, reply in list(self.active.items()):
            if reply.message.conversation_id == conversation_id:
                self.worker.cancel(rid)

    def forget(self, message_ids: set[int]) -> None:
        """Their messages are being deleted: stop them, and nothing of them is saved."""
        for rid, reply in list(self.active.items()):
            if reply.message.id in message_ids:
                self.worker.cancel(rid)
                self.active.pop(rid)

    def cancel_all(self) -> None:
        for rid in list(self.active):
            self.worker.cancel(rid)

    def keep_what_came(self) -> None:
        """At quit, the worker stopped: take in the tokens it sent, then keep partial replies (Stopped) with
        every token; a reply with none leaves nothing."""
        self.worker.pump.deliver_posted()
        QCoreApplication.sendPostedEvents(self)
        for rid, reply in list(self.active.items()):
            if reply.said_anything:
                self._end(rid, STOPPED, reply.text, reply.thinking_meta())
            else:
                self._drop(rid)

    # --- worker results -----------------------------------------------------------------------
    def _on_token(self, rid: int, piece: str) -> None:
        reply = self.active.get(rid)
        if reply is None:
            return
        if reply.reasoning and reply.thought_s is None:
            reply.thought_s = time.monotonic() - reply.thinking_since
        reply.text += piece
        self.text.emit(reply.message.id, reply.text)
        self._flush_now_and_then(reply)

    def _on_reasoning(self, rid: int, piece: str) -> None:
        reply = self.active.get(rid)
        if reply is None:
            return
        if reply.thinking_since is None:
            reply.thinking_since = time.monotonic()
        reply.reasoning += piece
        self.thinking.emit(reply.message.id, reply.reasoning)
        self._flush_now_and_then(reply)

    def _flush_now_and_then(self, reply: _Reply) -> None:
        if time.monotonic() - reply.last_flush > FLUSH_EVERY_S:
            reply.last_flush = time.monotonic()
            thinking = reply.thinking_meta()
            meta = {**reply.message.meta, **thinking} if thinking else None
            self.log.save_partial(reply.message.id, reply.text, meta)

    def _on_tool_call(self, rid: int, part: ToolCallDelta) -> None:
        reply = self.active.get(rid)
        if reply is None:
            return
        reply.calls.add(part)
        self.tool_call.emit(reply.message.id, part)

    def _end(self, rid: int, status: str, content: str, meta: dict, calls: list[ToolCall] = ()) -> None:
        reply = self.active.pop(rid, None)
        if reply is None:
            return
        if calls:
            meta = {**meta, "tool_calls": [c.openai() for c in calls]}
        self.log.update(reply.message, content=content, status=status, meta=meta)
        if calls:   # first: the tool part takes the conversation over before anyone hears the reply ended
            self.called_tools.emit(reply.message, list(calls), reply.tool_round)
        self.ended.emit(reply.message.id)

    def _drop(self, rid: int) -> None:
        """A reply stopped before its first token leaves no empty message behind."""
        reply = self.active.pop(rid)
        self.log.remove(reply.message.id)
        self.ended.emit(reply.message.id)

    def _on_finished(self, rid: int, stats: ChatStats) -> None:
        reply = self.active.get(rid)
        if reply is None:
            return
        # A call is run only when the reply ended by itself: a stopped reply's half-written call is dropped.
        calls = [] if stats.stopped else [c if c.id else ToolCall(new_call_id(), c.name, c.arguments)
                                          for c in reply.calls.tool_calls]
        if stats.stopped and not reply.said_anything:
            self._drop(rid)
            return
        meta = {"ttft_ms": round(stats.ttft_s * 1000), "tokens_per_s": round(stats.tokens_per_s, 1),
                "context": [stats.context_used, stats.n_ctx], "dropped": stats.dropped_messages,
                **reply.thinking_meta()}
        if stats.finish_reason == "length" and not stats.stopped:   # said under it: the answer is not whole
            meta["cut_at"] = stats.completion_tokens
            if stats.cut_by_context:
                meta["cut_by"] = "context"
        self._end(rid, STOPPED if stats.stopped else DONE, reply.text, meta, calls)
        self.stats.emit(stats)

    def _on_failed(self, rid: int, message: str) -> None:
        reply = self.active.get(rid)
        if reply is not None:
            if reply.said_anything:   # the partial reply is kept as Stopped; say why
                self.notice(message)
            meta = {"error": message, **reply.thinking_meta()}
            if reply.said_anything:
                self._end(rid, STOPPED, reply.text, meta)
            else:
                self._end(rid, ERROR, message, meta)
