"""Chat templates that refuse a system message (Gemma 2's raises "System role not supported") or drop it unsaid:
the system prompt goes at the start of the first user message instead, as llama.cpp's own server does."""
from __future__ import annotations

PROBE = "chatapp-system-probe"


def takes_system(render) -> bool:
    """Whether the template shows a system message: render(messages, tools) -> its text (None: not a template)."""
    try:
        text = render([{"role": "system", "content": PROBE}, {"role": "user", "content": "hi"}], None)
    except Exception:   # the template's raise_exception(), as the engine words it
        return False
    return text is None or PROBE in text


def folded_system(messages: list[dict]) -> list[dict]:
    """The messages with a leading system message folded into the first user message (text first)."""
    if not messages or messages[0].get("role") != "system" or not isinstance(messages[0].get("content"), str):
        return messages
    system, rest = messages[0]["content"], list(messages[1:])
    at = next((i for i, m in enumerate(rest) if m.get("role") == "user"), None)
    if not system.strip():
        return rest
    if at is None:
        return [{"role": "user", "content": system}, *rest]
    content = rest[at].get("content")
    if isinstance(content, list):
        texts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
        first = texts[0]["text"] if texts else ""
        others = [p for p in content if p is not (texts[0] if texts else None)]
        content = [{"type": "text", "text": f"{system}\n\n{first}" if first else system}, *others]
    else:
        content = f"{system}\n\n{content}" if content else system
    rest[at] = {**rest[at], "content": content}
    return rest
