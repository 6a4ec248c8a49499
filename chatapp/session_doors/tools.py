"""The session's doors for tools (a mixin of ChatSession): the reply going on after its calls, the answers to a
call that asks first, Run again, the chat's tools toggle, and settings the session changes itself."""
from __future__ import annotations

from dataclasses import replace

from .. import backends
from ..conversation import Message
from ..tools import drawing_intent

STILL_COMING = "A reply is still coming. Wait for it, or press Esc to stop it."
# A full disk while sending: what was typed stays in the box (submit returns False), and this says what to do.
SEND_AGAIN = ("The disk holding your chats is full, so your message was not sent; it is still in the box. "
              "Free some space, then press Enter again.")


class ToolDoors:
    """ChatSession's tool methods; it provides storage, log, settings, current, tools (a ToolLoop) and the signals."""

    def model_calls_tools(self) -> bool:
        """Whether the loaded chat model takes tool calls (its history then carries them; else they fold into text)."""
        return self.llm_status == "ready" and self.chat_capabilities.tools

    def _go_on(self, conversation_id: int, after_id: int, tool_round: int) -> None:
        """The calls of a reply were answered: the reply goes on under their results."""
        conv, after = self._guard(self.storage.conversation, conversation_id), self.log.message(after_id)
        if conv is not None and after is not None:
            self._start_reply(conv, after, tool_round)
        else:
            self._on_tools_ended(conversation_id)

    def _on_tools_ended(self, _conversation_id: int) -> None:
        self.busy_changed.emit(self._streaming_here())

    def answer_tool(self, card: Message, choice: str) -> None:
        """A call that asks first: "once", "always" (remembered in Settings) or "deny"."""
        self.tools.answer(card.id, choice)

    def rerun_tool(self, card: Message, arguments: str) -> bool:
        """Run a finished call again with (edited) arguments, beside the old one; the reply goes on after it."""
        if self._streaming_here():
            self.notice.emit(STILL_COMING)
            return False
        if not self.tools.rerun(card, arguments):
            return False
        self.busy_changed.emit(True)
        self._reopen()
        return True

    # --- "Draw this": a drawing request to a model that cannot draw by itself (or may not: tools off in its chat) ---
    def _capabilities_known(self) -> bool:
        """Whether the app knows what the chat model can do: loaded, or failed to load (it draws nothing then)."""
        return self.llm_status in ("ready", "error")

    def _drawing_hint(self, text: str, conversation_id: int | None = None) -> dict:
        """The "Draw this" suggestion (meta) a message carries; none while the model loads (decided once it is
        ready: _settle_drawing_hints), so a model that draws by itself never shows one."""
        if not self._capabilities_known():
            return {}
        conversation_id = conversation_id or (self.current.id if self.current else None)
        draws = self.chat_capabilities.tools and self.tools.enabled(conversation_id) and self._tools_fit()
        intent = None if draws else drawing_intent.read(text)
        return {"meta": {"draw_this": intent.meta()}} if intent else {}

    def _await_capabilities(self, message: Message) -> None:
        """A message sent while the model loads that reads as a drawing request waits for the model's capabilities."""
        if (message.role == "user" and not self._capabilities_known() and "draw_this" not in message.meta
                and not message.content.startswith("/") and drawing_intent.read(message.content)):
            self._hints_waiting.append(message.id)

    def _settle_drawing_hints(self, state: str, _detail: str = "") -> None:
        """The model is ready (or failed to load): the waiting requests get their suggestion if it cannot draw."""
        if state not in ("ready", "error"):
            return
        waiting, self._hints_waiting = self._hints_waiting, []
        for message in filter(None, (self.log.message(i) for i in waiting)):   # None: deleted meanwhile
            hint = "draw_this" not in message.meta and self._drawing_hint(message.content, message.conversation_id)
            if hint:
                self.log.update(message, meta={**message.meta, **hint["meta"]})

    def _tool_room(self) -> tuple[int, int] | None:
        """(n_ctx, max_tokens) the tools must fit beside: a loaded model that calls tools, or a local one still
        loading (a reply sent meanwhile waits for it with these tools); else None."""
        if self.model_calls_tools():
            n_ctx = self.llm_info.n_ctx if self.llm_info else 0
        elif not self._capabilities_known() and not backends.chat_backend(self.settings).remote:
            n_ctx = self.settings.n_ctx   # what it loads with; whether it calls tools is not known yet
        else:
            return None
        return (n_ctx, self.settings.max_tokens) if n_ctx else None

    def _tools_fit(self) -> bool:
        """Whether the model is offered the tools in this turn as far as its context goes (ToolLoop.fits)."""
        room = self._tool_room()
        return room is None or self.tools.fits(*room, vision=self.chat_capabilities.vision)

    def tools_enabled(self) -> bool:
        """Whether the open chat (or the next new one) lets the assistant call tools."""
        return not self._tools_off_next if self.current is None else self.tools.enabled(self.current.id)

    def set_tools_enabled(self, on: bool) -> None:
        """The chat's tools toggle, kept with the chat (Conversation.tools_off: deleted, exported, imported with it)."""
        if self.current is None:
            self._tools_off_next = not on
        elif self.log.saved(self.storage.set_tools_off, self.current.id, not on):   # else a notice says why
            self.current.tools_off = not on

    def take_old_tools_switches(self) -> None:
        """Settings files of before kept the chats whose tools were off in tools_off_chats: each such chat gets its
        own switch off, then the list is emptied (saved); a database that cannot keep them leaves it for later."""
        old = self.settings.tools_off_chats
        kept = not self.storage.read_only and str(self.storage.path) != ":memory:"   # not a stand-in for this session
        if old and kept and all(self.log.saved(self.storage.set_tools_off, cid, True) for cid in old):
            self._change_settings(tools_off_chats=[])

    def _remember_always(self, keys: list) -> None:
        self._change_settings(tools_always=keys)

    def _change_settings(self, **changes) -> None:
        self.settings = replace(self.settings, **changes)
        self.settings_wanted.emit(self.settings)   # the app saves it (and gives it back: nothing reloads)

