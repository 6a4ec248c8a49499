"""SQLite storage: conversations and messages, WAL, migrations by PRAGMA user_version."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
import unicodedata
from contextlib import contextmanager
from pathlib import Path

from ..conversation import Conversation, Message, search_words
# The error types are chatapp.storage's to callers: `from chatapp.storage import StorageError`.
from .bulk import BulkImport
from .errors import (DISK_FULL, ChatDeleted, CorruptDatabase, DiskFull, StorageError, guarded, known, known_errors,
                     transaction)
from .migrations import MIGRATIONS
from .tree import LEAF, TreeQueries


def clean_text(text: str) -> str:
    """Text SQLite can store: lone surrogates (from broken UTF-8 or a bad paste) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


VS16 = "\ufe0f"       # "show as emoji": "❤️" and "❤" are the same heart


def fold(text: str) -> str:
    """Text compared without case or accents, as the messages' FTS5 index (unicode61) does:
    "Ärger", "ärger" and "arger" are one word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace(VS16, "")


def _implied(words: list[str]) -> set[str]:
    """Words that another word of the query starts with: a chat with "apples" has "app" too, in its
    title and as a prefix in its messages; looking for those again costs a query each."""
    folded = sorted({fold(w) for w in words if w.isalnum()})
    return {a for a, b in zip(folded, folded[1:]) if b.startswith(a)}


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def not_a_file(path: Path) -> str | None:
    """What is wrong when the database (or its -wal / -shm companion) is something other than a file."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = os.stat(p).st_mode
        except OSError:
            continue          # missing (made on first use) or unreadable: SQLite says which
        kind = next((words for test, words in _KINDS if test(mode)), None)
        if kind:
            return (f"The chat database {p} is {kind}, not a file, so chatapp cannot open it. "
                    f"Move or rename it (nothing in it is touched), then start chatapp again.")
    return None


def _read_only_folder(path: Path) -> bool:
    """A database that is there, in a folder this process may not write (a read-only disk, a mode)."""
    return path.is_file() and not os.access(path.parent, os.W_OK)


