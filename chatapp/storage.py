"""SQLite storage: conversations and messages, WAL, migrations by PRAGMA user_version."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from .conversation import Conversation, Message
from .documents.schema import MIGRATION as DOCUMENTS_MIGRATION

# Append-only: each entry moves the schema one version up. Never edit a released step.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused: late signals cannot hit a newer row
        title TEXT NOT NULL,
        system_prompt TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'text',
        content TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'done',
        image_path TEXT,
        meta TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    """,
    # 2: full-text search over message text, kept in step by triggers.
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id');
    INSERT INTO messages_fts(rowid, content) SELECT id, content FROM messages;
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    """,
    DOCUMENTS_MIGRATION,  # attached files, library, chunks + FTS5 (chatapp/documents/schema.py)
]


def clean_text(text: str) -> str:
    """Text SQLite can store: lone surrogates (from broken UTF-8 or a bad paste) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


class StorageError(Exception):
    """A storage problem the user can act on (locked, read-only, corrupt, disk full)."""


class CorruptDatabase(StorageError):
    pass


def _explain(exc: sqlite3.Error) -> StorageError:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StorageError("The database is locked by another program. Close other copies of chatapp and try again.")
    if "readonly" in text or "read-only" in text:
        return StorageError("The data folder is read-only, so nothing new can be saved.")
    if "full" in text:
        return StorageError("The disk is full, so this could not be saved. Free some space and try again.")
    if "malformed" in text or "not a database" in text:
        return CorruptDatabase("The database file is damaged.")
    return StorageError(f"Could not save: {exc}")


