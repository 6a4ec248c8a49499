"""Read an import file (our JSON export, or ChatGPT's conversations.json) into checked trees, or say what is wrong."""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import StoreError

MAX_BYTES = 128 * 2**20       # checked before reading: a bigger file is refused, not loaded into memory
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OUR_ROLES = ("user", "assistant", "tool", "notice")
# A render or reply that was running when the file was written cannot continue here.
_LIVE_STATUS = {"streaming": "stopped", "queued": "cancelled", "rendering": "cancelled"}
_STATUSES = ("done", "stopped", "error", "cancelled")


@dataclass
class InMessage:
    key: str
    parent: str | None
    role: str
    content: str
    created: float
    kind: str = "text"
    status: str = "done"
    meta: dict = field(default_factory=dict)
    png: bytes | None = None
    pictures: list = field(default_factory=list)   # a user message's: (entry, bytes, suffix) each (user_pictures)


@dataclass
class InConversation:
    source: str              # "chatapp" or "chatgpt": with key, what makes an import happen once
    key: str
    title: str
    created: float
    updated: float
    system_prompt: str | None
    current: str | None      # key of the message shown last; None: the newest leaf
    messages: list[InMessage]
    tools_off: bool = False  # the chat's tools switch was off


class BadFile(StoreError):
    pass


class _Damaged(BadFile):
    """One conversation that cannot be read; the others in the file still can."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}. Nothing was imported.")
        self.where, self.reason = where, reason


@dataclass
class ReadFile:
    """What an import file holds: the conversations that could be read, and why the others could not."""
    conversations: list[InConversation]
    damaged: list[str] = field(default_factory=list)   # 'conversation 2 ("Title"): why', one per conversation left out


def read_file(path: Path) -> ReadFile:
    """Every conversation in the file, checked; a damaged one is left out and named, and BadFile (nothing
    imported) when the file itself is broken or foreign, or holds no conversation that can be read."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise BadFile(f"{path.name} is not a file. Nothing was imported.")
        if size > MAX_BYTES:
            raise BadFile(f"{path.name} is {size / 2**20:.0f} MB; chatapp imports files up to "
                          f"{MAX_BYTES // 2**20} MB. Nothing was imported.")
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)   # never more, even if the file grew since stat
    except OSError as exc:
        raise BadFile(f"Could not read {path.name}: {exc.strerror or exc}. Nothing was imported.") from exc
    if len(raw) > MAX_BYTES:
        raise BadFile(f"{path.name} is over {MAX_BYTES // 2**20} MB. Nothing was imported.")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise BadFile(f"{path.name} is not a text file (bad UTF-8 at byte {exc.start}). Nothing was imported.") from exc
    except RecursionError:
        raise BadFile(f"{path.name} is nested too deeply to be a chat export. Nothing was imported.") from None
    except json.JSONDecodeError as exc:
        raise BadFile(f"{path.name} is not valid JSON (it may be cut short): {exc.msg} at line {exc.lineno}, "
                      f"column {exc.colno}. Nothing was imported.") from exc
    return parse(doc, path.name)


def parse(doc, name: str = "the file") -> ReadFile:
    try:
        reader, items = _conversations(doc, name)
    except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as exc:
        raise _unexpected(name, exc) from exc
    result = ReadFile([])
    for n, item in enumerate(items, 1):
        try:
            result.conversations.append(reader(item, n, name))
        except _Damaged as exc:
            result.damaged.append(f"{exc.where.removeprefix(name + ', ')}: {exc.reason}")
        except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as exc:
            # A field of an unexpected type somewhere the checks did not look: that conversation is left out.
            result.damaged.append(f"conversation {n} ({_title(item)!r}): it has an unexpected shape "
                                  f"({type(exc).__name__}: {str(exc)[:80]})")
    if result.damaged and not result.conversations:
        shown = "; ".join(result.damaged[:3]) + (f"; and {len(result.damaged) - 3} more" if len(result.damaged) > 3 else "")
        raise BadFile(f"{name}: no conversation in it could be read ({shown}). Nothing was imported.")
    return result


def _unexpected(name: str, exc: Exception) -> BadFile:
    return BadFile(f"{name} has an unexpected shape ({type(exc).__name__}: {str(exc)[:80]}). Nothing was imported.")


def _title(item) -> str:
    title = item.get("title") if isinstance(item, dict) else None
    return title[:40] if isinstance(title, str) else "untitled"


def _conversations(doc, name: str):
    """(the reader for one conversation, the conversations) of a file, or BadFile for a foreign one."""
    if isinstance(doc, dict) and "format" in doc:
        if doc["format"] != "chatapp":
            raise BadFile(f"{name} is a {str(doc['format'])[:40]!r} file, not a chatapp export. Nothing was imported.")
        return _our_conversation, _ours(doc, name)
    if isinstance(doc, dict) and "mapping" in doc:
        doc = [doc]
    # ChatGPT's list: one entry without a mapping is a damaged conversation, not a foreign file.
    if isinstance(doc, list) and any(isinstance(c, dict) and "mapping" in c for c in doc):
        from .chatgpt import read_conversation   # here: chatgpt.py builds on this module's records and checks
        return read_conversation, doc
    raise BadFile(f"{name} is neither a chatapp export nor a ChatGPT conversations.json. Nothing was imported.")


class _Where:
    """Builds 'in conversation 2 ("Title"), message 7: ...' messages."""

    def __init__(self, name: str, n: int, title: str):
        self.prefix = f"{name}, conversation {n} ({title[:40]!r})"

    def fail(self, text: str, message=None) -> BadFile:
        where = self.prefix if message is None else f"{self.prefix}, message {str(message)[:40]}"
        return _Damaged(where, text)


