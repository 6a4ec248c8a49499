"""Write checked imports into the database in one transaction; pictures become files first and go again on failure."""
from __future__ import annotations

import heapq
import json
import os
import time
from pathlib import Path

from ..storage import StorageError, clean_text
from . import StoreError, Summary
from .importers import InConversation, InMessage, read_file


def _already(db, conv: InConversation) -> bool:
    if db.execute("SELECT 1 FROM imported WHERE source=? AND key=?", (conv.source, conv.key)).fetchone():
        return True
    if conv.source == "chatapp":
        # Our own export coming back into the database it came from: the conversation is still here.
        cid, _, created = conv.key.partition("@")
        if cid.isdigit():
            row = db.execute("SELECT created_at FROM conversations WHERE id=?", (int(cid),)).fetchone()
            return row is not None and repr(row[0]) == created
    return False


def _in_order(messages: list[InMessage]) -> list[InMessage]:
    """Parents before children, otherwise oldest first: new ids then grow down every branch,
    which the app relies on (the newest message under a fork is a leaf)."""
    children: dict[str | None, list[tuple]] = {}
    for n, m in enumerate(messages):
        children.setdefault(m.parent, []).append((m.created, n, m))
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
    """Write-then-rename, like png_recipe.save_png: a crash leaves no half picture."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 0
    while (path := folder / f"{stamp}-import-{n}.png").exists():
        n += 1
    tmp = path.with_suffix(".part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _insert(db, conv: InConversation, files: dict[int, Path]) -> int:
    cur = db.execute("INSERT INTO conversations(title, system_prompt, created_at, updated_at) VALUES (?,?,?,?)",
                     (conv.title, conv.system_prompt, conv.created, max(conv.updated, conv.created)))
    cid = cur.lastrowid
    ids: dict[str, int] = {}
    for m in _in_order(conv.messages):
        path = files.get(id(m))
        cur = db.execute(
            "INSERT INTO messages(conversation_id, role, kind, content, status, image_path, meta, created_at, parent_id)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (cid, m.role, m.kind, m.content, m.status, str(path) if path else None, json.dumps(m.meta), m.created,
             ids[m.parent] if m.parent is not None else None))
        ids[m.key] = cur.lastrowid
    leaf = ids.get(conv.current) if conv.current is not None else None
    if leaf is None and ids:
        leaf = max(ids.values())
    db.execute("UPDATE conversations SET current_leaf=? WHERE id=?", (leaf, cid))
    db.execute("INSERT INTO imported(source, key, conversation_id) VALUES (?,?,?)", (conv.source, conv.key, cid))
    return cid


def import_conversations(storage, convs: list[InConversation], images: Path) -> Summary:
    """All of convs or nothing; those imported before are skipped."""
    summary = Summary()
    db = storage._db   # store/ is the storage family: one transaction over many rows needs the connection
    todo, keys = [], set()
    for conv in convs:
        # Lone surrogates (legal in JSON, not in SQLite's UTF-8) become U+FFFD, as the app does.
        conv.title, conv.source, conv.key = clean_text(conv.title), clean_text(conv.source), clean_text(conv.key)
        conv.system_prompt = None if conv.system_prompt is None else clean_text(conv.system_prompt)
        if (conv.source, conv.key) in keys or _already(db, conv):
            summary.skipped += 1
            continue
        keys.add((conv.source, conv.key))
        for m in conv.messages:
            m.content = clean_text(m.content)
        todo.append(conv)
    files: dict[int, Path] = {}
    late: list[Path] = []    # pictures of conversations another import added first
    try:
        # Pictures first, outside the transaction, so the database is locked only for the inserts.
        for conv in todo:
            for m in conv.messages:
                if m.png is not None:
                    files[id(m)] = _write_png(m.png, images)
        with storage._transaction():
            for conv in todo:
                if _already(db, conv):   # another import finished meanwhile
                    summary.skipped += 1
                    late.extend(files.pop(id(m)) for m in conv.messages if id(m) in files)
                    continue
                _insert(db, conv, files)
                summary.conversations += 1
                summary.messages += len(conv.messages)
                summary.pictures += sum(1 for m in conv.messages if m.png is not None)
    except BaseException as exc:
        for path in [*files.values(), *late]:
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