@guarded
class Storage(TreeQueries):
    """All reads and writes of conversations; one connection, used on the GUI thread. A known SQLite
    error (locked, full, read-only, corrupt) comes out of every public method as a StorageError; a bug
    as the sqlite3 error it is (storage/errors.py)."""

    def __init__(self, path: Path, busy_timeout: float = 2.0):
        """busy_timeout: seconds a write waits for another connection's lock (an export or import on
        its own thread or process waits longer for the window's short writes)."""
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self.read_only = False   # a read-only data folder: the chats are shown, nothing new is saved
        problem = not_a_file(self.path) if str(path) != ":memory:" else None
        if problem:
            raise StorageError(problem)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys=ON")
            if self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                pass  # read-only media cannot switch to WAL; reads still work
            # NORMAL in WAL mode survives an application crash (kill -9); FULL only adds power-loss safety.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            err = known(exc)
            if err is None:
                raise   # a bug (a migration's SQL), not the folder
            if not _read_only_folder(self.path):
                raise err from exc
            self._open_read_only(err)
            return
        # Opened, but on a read-only disk (its -wal and -shm were there, e.g. after a crash): say so now,
        # rather than at the first refused save.
        self.read_only = _read_only_folder(self.path) and not os.access(self.path, os.W_OK)

    def _open_read_only(self, first: StorageError) -> None:
        """Chats in a read-only folder are shown, not hidden. A WAL database needs its -shm file, which
        such a folder cannot make; immutable=1 reads the file as it is (nothing can write it anyway)."""
        if getattr(self, "_db", None) is not None:
            self._db.close()
        uri = self.path.resolve().as_uri()
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                self._db = sqlite3.connect(uri + query, uri=True, timeout=self._busy_timeout, isolation_level=None)
                self._db.row_factory = sqlite3.Row
                version = self.schema_version
                break
            except sqlite3.Error:
                self._db.close()
        else:
            raise first
        if version != len(MIGRATIONS):
            self._db.close()
            raise StorageError("The data folder is read-only and its database was written by another version "
                               "of chatapp, so it cannot be shown. Make the folder writable and start again.")
        self.read_only = True

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
        with known_errors():
            return self._db.execute(sql, args)

    def close(self) -> None:
        self._db.close()

    def _transaction(self):
        """Several statements as one: all of them reach the disk, or none (autocommit otherwise)."""
        return transaction(self._db)

    @contextmanager
    def bulk_import(self):
        """One transaction for an import's many rows (BulkImport): all of them are written, or none."""
        with self._transaction():
            yield BulkImport(self._db)

    def imported_as(self, source: str, key: str) -> int | None:
        """The conversation an import with this source and key became, if one did."""
        row = self._run("SELECT conversation_id FROM imported WHERE source=? AND key=?", (source, key)).fetchone()
        return row[0] if row else None

    def import_origin(self, conversation_id: int) -> tuple[str, str] | None:
        """(source, key) of the import a conversation came from; None for one made here."""
        row = self._run("SELECT source, key FROM imported WHERE conversation_id=? LIMIT 1", (conversation_id,)).fetchone()
        return (row[0], row[1]) if row else None

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
        """Conversations in which every word of query appears (as a prefix in the messages, anywhere in
        the title), each word anywhere in the conversation: "apples bananas" finds the two in
        different messages. The first MAX_WORDS words are used; the search box says which were not."""
        words, _left_out = search_words(query)
        if not words:
            return self.conversations()
        with known_errors("Search failed: "):
            rows = self._db.execute("SELECT * FROM conversations ORDER BY updated_at DESC, id DESC").fetchall()
            # Titles are compared in Python: SQLite's lower() folds ASCII only ("Ärger" vs "ärger").
            titles = {r["id"]: fold(r["title"]) for r in rows}
            left = set(titles)
            implied = _implied(words)
            # The most selective words first; once nothing is left, the rest cost nothing.
            for w in sorted(words, key=len, reverse=True):
                key = fold(w)
                if not left:
                    break
                if key in implied and w.isalnum():
                    continue
                found = {cid for cid in left if key in titles[cid]}
                left = found | (self._messages_with(w, left - found) if left - found else set())
        return [self._to_conversation(r) for r in rows if r["id"] in left]

    def _messages_with(self, word: str, among: set[int]) -> set[int]:
        """Which of these conversations have a message containing word."""
        if any(c.isalnum() for c in word):
            # Quoted as an FTS5 phrase, so user text is never FTS5 syntax; the index's tokenizer
            # (unicode61) folds case and diacritics of every script.
            sql = ("SELECT DISTINCT m.conversation_id FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                   "WHERE messages_fts MATCH ?")
            hits = {r[0] for r in self._db.execute(sql, ('"' + word.replace('"', '""') + '"*',))}
        else:
            # Emoji and other symbols make no FTS5 token: look for them in the text itself, in the
            # conversations still in question only. U+FE0F (emoji presentation) is ignored both sides.
            key = word.replace(VS16, "")
            ids = sorted(among) if len(among) <= 5000 else []   # SQLite takes up to 32,766 parameters
            where = f"conversation_id IN ({','.join('?' * len(ids))}) AND " if ids else ""
            sql = f"SELECT DISTINCT conversation_id FROM messages WHERE {where}instr(replace(content, ?, ''), ?) > 0"
            hits = {r[0] for r in self._db.execute(sql, (*ids, VS16, key))}
        return hits & among

    def conversation(self, conversation_id: int) -> Conversation | None:
        r = self._run("SELECT * FROM conversations WHERE id=?", (conversation_id,)).fetchone()
        return self._to_conversation(r) if r else None

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self._run("UPDATE conversations SET title=? WHERE id=?", (clean_text(title), conversation_id))

    def set_system_prompt(self, conversation_id: int, prompt: str | None) -> None:
        self._run("UPDATE conversations SET system_prompt=? WHERE id=?", (prompt, conversation_id))

    def set_tools_off(self, conversation_id: int, off: bool) -> None:
        """A chat's tools switch (no tools are offered in it while off)."""
        self._run("UPDATE conversations SET tools_off=? WHERE id=?", (int(off), conversation_id))

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
                    status: str = "done", image_path: str | None = None, meta: dict | None = None,
                    parent_id=LEAF, make_current: bool | None = None, splice: bool = False) -> Message:
        """Add a message under parent_id (default: the current leaf).

        It becomes the conversation's current leaf when its parent was (or make_current says so).
        With splice, the parent's children move under the new message: it is inserted into the
        branch instead of starting a new one (the second picture of an --n 2 batch).
        """
        now = time.time()
        meta = meta or {}
        with self._transaction():
            leaf = self._db.execute("SELECT current_leaf FROM conversations WHERE id=?",
                                    (conversation_id,)).fetchone()
            leaf = leaf[0] if leaf else None
            parent = leaf if parent_id is LEAF else parent_id
            cur = self._db.execute(
                "INSERT INTO messages(conversation_id, role, kind, content, status, image_path, meta, created_at,"
                " parent_id) VALUES (?,?,?,?,?,?,?,?,?)",
                (conversation_id, role, kind, clean_text(content), status, image_path, json.dumps(meta), now, parent))
            new_id = cur.lastrowid
            moved = False
            if splice and parent is not None:
                moved = self._db.execute("UPDATE messages SET parent_id=? WHERE parent_id=? AND id<>?",
                                         (new_id, parent, new_id)).rowcount > 0
            current = make_current if make_current is not None else (parent == leaf and not moved)
            self._db.execute("UPDATE conversations SET updated_at=?, current_leaf=CASE WHEN ? THEN ? "
                             "ELSE current_leaf END WHERE id=?", (now, current, new_id, conversation_id))
        return Message(new_id, conversation_id, role, content, kind, status, image_path, meta, now, parent)

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
        """Delete one message; its children move up to its parent (the branch stays connected)."""
        with self._transaction():
            row = self._db.execute("SELECT conversation_id, parent_id FROM messages WHERE id=?",
                                   (message_id,)).fetchone()
            if row is None:
                return
            cid, parent = row
            self._db.execute("UPDATE messages SET parent_id=? WHERE parent_id=?", (parent, message_id))
            self._db.execute("DELETE FROM messages WHERE id=?", (message_id,))
            self._db.execute("UPDATE conversations SET current_leaf=? WHERE id=? AND current_leaf=?",
                             (parent, cid, message_id))

    def message(self, message_id: int) -> Message | None:
        r = self._run("SELECT * FROM messages WHERE id=?", (message_id,)).fetchone()
        return self._to_message(r) if r else None

    # Picture numbers ("#3", what --init #3 names) live in each image message's meta, given when the message is
    # made, so a number never changes when other pictures are deleted; older pictures without one are counted.
    def next_picture_number(self, conversation_id: int) -> int:
        biggest, count = self._run("SELECT MAX(CAST(json_extract(meta, '$.number') AS INTEGER)), COUNT(*) "
                                   "FROM messages WHERE conversation_id=? AND kind='image'", (conversation_id,)).fetchone()
        return (biggest if biggest is not None else count) + 1

    def picture_numbered(self, conversation_id: int, number: int) -> Message | None:
        r = self._run("SELECT * FROM messages WHERE conversation_id=? AND kind='image' "
                      "AND CAST(json_extract(meta, '$.number') AS INTEGER)=? ORDER BY id LIMIT 1",
                      (conversation_id, number)).fetchone()
        return self._to_message(r) if r else None

    def last_picture(self, conversation_id: int) -> Message | None:
        """The newest finished picture of a conversation."""
        r = self._run("SELECT * FROM messages WHERE conversation_id=? AND kind='image' AND status='done' "
                      "AND image_path IS NOT NULL ORDER BY id DESC LIMIT 1", (conversation_id,)).fetchone()
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
        """After a crash: replies left 'streaming' become 'stopped', renders left running and tool calls left
        asking or running become 'cancelled' (a call's meta state too: its card says so)."""
        if self.read_only:
            return 0   # shown as they are; nothing can be written
        n = self._run("UPDATE messages SET status='cancelled', meta=CASE WHEN NOT json_valid(meta) THEN meta "
                      "WHEN json_type(meta)='object' THEN json_set(meta, '$.state', 'cancelled') ELSE meta END "
                      "WHERE kind='tool' AND status='streaming'").rowcount
        n += self._run("UPDATE messages SET status='stopped' WHERE status='streaming'").rowcount
        n += self._run("UPDATE messages SET status='cancelled' WHERE status IN ('rendering','queued')").rowcount
        return n

    @staticmethod
    def _to_conversation(r: sqlite3.Row) -> Conversation:
        return Conversation(r["id"], r["title"], r["system_prompt"], r["created_at"], r["updated_at"],
                            r["current_leaf"], bool(r["tools_off"]))

    @staticmethod
    def _to_message(r: sqlite3.Row) -> Message:
        try:
            meta = json.loads(r["meta"] or "{}")
        except ValueError:
            meta = {}
        keys = r.keys()
        branch = (r["sibling_index"], r["n_siblings"]) if "n_siblings" in keys else (1, 1)
        return Message(r["id"], r["conversation_id"], r["role"], r["content"], r["kind"], r["status"],
                       r["image_path"], meta, r["created_at"], r["parent_id"], branch)
