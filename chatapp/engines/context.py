"""Fitting a conversation into the model's context: drop the oldest turns, never the system prompt."""
from __future__ import annotations

from typing import Callable

from .base import ContextOverflow

# Role markers and separators a chat template adds around each message (ChatML adds ~5).
PER_MESSAGE_OVERHEAD = 8


# What one picture costs where the engine cannot measure it (a server's model): a typical projector's
# tokens for a picture at its size (Qwen2-VL at 1024 px is ~1,300, LLaVA 1.5 576, Gemma 3 256).
IMAGE_TOKENS_ESTIMATE = 768


def _text(message: dict) -> str:
    """What of a message reaches the prompt: its content's text (None beside tool calls) and its calls."""
    calls = message.get("tool_calls") or ()
    content = message.get("content") or ""
    if isinstance(content, list):   # OpenAI's parts: the text parts' text (pictures are counted apart)
        content = "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content + "".join(str(c.get("function", {})) for c in calls)


def image_urls(message: dict) -> list[str]:
    """The picture parts' URLs of a message with list content, in order."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    urls = [p.get("image_url") for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
    return [str((u.get("url") if isinstance(u, dict) else u) or "") for u in urls]   # OpenAI's {"url"}, or a bare string


def message_tokens(message: dict, count_tokens: Callable[[str], int],
                   image_tokens: Callable[[str], int] | None = None) -> int:
    """A message's prompt cost: its text by the tokenizer, each picture by the engine's count (or the estimate)."""
    pictures = sum(image_tokens(u) if image_tokens else IMAGE_TOKENS_ESTIMATE for u in image_urls(message))
    return count_tokens(_text(message)) + pictures + PER_MESSAGE_OVERHEAD


def fit_messages(messages: list[dict], count_tokens: Callable[[str], int], n_ctx: int,
                 reply_reserve: int, image_tokens: Callable[[str], int] | None = None) -> tuple[list[dict], int]:
    """Return the newest messages that fit in n_ctx - reply_reserve tokens, and how many were dropped.

    The system prompt (first message, if role "system") and the last message always stay. A message's
    pictures count with it (image_tokens(url), else IMAGE_TOKENS_ESTIMATE each) and go or stay with it.
    Raises ContextOverflow when even those do not fit.
    """
    budget = n_ctx - reply_reserve
    system = messages[:1] if messages and messages[0]["role"] == "system" else []
    turns = messages[len(system):]
    cost = [message_tokens(m, count_tokens, image_tokens) for m in messages]
    sys_cost = sum(cost[:len(system)])
    turn_cost = cost[len(system):]
    if not turns:
        return list(messages), 0
    if sys_cost + turn_cost[-1] > budget:
        holds = f"the model's context holds {n_ctx} (with {reply_reserve} kept for the reply)"
        if sys_cost + PER_MESSAGE_OVERHEAD >= budget:
            # The system prompt alone leaves no room: every message would fail, whatever its length.
            raise ContextOverflow(
                f"The system prompt is about {sys_cost} tokens, but {holds}, so no message fits beside it. "
                "Shorten the system prompt (in Settings, or this chat's own), or raise the context length.")
        if turn_cost[-1] <= budget:
            raise ContextOverflow(
                f"This message (about {turn_cost[-1]} tokens) and the system prompt (about {sys_cost}) "
                f"do not fit together: {holds}. Shorten one of them, or raise the context length in Settings.")
        raise ContextOverflow(
            f"This message is about {turn_cost[-1]} tokens, but {holds}. "
            "Shorten it, or raise the context length in Settings.")
    keep, used = 0, sys_cost
    for c in reversed(turn_cost):
        if used + c > budget:
            break
        used += c
        keep += 1
    kept = turns[len(turns) - keep:]
    # Start on a user turn: a reply without its question confuses small models.
    while len(kept) > 1 and kept[0]["role"] != "user":
        kept = kept[1:]
    return system + kept, len(turns) - len(kept)
