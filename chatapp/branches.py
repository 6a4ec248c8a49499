"""The conversation tree as the user acts on it, read from Storage (no Qt, no session): a new chat's title,
what the model sees, find in the branch, your last message, what Regenerate answers, where a switch lands."""
from __future__ import annotations

from .conversation import DONE, STOPPED, Conversation, Message


def title_from(text: str, limit: int = 48) -> str:
    """A new conversation's title from its first message."""
    # The title needs the first few words: a pasted megabyte is not split whole for them.
    line = " ".join(text.strip()[: limit * 8].split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def history(storage, conversation: Conversation, default_system: str, up_to: int | None = None) -> list[dict]:
    """What the model sees: the system prompt and the branch from the root down to message up_to.

    Only the visible branch is sent, so other branches never leak into a reply.
    """
    system = conversation.system_prompt if conversation.system_prompt is not None else default_system
    msgs = [{"role": "system", "content": system}] if system.strip() else []
    branch = storage.branch(conversation.id, up_to) if up_to is not None else storage.branch(conversation.id)
    for m in branch:
        if m.kind == "text" and m.role in ("user", "assistant") and m.status in (DONE, STOPPED) and m.content:
            msgs.append({"role": m.role, "content": m.content})
    return msgs


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
