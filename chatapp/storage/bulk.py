"""Rows written as an import gives them (their own times, parents, leaf), inside one Storage transaction."""
from __future__ import annotations

import json
import sqlite3

from .errors import guarded


@guarded
class BulkImport:
    """What Storage.bulk_import() hands out: the writes of an import, all of them or none. Reads go
    through Storage's own methods, which see these rows (one connection)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def add_conversation(self, title: str, system_prompt: str | None, created: float, updated: float,
                         tools_off: bool = False) -> int:
        return self._db.execute("INSERT INTO conversations(title, system_prompt, created_at, updated_at, tools_off) "
                                "VALUES (?,?,?,?,?)", (title, system_prompt, created, updated, int(tools_off))).lastrowid

    def add_message(self, conversation_id: int, role: str, content: str, *, kind: str, status: str,
                    image_path: str | None, meta: dict, created: float, parent_id: int | None) -> int:
        """A message as it was (its time, its parent); the conversation's leaf is set by set_leaf."""
        return self._db.execute(
            "INSERT INTO messages(conversation_id, role, kind, content, status, image_path, meta, created_at, parent_id)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (conversation_id, role, kind, content, status, image_path, json.dumps(meta), created, parent_id)).lastrowid

    def set_meta(self, message_id: int, meta: dict) -> None:
        """A message's meta once every message it names has its id here (an import's second pass)."""
        self._db.execute("UPDATE messages SET meta=? WHERE id=?", (json.dumps(meta), message_id))

    def set_leaf(self, conversation_id: int, leaf: int | None, updated: float | None = None) -> None:
        """The message the chat shows; with updated, its last-active time too."""
        self._db.execute("UPDATE conversations SET current_leaf=?, updated_at=COALESCE(?, updated_at) WHERE id=?",
                         (leaf, updated, conversation_id))

    def record_import(self, source: str, key: str, conversation_id: int) -> None:
        """Where the conversation came from, so the same file imports once (Storage.imported_as)."""
        self._db.execute("INSERT INTO imported(source, key, conversation_id) VALUES (?,?,?)",
                         (source, key, conversation_id))
