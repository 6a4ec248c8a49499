"""Qt-free domain objects: conversations, messages, generation parameters; ImageRequest (defined in recipes/)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .recipes.request import ImageRequest  # noqa: F401  (re-exported: a picture message's request)

# Message.status values
DONE, STREAMING, STOPPED, ERROR, QUEUED, RENDERING, CANCELLED = (
    "done", "streaming", "stopped", "error", "queued", "rendering", "cancelled")


@dataclass
class Conversation:
    id: int
    title: str
    system_prompt: str | None = None  # None: use the default from Settings
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    current_leaf: int | None = None   # the last message of the branch shown (a conversation is a tree)
    tools_off: bool = False           # its tools switch is off: the assistant is offered no tools in it


@dataclass
class Message:
    id: int
    conversation_id: int
    role: str                  # "user" | "assistant" | "tool" (a tool call and its result) | "notice" (app messages,
                               # never sent to a model)
    content: str
    kind: str = "text"         # "text" | "image" | "tool"
    status: str = DONE
    image_path: str | None = None
    meta: dict = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    parent_id: int | None = None        # None: the first message of its conversation (or of a branch of it)
    # Not stored: where this message sits among its siblings (1-based index, count), for "< 2/3 >".
    branch: tuple[int, int] = (1, 1)


# A tool call in the tree (issue 23): the assistant message that calls has meta["tool_calls"] (OpenAI's list,
# arguments as JSON text); each call is a message role "tool", kind "tool", content = the result the model reads,
# meta = {"tool_call_id", "name", "arguments", "state", "source"}. Its state decides its status:
TOOL_STATUS = {"asking": STREAMING, "running": STREAMING, "done": DONE, "failed": ERROR, "denied": DONE,
               "cancelled": CANCELLED}


def tool_calls(message: Message) -> list[dict]:
    """The well-formed tool calls an assistant message made (meta["tool_calls"]), in OpenAI's shape."""
    calls = message.meta.get("tool_calls") if isinstance(message.meta, dict) else None
    if message.role != "assistant" or not isinstance(calls, list):
        return []
    return [c for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str)
            and isinstance(c.get("function"), dict) and isinstance(c["function"].get("name"), str)
            and isinstance(c["function"].get("arguments"), str)]


def is_tool_message(message: Message) -> bool:
    return message.role == "tool" and message.kind == "tool"


def tool_result_text(message: Message) -> str:
    """What the model reads for a tool message: its result, or what became of a call that has none."""
    if message.content:
        return message.content
    state = message.meta.get("state") if isinstance(message.meta, dict) else None
    return {"cancelled": "The call was cancelled before it finished.", "denied": "The user did not allow this call.",
            "failed": "The call failed.", "asking": "The call was not run.", "running": "The call did not finish."
            }.get(state, "The call gave no result.")


@dataclass
class GenParams:
    """Sampling settings for one chat reply."""
    temperature: float = 0.2
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512      # 0: no limit, to the end of the reply or of the context (the app's default: Settings)
    seed: int = -1             # -1: a new random seed each reply
    # What `chatapp serve` passes on from OpenAI's request (the desktop leaves them as they are).
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    grammar: str = ""          # a llama.cpp GBNF grammar the reply must follow ("": free text)
    logit_bias: tuple[tuple[int, float], ...] = ()   # (token id, bias added to its logit), OpenAI's logit_bias
    fit_context: bool = True   # False: a conversation over the context is an error, not trimmed (an API's rule)
    # Tools the model may call (issue 23), in OpenAI's shape: {"type": "function", "function": {"name",
    # "description", "parameters"}}. An engine whose capabilities say it cannot call tools refuses a
    # request that offers some (EngineError naming the model), never ignores them.
    tools: tuple[dict, ...] = ()
    tool_choice: str | dict = "auto"   # "auto" | "none" | "required" | {"type": "function", "function": {"name": N}}
    parallel_tool_calls: bool = True


# A reply with no length limit (max_tokens 0) may run to the context's end; trimming keeps this share of the
# context free for it (a quarter: 1,024 of the default 4,096), as a limited reply keeps its limit.
UNLIMITED_REPLY_SHARE = 4


def reply_reserve(max_tokens: int, n_ctx: int) -> int:
    """The tokens a conversation's trimming keeps free for the reply: its limit (at most half the context),
    or a quarter of the context where it has none (max_tokens <= 0)."""
    if max_tokens <= 0:
        return n_ctx // UNLIMITED_REPLY_SHARE
    return min(max_tokens, n_ctx // 2)


def pictures_of(message: Message) -> list[dict]:
    """A user message's pictures (meta["pictures"], VISION_CONTRACT 1: path, name, width, height, source), the
    well-formed ones, in the order the user gave them."""
    listed = message.meta.get("pictures") if isinstance(message.meta, dict) else None
    if not isinstance(listed, list):
        return []
    return [p for p in listed if isinstance(p, dict) and isinstance(p.get("path"), str)
            and isinstance(p.get("name", ""), str)]


def not_included_note(meta: dict) -> str:
    """An imported message whose pictures its export only pointed to (ChatGPT's do): said, not hidden."""
    pictures = meta.get("pictures_not_included") if isinstance(meta, dict) else None
    if not isinstance(pictures, int) or isinstance(pictures, bool) or pictures < 1:
        return ""
    return "1 picture was not included in the export" if pictures == 1 else \
        f"{pictures} pictures were not included in the export"


def unfinished_note(meta: dict, content: str) -> str:
    """What a reply without a whole answer says under it: cut off at its length limit or the context's end (a
    reasoning model may not have begun its answer), or ended after thinking without one (a model may answer inside
    an unclosed thinking)."""
    if not isinstance(meta, dict):
        return ""
    cut = meta.get("cut_at")
    thought_only = bool(thinking_of(meta)) and not content.strip() and not meta.get("tool_calls")
    if isinstance(cut, int) and not isinstance(cut, bool):
        head = f"The model was still thinking when it was cut off at {cut} tokens" if thought_only else \
            f"Cut off at {cut} tokens"
        if meta.get("cut_by") == "context":
            return head + ", where the model's context was full: raise Context length in Settings, or go on in a new " \
                "chat"
        return head + ": raise Max tokens per reply in Settings for a longer answer"
    return "The model gave no answer apart from its thinking (shown above)" if thought_only else ""


def thinking_of(meta: dict) -> str:
    """A reasoning model's thinking before this reply's answer (meta["reasoning"]), or ""."""
    text = meta.get("reasoning") if isinstance(meta, dict) else None
    return text if isinstance(text, str) else ""


def thought_title(seconds) -> str:
    """How a reply's thinking is named where it is shown closed: how long it took, where that is known."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        return "Thoughts"
    if seconds < 1:
        return "Thought for less than a second"
    return f"Thought for {round(seconds)} s" if seconds < 90 else f"Thought for {round(seconds / 60)} min"


# The words a chat search looks for: one definition for the search (storage) and the search box,
# which says what was left out.
SEARCH_CHARS = 1000   # the search box takes no more
MAX_WORDS = 32        # each word is one index query (~3 ms where it is common): a pasted paragraph stays quick
LONGEST_WORD = 64     # a longer word is looked for by its start


def search_words(query: str) -> tuple[list[str], list[str]]:
    """The distinct words searched for, and those left out (past MAX_WORDS); unprintable
    characters count as spaces."""
    text = "".join(c if c.isprintable() else " " for c in query[:SEARCH_CHARS])
    words = list(dict.fromkeys(w[:LONGEST_WORD] for w in text.split()))
    return words[:MAX_WORDS], words[MAX_WORDS:]
