"""ChatGPT's conversations.json: one conversation's tree as chatapp messages, its citations made readable."""
from __future__ import annotations

import hashlib
import json
import re
import time

from .importers import InConversation, InMessage, _check_tree, _fill_times, _number, _Where

SKIPPED_ROLES = ("system",)              # not part of the conversation a person saw
# ChatGPT's own tools' messages (role "tool": browsing results, code output) are not what a person saw either:
# the reply that used them is kept, its citations made links. A tool message that showed pictures (DALL-E's)
# becomes an assistant message saying how many the export left out, never silently nothing.
# Web-search replies mark citations with private-use characters: U+E200 opens an entity, U+E202
# separates its fields, U+E201 closes it ("\ue200cite\ue202turn0search3\ue201"). Anywhere else they
# show as boxes and break every code fence after them. Bounded and without nesting: linear time.
_ENTITY = re.compile(" ?\ue200[^\ue200\ue201]{0,400}\ue201")
_PRIVATE_USE = re.compile("[\ue200-\ue2ff]")
# Older browsing replies: 【3:0†source】 or 【12†Title†host】.
_OLD_MARK = re.compile(r" ?【\d{1,4}(?::\d{1,4})?†[^【】\n]{0,300}】")
_STOPPED = ("interrupted", "max_tokens")  # finish_details of a reply that did not come to its end
MAX_REFERENCES = 1000                    # per message: a hostile file cannot make the import quadratic
MAX_THOUGHTS = 64                        # thinking nodes kept per reply (a reasoning model's, shown closed)