def _number(value, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _png(value, where: _Where, key) -> bytes:
    if not isinstance(value, str):
        raise where.fail("the picture is not base64 text", key)
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise where.fail("the picture is not valid base64", key) from None
    if not data.startswith(PNG_SIGNATURE):
        raise where.fail("the picture is not a PNG", key)
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()   # the chunks' checksums, without decoding the pixels
    except Exception:
        raise where.fail("the picture is a damaged PNG", key) from None
    return data


def _user_pictures(m: dict, meta: dict, where: _Where, key) -> tuple[list, dict]:
    """A message's pictures carried in the file, and its meta without the paths of the machine it came from; a
    picture the meta names but the file does not carry (its file was gone at export) is said, not hidden."""
    from .user_pictures import BadPicture, parse
    try:
        pictures = parse(m.get("pictures"))
    except BadPicture as exc:
        raise where.fail(str(exc), key) from None
    named = meta.get("pictures")
    if named is None:
        return pictures, meta
    meta = {k: v for k, v in meta.items() if k != "pictures"}
    missing = len(named) - len(pictures) if isinstance(named, list) else 0
    if missing > 0:
        meta["pictures_not_included"] = missing
    return pictures, meta


def _ours(doc: dict, name: str) -> list:
    version = doc.get("version")
    if not isinstance(version, int) or version < 1:
        raise BadFile(f"{name} has no valid format version. Nothing was imported.")
    if version > 1:
        raise BadFile(f"{name} was written by a newer chatapp (format version {version}); update the app to import it. Nothing was imported.")
    convs = doc.get("conversations", [doc["conversation"]] if "conversation" in doc else None)
    if not isinstance(convs, list):
        raise BadFile(f"{name} has no list of conversations. Nothing was imported.")
    return convs


def _our_conversation(c, n: int, name: str) -> InConversation:
    if not isinstance(c, dict):
        raise _Damaged(f"{name}, conversation {n}", "not a JSON object")
    title = c.get("title") if isinstance(c.get("title"), str) and c.get("title").strip() else "Imported chat"
    where = _Where(name, n, title)
    created = _number(c.get("created"), time.time())
    prompt = c.get("system_prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise where.fail("system_prompt is not text")
    tools_off = c.get("tools_off", False)
    if not isinstance(tools_off, bool):
        raise where.fail("tools_off is not true or false")
    raw = c.get("messages")
    if not isinstance(raw, list):
        raise where.fail("it has no list of messages")
    messages, seen = [], set()
    for m in raw:
        if not isinstance(m, dict) or not isinstance(m.get("id"), (int, str)) or isinstance(m.get("id"), bool):
            raise where.fail("a message has no id")
        key = str(m["id"])
        if key in seen:
            raise where.fail("this id is used twice", key)
        seen.add(key)
        role = m.get("role")
        if role not in OUR_ROLES:
            raise where.fail(f"unknown role {str(role)[:30]!r} (expected user, assistant or tool)", key)
        if not isinstance(m.get("content"), str):
            raise where.fail("its content is not text", key)
        parent = m.get("parent")
        if parent is not None and (not isinstance(parent, (int, str)) or isinstance(parent, bool)):
            raise where.fail("its parent is not an id", key)
        image = m.get("image")
        if image is not None and not isinstance(image, dict):
            raise where.fail("its image is not an object", key)
        png = _png(image.get("png_base64"), where, key) if image else None
        meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
        pictures, meta = _user_pictures(m, meta, where, key)
        if image and image.get("parameters") and not meta.get("parameters"):
            meta = {**meta, "parameters": str(image["parameters"])}
        kind = "image" if png is not None or m.get("kind") == "image" else "tool" if role == "tool" else "text"
        status = _LIVE_STATUS.get(m.get("status"), m.get("status"))
        if kind == "tool" and (meta.get("state") in ("asking", "running") or m.get("status") == "streaming"):
            # a call that was running when the file was written cannot go on here
            meta, status = {**meta, "state": "cancelled"}, "cancelled"
        messages.append(InMessage(key, None if parent is None else str(parent), role, m["content"],
                                  _number(m.get("created"), created), kind,
                                  status if status in _STATUSES else "done", meta, png, pictures))
    _check_tree(messages, where)
    current = None if c.get("current") is None else str(c["current"])
    if current is not None and current not in seen:
        raise where.fail(f"the message shown ({current[:40]}) is not in it")
    origin = c.get("origin") if isinstance(c.get("origin"), dict) else {}
    source, key = str(origin.get("source") or "chatapp"), origin.get("key")
    if not key:   # an export without an origin: its content is what makes it the same file
        key = "sha1:" + hashlib.sha1(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()
    return InConversation(source, str(key), title, created, _number(c.get("updated"), created), prompt,
                          current, messages, tools_off)


def _check_tree(messages: list[InMessage], where: _Where) -> None:
    """Every parent exists and following parents always ends at a root (no cycle)."""
    parent = {m.key: m.parent for m in messages}
    for m in messages:
        if m.parent is not None and m.parent not in parent:
            raise where.fail(f"its parent {m.parent[:40]} is not in the conversation", m.key)
    done: set[str] = set()
    for m in messages:
        path, node = set(), m.key
        while node is not None and node not in done:
            if node in path:
                raise where.fail("the messages' parents form a cycle", node)
            path.add(node)
            node = parent[node]
        done |= path


def _fill_times(kept: dict[str, InMessage], created: float) -> None:
    """Messages without a time take their parent's, so children never sort before their parents."""
    for m in kept.values():
        if not m.created:
            node, chain = m, []
            while node is not None and not node.created:
                chain.append(node)
                node = kept.get(node.parent) if node.parent else None
            for x in chain:
                x.created = node.created if node is not None else created
