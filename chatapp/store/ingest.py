"""Write checked imports into the database in one transaction; pictures become files first and go again on failure."""
from __future__ import annotations

import heapq
import time
from pathlib import Path

from ..recipes.png import write_atomically
from ..storage import StorageError, clean_text
from . import StoreError, Summary, user_pictures
from .importers import InConversation, InMessage, ReadFile, read_file


def _already(storage, conv: InConversation) -> bool:
    if storage.imported_as(conv.source, conv.key) is not None:
        return True
    if conv.source == "chatapp":
        # Our own export coming back into the database it came from: the conversation is still here.
        cid, _, created = conv.key.partition("@")
        if cid.isdigit():
            here = storage.conversation(int(cid))
            return here is not None and repr(here.created_at) == created
    return False


def _new_turns(storage, conv: InConversation) -> tuple[int, dict[str, int], list[InMessage]] | None:
    """A ChatGPT conversation imported before, from a later export: (its id here, its messages here by
    ChatGPT id, the messages not here yet). None when it was not imported before or nothing is new."""
    cid = storage.imported_as(conv.source, conv.key) if conv.source == "chatgpt" else None
    if cid is None:
        return None
    here = {str(m.meta["chatgpt_id"]): m.id for m in storage.messages(cid) if m.meta.get("chatgpt_id")}
    # Only what hangs under a message here (or under another new one) is added: a turn whose parent
    # was deleted here has nowhere to go, and stays out with everything under it.
    new = _in_order([m for m in conv.messages if m.key not in here], set(here))
    return (cid, here, new) if new else None


def _in_order(messages: list[InMessage], present: set[str] = frozenset()) -> list[InMessage]:
    """Parents before children, otherwise oldest first: new ids then grow down every branch,
    which the app relies on (the newest message under a fork is a leaf). `present`: keys already
    in the database, under which new messages may hang."""
    children: dict[str | None, list[tuple]] = {}
    for n, m in enumerate(messages):
        children.setdefault(None if m.parent in present else m.parent, []).append((m.created, n, m))
    ready = list(children.get(None, []))
    heapq.heapify(ready)
    out = []
    while ready:
        _, _, m = heapq.heappop(ready)
        out.append(m)
        for item in children.get(m.key, []):
            heapq.heappush(ready, item)
    return out