def read_conversation(c: dict, n: int, name: str) -> InConversation:
    """One entry of conversations.json, checked; a damaged one raises (the file's other entries still import)."""
    title = c.get("title") if isinstance(c.get("title"), str) and c.get("title").strip() else "ChatGPT chat"
    where = _Where(name, n, title)
    mapping = c.get("mapping")
    if not isinstance(mapping, dict):
        raise where.fail("it has no messages (no mapping)" if mapping is None else "its mapping is not an object")
    created = _number(c.get("create_time"), time.time())
    nodes = []
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise where.fail("a node is not an object", key)
        parent = node.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise where.fail("its parent is not an id", key)
        nodes.append(InMessage(str(key), parent, "", "", created))
    _check_tree(nodes, where)
    parent_of = {m.key: m.parent for m in nodes}
    kept: dict[str, InMessage] = {}
    thinking = ThinkingNodes()
    for m in nodes:
        msg = mapping[m.key].get("message")
        if not isinstance(msg, dict):
            continue   # the empty root node
        role = (msg.get("author") or {}).get("role")
        if role in SKIPPED_ROLES:
            continue
        if role not in ("user", "assistant", "tool"):
            raise where.fail(f"unknown role {str(role)[:30]!r}", m.key)
        meta = msg.get("metadata") or {}
        if role == "assistant" and thinking.read(m.key, msg):
            continue
        if meta.get("is_visually_hidden_from_conversation") or msg.get("recipient") not in (None, "all"):
            continue
        text, pictures = message_text(msg)
        tool = (msg.get("author") or {}).get("name") if role == "tool" else None
        if role == "tool":
            text, role = "", "assistant"   # its text is addressed to the model ("the images are visible...")
        if not text and not pictures:
            continue
        model = meta.get("model_slug")
        finish = (meta.get("finish_details") or {}).get("type") if isinstance(meta.get("finish_details"), dict) else None
        kept[m.key] = InMessage(
            m.key, None, role, text, _number(msg.get("create_time"), 0.0),
            status="stopped" if role == "assistant" and finish in _STOPPED else "done",
            meta={"chatgpt_id": m.key, **({"model": model} if model else {}),
                  **({"chatgpt_tool": tool} if isinstance(tool, str) else {}),
                  **({"pictures_not_included": pictures} if pictures else {})})

    def kept_ancestor(key):
        while key is not None and key not in kept:
            key = parent_of.get(key)
        return key
    for m in kept.values():
        m.parent = kept_ancestor(parent_of[m.key])   # hidden nodes drop out; their children move up
        if m.role == "assistant":   # the thinking shown closed above the reply in ChatGPT
            m.meta.update(thinking.above(parent_of[m.key], parent_of, kept))
    _fill_times(kept, created)
    current = c.get("current_node")
    current = kept_ancestor(current) if isinstance(current, str) and current in parent_of else None
    key = c.get("conversation_id") or c.get("id") or \
        "sha1:" + hashlib.sha1(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()
    return InConversation("chatgpt", str(key), title, created, _number(c.get("update_time"), created), None,
                          current, list(kept.values()))


class ThinkingNodes:
    """A reasoning model's thinking in an export: "thoughts" nodes (summaries and text) and a "reasoning_recap"
    ("Thought for 45s", with metadata.finished_duration_sec) between a question and the reply they led to."""

    def __init__(self):
        self.texts: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self._memo: dict[str, tuple[tuple[str, ...], float | None]] = {}

    def read(self, key: str, message: dict) -> bool:
        """Take in a thinking node; False for any other message."""
        content = message.get("content") if isinstance(message.get("content"), dict) else {}
        kind = content.get("content_type")
        if kind == "thoughts":
            parts = []
            for t in content.get("thoughts") or []:
                if isinstance(t, dict):
                    summary, text = t.get("summary"), t.get("content")
                    head = f"**{summary.strip()}**" if isinstance(summary, str) and summary.strip() else ""
                    parts.append("\n".join(p for p in (head, text if isinstance(text, str) else "") if p))
            self.texts[key] = "\n\n".join(p for p in parts if p)
            return True
        if kind == "reasoning_recap":
            seconds = (message.get("metadata") or {}).get("finished_duration_sec")
            if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
                self.seconds[key] = float(seconds)
            return True
        return False

    def above(self, key, parent_of: dict, kept: dict) -> dict:
        """meta for a reply: the thinking of the nodes between it and the message it follows (memoized, so
        many replies under one long hidden chain stay linear)."""
        path = []
        while key is not None and key not in kept and key not in self._memo:
            path.append(key)
            key = parent_of.get(key)
        texts, seconds = self._memo.get(key, ((), None)) if key is not None and key not in kept else ((), None)
        for k in reversed(path):
            if self.texts.get(k) and len(texts) < MAX_THOUGHTS:
                texts = (*texts, self.texts[k])
            seconds = seconds if seconds is not None else self.seconds.get(k)
            self._memo[k] = (texts, seconds)
        if not texts:
            return {}
        return {"reasoning": "\n\n".join(texts), **({"thought_s": seconds} if seconds is not None else {})}


def message_text(message: dict) -> tuple[str, int]:
    """(the text the conversation showed, how many pictures the export only points to)."""
    content = message.get("content") or {}
    kind = content.get("content_type")
    if kind == "code":
        lang = content.get("language") if content.get("language") not in (None, "unknown") else ""
        return (f"```{lang}\n{content.get('text', '')}\n```" if content.get("text") else ""), 0
    if kind not in ("text", "multimodal_text"):
        return "", 0   # tool output, browsing, hidden reasoning: not what the conversation showed
    out, pictures = [], 0
    for part in content.get("parts") or []:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and "asset_pointer" in str(part.get("content_type", "")):
            pictures += 1   # the file is not in conversations.json: the bubble says so, the text stays clean
    text = "\n\n".join(p for p in out if p).strip()
    return readable_citations(text, message.get("metadata") or {}), pictures


def readable_citations(text: str, meta: dict) -> str:
    """Citation markers replaced by links to their sources where the export names them, else removed."""
    # Older exports: positions into the text. From the end, so earlier positions stay valid.
    cites = [c for c in (meta.get("citations") or [])[:MAX_REFERENCES]
             if isinstance(c, dict) and isinstance(c.get("start_ix"), int) and isinstance(c.get("end_ix"), int)]
    for c in sorted(cites, key=lambda c: c["start_ix"], reverse=True):
        start, end = c["start_ix"], c["end_ix"]
        if 0 <= start < end <= len(text) and _OLD_MARK.fullmatch(text[start:end]):
            source = c.get("metadata") if isinstance(c.get("metadata"), dict) else {}
            start -= text[start - 1:start] == " "     # the link brings its own space
            text = text[:start] + _link(source.get("title"), source.get("url")) + text[end:]
    # Newer exports: each reference names the exact text it stands for.
    for ref in (meta.get("content_references") or [])[:MAX_REFERENCES]:
        matched = ref.get("matched_text") if isinstance(ref, dict) else None
        if isinstance(matched, str) and matched.strip() and matched in text:
            link = _reference(ref)   # brings its own space, so the one before the marker goes
            text = text.replace(" " + matched, link).replace(matched, link)
    # Markers the export does not explain are dropped rather than shown as boxes or raw brackets.
    return _PRIVATE_USE.sub("", _ENTITY.sub("", _OLD_MARK.sub("", text)))


def _reference(ref: dict) -> str:
    """The sources a content reference names (its items, or the reference itself), as links; '' for none
    (a "hidden" reference, an attribution span's end mark)."""
    items = [i for i in ref.get("items") or [] if isinstance(i, dict)] or [ref]
    return "".join(_link(i.get("title") or i.get("attribution"), i.get("url")) for i in items[:3])


def _link(title, url) -> str:
    """' [title](url)' for a web source, '' for anything else (a file: or javascript: link is not kept)."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2000:
        return ""
    label = " ".join(str(title or "").replace("[", "(").replace("]", ")").split())[:80]
    label = label or url.split("/")[2]
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f" [{label}]({target})"
