"""The conversation tree as the user acts on it, read from Storage (no Qt, no session): a new chat's title,
what the model sees, find in the branch, your last message, what Regenerate answers, where a switch lands."""
from __future__ import annotations

from .conversation import (DONE, STOPPED, Conversation, Message, is_tool_message, pictures_of, thinking_of,
                           tool_calls, tool_result_text)

# A user picture in the history, until it is made a data URL off the GUI thread (pictures.intake.with_data_urls):
# {"type": PICTURE_PART, "path": ..., "name": ...}. No engine ever receives one.
PICTURE_PART = "chatapp_picture"
NOT_SHOWN = "[picture: {name} (not shown: this model cannot see pictures)]"
# What a seeing model is told with the pictures a tool showed it (look_at_picture): OpenAI's tool messages carry text
# only, and llama.cpp's vision handler reads pictures in user messages only, so they follow the results as a user's.
TOOL_SHOWED = "{pictures}, as the tool showed {it}."


def title_from(text: str, limit: int = 48) -> str:
    """A new conversation's title from its first message."""
    # The title needs the first few words: a pasted megabyte is not split whole for them.
    line = " ".join(text.strip()[: limit * 8].split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def history(storage, conversation: Conversation, default_system: str, up_to: int | None = None, *,
            tools: bool = False, vision: bool = False) -> list[dict]:
    """What the model sees: the system prompt and the branch from the root down to message up_to.

    Only the visible branch is sent, so other branches never leak into a reply. Tool calls (issue 23) go as
    OpenAI's assistant "tool_calls" and role "tool" results when `tools` (the engine can call tools), each
    call answered (one with no result says what became of it); otherwise a turn's calls and results fold into
    its assistant text. Pictures a tool drew are not sent: the call's result says what was drawn. A user
    message's pictures (meta["pictures"]) go as list content to an engine that can see (`vision`; text first,
    then each picture as a PICTURE_PART for the caller to encode), else as a "[picture: NAME (not shown ...)]" line.
    The pictures a tool showed the model (a tool message's meta["shown"]: look_at_picture) follow the turn's results
    as a user message (TOOL_SHOWED) for an engine that sees; for one that cannot, the result says they were not shown.
    """
    system = conversation.system_prompt if conversation.system_prompt is not None else default_system
    msgs = [{"role": "system", "content": system}] if system.strip() else []
    branch = storage.branch(conversation.id, up_to) if up_to is not None else storage.branch(conversation.id)
    turn = _ToolTurn(msgs, tools, lambda m: _shown_pictures(storage, conversation.id, m), vision)
    for m in branch:
        if is_tool_message(m):
            turn.result(m)
        elif m.kind == "text" and m.role in ("user", "assistant") and m.status in (DONE, STOPPED):
            calls, pictures = tool_calls(m), pictures_of(m) if m.role == "user" else []
            if pictures:
                turn.add(m.role, _with_pictures(m.content, pictures, vision), [])
            elif m.content or calls:   # a reply that was all thinking is left out, as thinking always is
                turn.add(m.role, m.content, calls, thinking_of(m.meta))
    turn.close()
    return msgs


def _with_pictures(text: str, pictures: list[dict], vision: bool) -> str | list[dict]:
    if not vision:
        notes = "\n".join(NOT_SHOWN.format(name=p.get("name") or "picture") for p in pictures)
        return f"{text}\n\n{notes}" if text else notes
    parts = [{"type": "text", "text": text}] if text else []
    return parts + [{"type": PICTURE_PART, "path": p["path"], "name": p.get("name") or "picture"} for p in pictures]


def _joined(first, second):
    """Two user messages' contents as one: the texts joined by a blank line; with pictures, the text first and then
    every picture in order (the shape history() gives one message)."""
    text = "\n\n".join(t for t in (text_of(first), text_of(second)) if t)
    if isinstance(first, str) and isinstance(second, str):
        return text
    pictures = [p for c in (first, second) if isinstance(c, list) for p in c
                if not (isinstance(p, dict) and p.get("type") == "text")]
    return ([{"type": "text", "text": text}] if text else []) + pictures


def _shown_pictures(storage, conversation_id: int, message: Message) -> list[dict]:
    """The pictures of this chat a tool message showed the model, as PICTURE_PARTs (a message of another chat, or
    not a finished picture, is never read: meta comes from imports too)."""
    ids = message.meta.get("shown") if isinstance(message.meta, dict) else None
    parts = []
    for i in ids if isinstance(ids, list) else []:
        shown = storage.message(i) if isinstance(i, int) and not isinstance(i, bool) else None
        if shown is not None and shown.conversation_id == conversation_id and shown.kind == "image" \
                and shown.status == DONE and shown.image_path:
            number = shown.meta.get("number")
            parts.append({"type": PICTURE_PART, "path": shown.image_path,
                          "name": f"#{number}" if number else "picture"})
    return parts


def has_pictures(messages: list[dict]) -> bool:
    """Whether a history holds pictures still to be encoded."""
    return any(isinstance(m.get("content"), list) and any(part.get("type") == PICTURE_PART for part in m["content"])
               for m in messages)


def text_of(content) -> str:
    """A message's text: the content, or its text parts joined (list content)."""
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content or ""


def with_text(content, text: str):
    """The content with its text replaced (list content: the first text part, pictures kept)."""
    if not isinstance(content, list):
        return text
    rest = [p for p in content if not (isinstance(p, dict) and p.get("type") == "text")]
    return [{"type": "text", "text": text}, *rest]


class _ToolTurn:
    """Builds the history's messages, a tool-calling turn at a time."""

    def __init__(self, msgs: list[dict], tools: bool, shown=None, vision: bool = False):
        self.msgs, self.tools = msgs, tools
        self.pending: list[str] = []        # ids of the last turn's calls not answered yet (tools)
        self.folding = False                # the last message is an assistant turn with calls folded into text
        self.shown, self.vision = shown, vision   # a tool message's pictures (PICTURE_PARTs); whether they are sent
        self.showing: list[dict] = []       # pictures the turn's results showed, sent once every call is answered

    def add(self, role: str, content: str, calls: list[dict], reasoning: str = "") -> None:
        self.close()
        if role == "user" and self.msgs and self.msgs[-1]["role"] == "user":
            # Two user turns in a row (after an /image, a failed reply, or one stopped before its first word) go
            # as one: Gemma's and Mistral's templates refuse two in a row, and every later reply failed.
            self.msgs[-1]["content"] = _joined(self.msgs[-1]["content"], content)
            return
        if calls and self.tools:
            # The thinking that led to calls goes with them (reasoning_content, llama-server's name): Qwen3's and
            # Gemma 4's templates show it to the model while the turn's tool rounds go on, and only then.
            self.msgs.append({"role": "assistant", "content": content, "tool_calls": calls,
                              **({"reasoning_content": reasoning} if reasoning else {})})
            self.pending = [c["id"] for c in calls]
            return
        if role == "assistant" and self.folding:   # the reply going on after its calls' results
            self._fold(content)
        else:
            self.msgs.append({"role": role, "content": content})
        for c in calls:   # an engine that cannot call tools reads what was called
            self._fold(f"[tool call] {c['function']['name']} {c['function']['arguments']}")
        self.folding = self.folding and role == "assistant" or bool(calls)

    def result(self, m: Message) -> None:
        call_id = m.meta.get("tool_call_id")
        pictures, text = self.shown(m) if self.shown else [], tool_result_text(m)
        if pictures and not self.vision:
            text += "\n" + "\n".join(NOT_SHOWN.format(name=p["name"]) for p in pictures)
        if self.vision:
            self.showing += pictures
        if self.tools and call_id in self.pending:
            self.pending.remove(call_id)
            self.msgs.append({"role": "tool", "tool_call_id": call_id, "content": text})
            if not self.pending:
                self._show()
        else:   # no engine-side call to answer (the engine cannot call tools, or the call is not in the branch)
            self._fold(f"[tool result] {m.meta.get('name', 'tool')}: {text}")
            self.folding = True   # its pictures follow the turn's folded results (close)

    def _show(self) -> None:
        """The pictures the results showed, as a user message: after every result (OpenAI wants the results of a
        turn's calls together, right after it)."""
        if self.showing:
            names, many = [p["name"] for p in self.showing], len(self.showing) > 1
            said = TOOL_SHOWED.format(pictures=("Pictures " if many else "Picture ") + ", ".join(names),
                                      it="them" if many else "it")
            self.msgs.append({"role": "user", "content": [{"type": "text", "text": said}, *self.showing]})
            self.showing = []

    def close(self) -> None:
        """Every call of the last turn gets an answer: OpenAI's API refuses a history without one."""
        for call_id in self.pending:
            self.msgs.append({"role": "tool", "tool_call_id": call_id, "content": "The call was not run."})
        self.pending = []
        self._show()

    def _fold(self, text: str) -> None:
        if self.msgs and self.msgs[-1]["role"] == "assistant" and "tool_calls" not in self.msgs[-1]:
            last = self.msgs[-1]
            last["content"] = f"{last['content']}\n\n{text}" if last["content"] else text
        else:
            self.msgs.append({"role": "assistant", "content": text})


def folded(messages: list[dict]) -> list[dict]:
    """OpenAI chat messages (assistant "tool_calls", role "tool" results) as an engine that cannot call tools
    reads them: folded into the assistant's text as history() folds a conversation's (`chatapp serve`)."""
    out: list[dict] = []
    turn, names = _ToolTurn(out, tools=False), {}
    for m in messages:
        calls = m.get("tool_calls") or []
        names.update((c["id"], c["function"]["name"]) for c in calls)
        if m["role"] == "tool":
            call_id = m.get("tool_call_id")
            turn.result(Message(0, 0, "tool", m["content"], kind="tool",
                                meta={"tool_call_id": call_id, "name": names.get(call_id, "tool")}))
        else:
            turn.add(m["role"], m["content"], calls)
    turn.close()
    return out


def find(storage, conversation_id: int, text: str) -> list[int]:
    """Ids of the shown branch's messages that contain text (any case), oldest first."""
    needle = text.strip().casefold()[:1000]
    return [m.id for m in storage.branch(conversation_id) if needle in m.content.casefold()] if needle else []


def last_user_message(storage, conversation_id: int) -> Message | None:
    """The newest message the user wrote on the shown branch."""
    return next((m for m in reversed(storage.branch(conversation_id)) if m.role == "user"), None)


def question_of(storage, conversation_id: int, reply: Message | None) -> Message | None:
    """The question a new answer beside reply goes under (default reply: the last one shown); None: no reply
    to regenerate there."""
    if reply is None:
        shown = storage.branch(conversation_id, limit=1)
        reply = shown[0] if shown else None
    if reply is None or reply.role != "assistant" or reply.kind != "text" or reply.parent_id is None:
        return None
    return storage.message(reply.parent_id)


def switched_leaf(storage, conversation_id: int, message: Message, step: int) -> int | None:
    """The leaf to show for the sibling `step` places from message (-1: previous, +1: next), with its continuation."""
    ids = [m.id for m in storage.children(message.parent_id, conversation_id)]
    if message.id not in ids:
        return None
    return storage.newest_leaf_under(ids[max(0, min(len(ids) - 1, ids.index(message.id) + step))])