def _write_png(data: bytes, folder: Path) -> Path:
    """Write-then-rename, like recipes.png.save_png: a crash leaves no half picture."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 0
    while (path := folder / f"{stamp}-import-{n}.png").exists():
        n += 1
    return write_atomically(path, data)


class _Files:
    """What an import writes before its transaction: drawn pictures' files (by id of their InMessage), user pictures
    staged (moved into their chat's folder once its id is known: `moved`), removed again if the import fails."""

    def __init__(self, images: Path):
        self.images, self.pictures = images, {}
        self.staged: dict[int, list[tuple[dict, Path]]] = {}
        self.moved: list[Path] = []

    def write(self, conv: InConversation) -> None:
        for m in conv.messages:
            if m.png is not None:
                self.pictures[id(m)] = _write_png(m.png, self.images)
            if m.pictures:
                self.staged[id(m)] = user_pictures.stage(m.pictures, self.images / "user" / "importing")

    def meta(self, m: InMessage, cid: int) -> dict:
        staged = self.staged.pop(id(m), None)
        if not staged:
            return m.meta
        return {**m.meta, "pictures": user_pictures.move_into(staged, self.images / "user" / str(cid), self.moved)}

    def drop(self, conv: InConversation) -> list[Path]:
        """A conversation not written after all: its files, to remove."""
        return [self.pictures.pop(id(m)) for m in conv.messages if id(m) in self.pictures] + \
            [path for m in conv.messages for _, path in self.staged.pop(id(m), [])]

    def all(self) -> list[Path]:
        return [*self.pictures.values(), *(path for staged in self.staged.values() for _, path in staged), *self.moved]


def _insert(bulk, conv: InConversation, files: _Files) -> int:
    cid = bulk.add_conversation(conv.title, conv.system_prompt, conv.created, max(conv.updated, conv.created),
                                conv.tools_off)
    ids = _insert_messages(bulk, cid, conv.messages, {}, files)
    leaf = ids.get(conv.current) if conv.current is not None else None
    if leaf is None and ids:
        leaf = max(ids.values())
    bulk.set_leaf(cid, leaf)
    bulk.record_import(conv.source, conv.key, cid)
    return cid


def _add_turns(storage, bulk, conv: InConversation, cid: int, here: dict[str, int], new: list[InMessage]) -> None:
    """New turns of a conversation imported before hang under the messages already here. The shown branch
    moves to the export's only while the chat still shows an imported message (not one added here since)."""
    ids = _insert_messages(bulk, cid, new, here, None)
    leaf = ids.get(conv.current) if conv.current is not None else None
    shown = storage.conversation(cid)
    shows_imported = shown.current_leaf is None or shown.current_leaf in here.values()
    bulk.set_leaf(cid, leaf if leaf is not None and shows_imported else shown.current_leaf,
                  max(shown.updated_at, conv.updated))


def _insert_messages(bulk, cid: int, messages: list[InMessage], ids: dict[str, int],
                     files: _Files | None) -> dict[str, int]:
    """Rows for messages (parents first); ids maps keys already in the database. Returns the new keys' ids."""
    ids, added, naming = dict(ids), {}, []
    for m in _in_order(messages, set(ids)):
        path = files.pictures.get(id(m)) if files else None
        meta = files.meta(m, cid) if files else m.meta
        ids[m.key] = added[m.key] = bulk.add_message(
            cid, m.role, m.content, kind=m.kind, status=m.status, image_path=str(path) if path else None,
            meta=meta, created=m.created, parent_id=ids[m.parent] if m.parent is not None else None)
        if any(field in meta for field in _ID_FIELDS):
            naming.append((ids[m.key], meta))
    for message_id, meta in naming:   # a card names pictures added after it: once all have their ids
        bulk.set_meta(message_id, _remapped(meta, ids))
    return added


# Meta fields that hold ids of messages of the same chat (the exporting database's): a tool card's pictures
# (message_ids), the pictures a look showed (shown), the picture an edit started from (source_id).
_ID_FIELDS = ("message_ids", "shown", "source_id")


def _remapped(meta: dict, ids: dict[str, int]) -> dict:
    """Meta with its message ids as this database gave them; ids outside the imported chat are left out."""
    out = dict(meta)
    for field in _ID_FIELDS:
        value = out.pop(field, None)
        if isinstance(value, list):
            value = [ids[str(v)] for v in value if str(v) in ids]
        elif value is not None:
            value = ids.get(str(value))
        if value not in (None, []):
            out[field] = value
    return out


def import_conversations(storage, read: ReadFile, images: Path) -> Summary:
    """All of the file's readable conversations or nothing; those imported before are skipped, or get
    the turns a later ChatGPT export added to them."""
    summary = Summary(damaged=list(read.damaged))
    todo, again, keys = [], [], set()
    for conv in read.conversations:
        # Lone surrogates (legal in JSON, not in SQLite's UTF-8) become U+FFFD, as the app does.
        conv.title, conv.source, conv.key = clean_text(conv.title), clean_text(conv.source), clean_text(conv.key)
        conv.system_prompt = None if conv.system_prompt is None else clean_text(conv.system_prompt)
        for m in conv.messages:
            m.content = clean_text(m.content)
        if (conv.source, conv.key) in keys:
            summary.skipped += 1
            continue
        keys.add((conv.source, conv.key))
        # Imported before: a later export may hold new turns (looked at inside the transaction).
        (again if _already(storage, conv) else todo).append(conv)
    files = _Files(images)
    late: list[Path] = []    # pictures of conversations another import added first
    try:
        # Pictures first, outside the transaction, so the database is locked only for the inserts.
        for conv in todo:
            files.write(conv)
        with storage.bulk_import() as bulk:
            for conv in todo:
                if _already(storage, conv):   # another import finished meanwhile
                    again.append(conv)
                    late.extend(files.drop(conv))
                    continue
                _insert(bulk, conv, files)
                summary.conversations += 1
                summary.messages += len(conv.messages)
                summary.pictures += sum((m.png is not None) + len(m.pictures) for m in conv.messages)
            for conv in again:
                turns = _new_turns(storage, conv)
                if turns is None:
                    summary.skipped += 1
                    continue
                _add_turns(storage, bulk, conv, *turns)
                summary.updated += 1
                summary.messages += len(turns[2])
    except BaseException as exc:
        for path in [*files.all(), *late]:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StoreError(f"Could not write the pictures to {images}: {exc.strerror or exc}. "
                             "Nothing was imported.") from exc
        if isinstance(exc, (StoreError, StorageError)):   # e.g. the disk filled up, or the app held the lock
            raise StoreError(f"{exc} Nothing was imported.") from exc
        raise
    for path in late:
        path.unlink(missing_ok=True)
    return summary


def import_file(storage, path: Path, images: Path) -> Summary:
    """Read, check and import a file: our JSON export or ChatGPT's conversations.json."""
    return import_conversations(storage, read_file(path), images)