class Storage:
    """All reads and writes of conversations; one connection, used on the GUI thread."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys=ON")
            if self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                pass  # read-only media cannot switch to WAL; reads still work
            # NORMAL in WAL mode survives an application crash (kill -9); FULL only adds power-loss safety.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            raise _explain(exc) from exc

    # --- schema -------------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StorageError("This database was written by a newer chatapp; update the app to open it.")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise _explain(exc) from exc

    def close(self) -> None:
        self._db.close()

    def integrity_ok(self) -> bool:
        return self._run("PRAGMA integrity_check").fetchone()[0] == "ok"

    # --- conversations ------------------------------------------------------------------------
    def create_conversation(self, title: str = "New chat", system_prompt: str | None = None) -> Conversation:
        now = time.time()
        title = clean_text(title)
        cur = self._run("INSERT INTO conversations(title, system_prompt, created_at, updated_at) VALUES (?,?,?,?)",
                        (title, system_prompt, now, now))
        return Conversation(cur.lastrowid, title, system_prompt, now, now)

    def conversations(self) -> list[Conversation]:
        """Every conversation, the most recently active first."""
        rows = self._run("SELECT * FROM conversations ORDER BY updated_at DESC, id DESC").fetchall()
        return [self._to_conversation(r) for r in rows]

    def search_conversations(self, query: str) -> list[Conversation]:
        """Conversations whose title or any message matches every word of query (as a prefix)."""
        words = query.split()
        if not words:
            return self.conversations()
        # Each word quoted: user text is never FTS5 syntax (no column filters, NEAR, etc.).
        match = " ".join('"' + w.replace('"', '""') + '"*' for w in words)
        title_like = [f"%{w}%" for w in words]
        rows = self._run(
            "SELECT * FROM conversations WHERE id IN (SELECT m.conversation_id FROM messages_fts "
            "JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH ?) "
            f"OR ({' AND '.join('title LIKE ?' for _ in words)}) ORDER BY updated_at DESC, id DESC",
            (match, *title_like)).fetchall()
        return [self._to_conversation(r) for r in rows]

    def conversation(self, conversation_id: int) -> Conversation | None:
        r = self._run("SELECT * FROM conversations WHERE id=?", (conversation_id,)).fetchone()
        return self._to_conversation(r) if r else None

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self._run("UPDATE conversations SET title=? WHERE id=?", (clean_text(title), conversation_id))

    def set_system_prompt(self, conversation_id: int, prompt: str | None) -> None:
        self._run("UPDATE conversations SET system_prompt=? WHERE id=?", (prompt, conversation_id))

    def delete_conversation(self, conversation_id: int) -> list[str]:
        """Delete a conversation; returns the image paths it owned so the caller can remove them."""
        paths = [r[0] for r in self._run(
            "SELECT image_path FROM messages WHERE conversation_id=? AND image_path IS NOT NULL",
            (conversation_id,))]
        self._run("DELETE FROM conversations WHERE id=?", (conversation_id,))
        return paths

    def touch(self, conversation_id: int) -> None:
        self._run("UPDATE conversations SET updated_at=? WHERE id=?", (time.time(), conversation_id))

    # --- messages -----------------------------------------------------------------------------
    def add_message(self, conversation_id: int, role: str, content: str, *, kind: str = "text",
                    status: str = "done", image_path: str | None = None, meta: dict | None = None) -> Message:
        now = time.time()
        meta = meta or {}
        try:
            with self._db:
                cur = self._db.execute(
                    "INSERT INTO messages(conversation_id, role, kind, content, status, image_path, meta, created_at)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (conversation_id, role, kind, clean_text(content), status, image_path, json.dumps(meta), now))
                self._db.execute("UPDATE conversations SET updated_at=? WHERE id=?", (now, conversation_id))
        except sqlite3.Error as exc:
            raise _explain(exc) from exc
        return Message(cur.lastrowid, conversation_id, role, content, kind, status, image_path, meta, now)

    def update_message(self, message_id: int, *, content: str | None = None, status: str | None = None,
                       image_path: str | None = None, meta: dict | None = None) -> None:
        sets, args = [], []
        content = None if content is None else clean_text(content)
        for column, value in (("content", content), ("status", status), ("image_path", image_path),
                              ("meta", None if meta is None else json.dumps(meta))):
            if value is not None:
                sets.append(f"{column}=?")
                args.append(value)
        if sets:
            self._run(f"UPDATE messages SET {', '.join(sets)} WHERE id=?", (*args, message_id))

    def delete_message(self, message_id: int) -> None:
        self._run("DELETE FROM messages WHERE id=?", (message_id,))

    def message(self, message_id: int) -> Message | None:
        r = self._run("SELECT * FROM messages WHERE id=?", (message_id,)).fetchone()
        return self._to_message(r) if r else None

    def messages(self, conversation_id: int, *, limit: int | None = None, before_id: int | None = None) -> list[Message]:
        """Messages in order; with limit, only the newest `limit` (before `before_id`)."""
        where, args = "conversation_id=?", [conversation_id]
        if before_id is not None:
            where += " AND id<?"
            args.append(before_id)
        if limit is None:
            rows = self._run(f"SELECT * FROM messages WHERE {where} ORDER BY id", tuple(args)).fetchall()
        else:
            rows = self._run(f"SELECT * FROM messages WHERE {where} ORDER BY id DESC LIMIT ?",
                             (*args, limit)).fetchall()[::-1]
        return [self._to_message(r) for r in rows]

    def count_messages(self, conversation_id: int) -> int:
        return self._run("SELECT COUNT(*) FROM messages WHERE conversation_id=?", (conversation_id,)).fetchone()[0]

    def mark_interrupted(self) -> int:
        """After a crash: replies left 'streaming' become 'stopped', renders left running become 'cancelled'."""
        n = self._run("UPDATE messages SET status='stopped' WHERE status='streaming'").rowcount
        n += self._run("UPDATE messages SET status='cancelled' WHERE status IN ('rendering','queued')").rowcount
        return n

    @staticmethod
    def _to_conversation(r: sqlite3.Row) -> Conversation:
        return Conversation(r["id"], r["title"], r["system_prompt"], r["created_at"], r["updated_at"])

    @staticmethod
    def _to_message(r: sqlite3.Row) -> Message:
        try:
            meta = json.loads(r["meta"] or "{}")
        except ValueError:
            meta = {}
        return Message(r["id"], r["conversation_id"], r["role"], r["content"], r["kind"], r["status"],
                       r["image_path"], meta, r["created_at"])
