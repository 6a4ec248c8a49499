"""The session's tool part (GUI thread): a reply's tool calls become cards (role "tool" messages), each asked about
when it must be, run off the GUI thread through TOOLS, its result saved; then the reply goes on with the results.

It is given the message log, a read-only settings view, a notice sink and the service desk; never the session."""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal, Slot

from ..conversation import Message, reply_reserve
from ..engines.events import ToolCall
from ..engines.lora import names as lora_names
from ..message_log import MessageLog
from ..parts import Notice, SettingsView
from .services import CallServices, ServiceDesk
from ..tools.base import TOOLS, Tool, ToolResult, ToolRun, call, no_such_tool, offered, openai_tool
from ..workers import Calls

MAX_ROUNDS = 5   # rounds of tool calls in one turn: a small model must not call tools forever
ROUNDS_NOTE = (f"The assistant called tools {MAX_ROUNDS} times in a row, so it was asked to answer without "
               "them this time.")
NOT_RUN = "Not run: the user stopped the reply."
STOPPED = "Stopped by the user before it finished."
ONCE, ALWAYS, DENY = "once", "always", "deny"   # the answers to a call that asks first
MAX_OFFERED_LORAS = 50   # LoRA names in the picture tools' schemas: each costs prompt tokens on every turn
# A turn offers tools only where their definitions leave the conversation this much of the model's context (beside
# the room kept for the reply, as the engines keep it: max_tokens, at most half). Without it a model that calls
# tools at 2,048 tokens could not answer at all (the built-in tools take ~1,670 of them on Qwen's template).
MIN_CHAT_ROOM = 512
CHARS_PER_TOKEN = 3      # the tools' JSON: 3.2 characters a token on SmolLM2's vocabulary (measured); fewer is safe
SHORT_NOTE = ("Tools were left out of this chat's replies: their definitions (about {tools:,} tokens) and the room "
              "kept for the reply would leave the conversation under {room} of the model's {n_ctx:,} tokens of "
              "context. Raise Settings → Chat → Context length (4,096 or more) to let the assistant use tools.")


def denied(name: str) -> str:
    return f"The user denied this call of {name}. Do not call it again for this request; answer without it."


def cost(tools: tuple[dict, ...]) -> int:
    """About how many prompt tokens the tools' definitions take (a little more than most vocabularies need)."""
    return len(json.dumps(tools)) // CHARS_PER_TOKEN if tools else 0


def always_key(tool: Tool) -> str:
    """What "Always for this tool" remembers: the tool, and what it said it does (a changed tool asks again)."""
    digest = hashlib.sha256(json.dumps([tool.description, tool.parameters], sort_keys=True).encode()).hexdigest()
    return f"{tool.source}/{tool.name}/{digest[:12]}"


@dataclass
class _Turn:
    """One reply's calls, run one after another; each card hangs under the one before (or its pictures)."""
    conversation_id: int
    calls: list[ToolCall]
    round: int
    tail: int                       # the message the next card, then the reply going on, hangs under
    index: int = 0
    card: Message | None = None     # the call in hand
    tool: Tool | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    runner: Calls | None = None
    edited: bool = False            # run again by the user with arguments they edited
    offered: tuple[str, ...] | None = None   # the tools the model was offered (None: all, a rerun by the user)


class ToolLoop(QObject):
    progress = Signal(int, str, object)   # tool message id, a line of state, fraction (None: busy); not saved
    go_on = Signal(int, int, int)         # conversation id, message the reply goes on under, the round it follows
    ended = Signal(int)                   # conversation id: its calls ended and the reply does not go on (Stop)
    always = Signal(list)                 # the tools allowed always (Settings.tools_always), to save
    _progressed = Signal(int, str, object)   # from a tool's thread

    def __init__(self, log: MessageLog, settings: SettingsView, notice: Notice, desk: ServiceDesk):
        super().__init__()
        self.log, self.settings, self.notice, self.desk = log, settings, notice, desk
        self.turns: dict[int, _Turn] = {}   # conversation id -> its calls running (one reply at a time there)
        self._allowed: set[str] = set()      # "Always" answers of this session (saved through `always` too)
        self._progressed.connect(self._on_progressed)
        desk.progress.connect(self.progress)
        # The LoRA names the picture tools offer: the folders as last listed (off the GUI thread; listed again at
        # each offer, so a LoRA added meanwhile is offered from the next reply on).
        self.loras: tuple[str, ...] = ()
        self._told_short: set[tuple] = set()   # (chat, context, max_tokens) whose tools were left out, said once
        self._offered: dict[int, tuple[str, ...]] = {}   # chat -> the tool names its reply was offered last
        self._lister = Calls()
        self._lister.done.connect(self._on_loras_listed)
        self.list_loras()

    # --- what the model is offered ----------------------------------------------------------------------
    def enabled(self, conversation_id: int | None) -> bool:
        """Whether a chat lets the assistant call tools: its own switch (Conversation.tools_off); a new chat: yes."""
        conv = None if conversation_id is None else self.log.guard(self.log.storage.conversation, conversation_id)
        return conv is None or not conv.tools_off

    def offer(self, conversation_id: int, tool_round: int, room: tuple[int, int] | None = None,
              say: bool = True, vision: bool = False) -> tuple[tuple[dict, ...], str]:
        """GenParams.tools and tool_choice for a reply: none in a chat with tools off, nor where they do not fit
        `room` ((n_ctx, max_tokens); said once per chat where `say`: the model is known to call tools); past the
        rounds' cap they stay offered (the history holds calls) with tool_choice "none", so the model answers in
        words (said). Tools that show the model a picture only where it sees (`vision`)."""
        self._offered[conversation_id] = ()   # a call of a tool not offered is answered, never run (_next)
        if not self.enabled(conversation_id) or not TOOLS:
            return (), "auto"
        tools = self._openai_tools(vision)
        self.list_loras()
        if room is not None and not self.fits(*room, tools):
            if say and (conversation_id, *room) not in self._told_short:
                self._told_short.add((conversation_id, *room))
                self.notice(SHORT_NOTE.format(tools=cost(tools), room=MIN_CHAT_ROOM, n_ctx=room[0]))
            return (), "auto"
        self._offered[conversation_id] = tuple(t["function"]["name"] for t in tools)
        if tool_round >= MAX_ROUNDS:
            self.notice(ROUNDS_NOTE)
            return tools, "none"
        return tools, "auto"

    def _openai_tools(self, vision: bool = False) -> tuple[dict, ...]:
        return tuple(openai_tool(t) for t in offered(limits=self.desk.images.limits(), loras=self.loras, vision=vision))

    def fits(self, n_ctx: int, max_tokens: int, tools: tuple[dict, ...] | None = None, vision: bool = False) -> bool:
        """Whether a turn with the tools (default: those offered now to a model that sees or not) leaves the
        conversation MIN_CHAT_ROOM tokens of n_ctx (0: not known, so yes)."""
        if not n_ctx:
            return True
        tools = self._openai_tools(vision) if tools is None else tools
        return n_ctx - reply_reserve(max_tokens, n_ctx) - cost(tools) >= MIN_CHAT_ROOM

    def list_loras(self) -> None:
        # Only those made for the image model's kind (told from its files, not loaded): tiny-shapes' LoRAs never
        # reach a Stable Diffusion model's schema, where the render would refuse them.
        self._lister.call(lora_names, self.desk.images.lora_dirs(), self.desk.images.model_path())

    @Slot(int, object, object)
    def _on_loras_listed(self, _call: int, names, error) -> None:
        if error is None:   # an unreadable folder: the names listed before stay
            self.loras = tuple(names[:MAX_OFFERED_LORAS])

    def running_in(self, conversation_id: int) -> bool:
        return conversation_id in self.turns

    # --- a reply called tools --------------------------------------------------------------------------
    def start(self, reply: Message, calls: list, tool_round: int) -> None:
        turn = _Turn(reply.conversation_id, list(calls), tool_round + 1, reply.id,
                     offered=self._offered.get(reply.conversation_id))
        self.turns[reply.conversation_id] = turn
        if tool_round >= MAX_ROUNDS:   # told to call none, called some anyway: the answer ends here
            self._not_run(turn, turn.calls, f"Not run: the assistant had called tools {MAX_ROUNDS} times in a row.")
            self._close(turn)
            return
        self._next(turn)

    def rerun(self, card: Message, arguments: str) -> bool:
        """Run a finished call again with (edited) arguments: a new card beside the old one, then the reply goes on."""
        saved = self.log.message(card.id)   # as stored: the card hands over its edited arguments in a copy
        if self.running_in(card.conversation_id) or saved is None or saved.parent_id is None:
            return False
        meta = saved.meta
        turn = _Turn(saved.conversation_id, [ToolCall(meta.get("tool_call_id", ""), meta.get("name", ""), arguments)],
                     1, saved.parent_id, edited=arguments != meta.get("arguments"))
        self.turns[saved.conversation_id] = turn
        self._next(turn, ask=False)   # pressing Run is the user's answer
        return True

    def _next(self, turn: _Turn, ask: bool = True) -> None:
        if turn.index == len(turn.calls):
            self.turns.pop(turn.conversation_id, None)
            self.go_on.emit(turn.conversation_id, turn.tail, turn.round)
            return
        tc = turn.calls[turn.index]
        tool = turn.tool = TOOLS.get(tc.name) if turn.offered is None or tc.name in turn.offered else None
        asking = ask and tool is not None and self._asks(tool)
        turn.card = self.log.add_tool_message(turn.conversation_id, turn.tail, tc, make_current=True,
                                              source=tool.source if tool else "builtin",
                                              state="asking" if asking else "running")
        if turn.card is None:   # not saved (the notice says why): the reply cannot go on from here
            self._close(turn)
        elif tool is None:
            self._settle(turn, "failed", no_such_tool(tc.name, turn.offered))
        elif not asking:
            self._run(turn)

    def _asks(self, tool: Tool) -> bool:
        if not (tool.asks_first or (tool.source == "builtin" and self.settings.tools_ask_first)):
            return False
        key = always_key(tool)
        return key not in self._allowed and key not in self.settings.tools_always

    def answer(self, card_id: int, choice: str) -> None:
        """The user's answer to a call that asks first: ONCE, ALWAYS or DENY."""
        turn = next((t for t in self.turns.values() if t.card and t.card.id == card_id
                     and t.card.meta.get("state") == "asking"), None)
        if turn is None:
            return
        if choice == DENY:
            self._settle(turn, "denied", ToolResult(denied(turn.tool.name), is_error=True))
            return
        if choice == ALWAYS:
            self._allowed.add(always_key(turn.tool))
            self.always.emit(sorted(set(self.settings.tools_always) | {always_key(turn.tool)}))
        self.log.set_tool_state(turn.card, "running")
        self._run(turn)

    def _run(self, turn: _Turn) -> None:
        card, tc = turn.card, turn.calls[turn.index]
        run = ToolRun(tc.id, turn.conversation_id, turn.stop.is_set,
                      lambda text, fraction=None: self._progressed.emit(card.id, text, fraction),
                      CallServices(self.desk, turn.conversation_id, card, turn.stop.is_set))
        # A call of its own thread: a picture takes minutes, and a hung server must not hold up the next call.
        turn.runner = Calls(own_thread=True)
        turn.runner.done.connect(self._on_done)
        turn.runner.call(call, turn.tool, tc.arguments, run)   # never raises: a failure is a result

    @Slot(int, str, object)
    def _on_progressed(self, card_id: int, text: str, fraction) -> None:
        if any(t.card and t.card.id == card_id and not t.stop.is_set() for t in self.turns.values()):
            self.progress.emit(card_id, text, fraction)

    @Slot(int, object, object)
    def _on_done(self, _job: int, answer, error) -> None:
        turn = next((t for t in self.turns.values() if t.runner is not None and t.runner is self.sender()), None)
        if turn is None or turn.stop.is_set():
            return   # stopped: its card was settled then
        result = answer if error is None else ToolResult(f"{turn.tool.name} failed: {error}", is_error=True)
        state = "failed" if result.is_error else "done"
        if turn.edited:
            result = ToolResult(f"(The user edited this call's arguments to {turn.calls[0].arguments} and ran it "
                                f"again.) {result.content}", result.is_error, result.message_ids, result.shown)
        self._settle(turn, state, result)

    def _settle(self, turn: _Turn, state: str, result: ToolResult) -> None:
        """The call in hand ends (done, failed, denied, cancelled); the next one starts, or the reply goes on."""
        card, turn.runner = turn.card, None
        ids = [i for i in result.message_ids if self.log.message(i) is not None]
        more = {**({"message_ids": ids} if ids else {}), **({"edited": True} if turn.edited else {}),
                **({"shown": list(result.shown)} if result.shown else {})}
        self.log.set_tool_state(card, state, result.content, **more)
        turn.tail = ids[-1] if ids else card.id
        turn.index += 1
        if state == "cancelled":
            self._close(turn)
        else:
            self._next(turn)

    # --- Stop, deleting, quitting ---------------------------------------------------------------------
    def stop(self, conversation_id: int) -> None:
        """Stop: the call in hand is cancelled (its picture too), the calls after it are not run, no reply goes on."""
        turn = self.turns.get(conversation_id)
        if turn is None:
            return
        turn.stop.set()
        if turn.card is None:
            self._close(turn)
            return
        self.desk.cancel_card(turn.card.id)
        rest, turn.calls = turn.calls[turn.index + 1:], turn.calls[:turn.index + 1]
        self._settle(turn, "cancelled", ToolResult(STOPPED, is_error=True))
        self._not_run(turn, rest, NOT_RUN)

    def _not_run(self, turn: _Turn, calls: list[ToolCall], why: str) -> None:
        """Cards for calls that will not run: every call of a reply gets its result, so the history stays whole."""
        for tc in calls:
            tool = TOOLS.get(tc.name)
            card = self.log.add_tool_message(turn.conversation_id, turn.tail, tc, make_current=True,
                                             source=tool.source if tool else "builtin", state="cancelled")
            if card is not None:
                self.log.set_tool_state(card, "cancelled", why)
                turn.tail = card.id

    def forget(self, message_ids: set[int]) -> None:
        """Their messages are being deleted: their calls stop, and nothing more is saved for them."""
        for cid, turn in list(self.turns.items()):
            if turn.tail in message_ids or (turn.card and turn.card.id in message_ids):
                turn.stop.set()
                if turn.card:
                    self.desk.cancel_card(turn.card.id)
                self._close(turn)

    def discard(self, conversation_id: int) -> None:
        """The chat is being deleted: its calls stop, and nothing more is saved for them."""
        turn = self.turns.get(conversation_id)
        if turn is not None:
            self.forget({turn.tail, *([turn.card.id] if turn.card else [])})

    def _close(self, turn: _Turn) -> None:
        turn.stop.set()
        if self.turns.get(turn.conversation_id) is turn:
            del self.turns[turn.conversation_id]
            self.ended.emit(turn.conversation_id)

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        """Quitting: waiting calls are woken, running ones stop; their cards say chatapp was closed."""
        self.desk.close()
        ok = True
        for turn in list(self.turns.values()):
            turn.stop.set()
            runner = turn.runner
            if turn.card is not None:
                self._settle(turn, "cancelled", ToolResult("chatapp was closed before this call finished.", True))
            ok = (runner.shutdown(timeout_ms) if runner is not None else True) and ok
        return ok
