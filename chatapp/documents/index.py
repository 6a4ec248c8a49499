"""The document index in the app's SQLite file: rows per file, chunks per document (one transaction each), BM25 search."""
from __future__ import annotations

import errno
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..storage import errors as storage_errors
from . import cjk
from .chunking import Chunk, chunk_sections
from .extract import Cancelled, DocumentError, extract, is_supported

PENDING, READY, FAILED = "pending", "ready", "error"
TOKENIZER = "porter unicode61 remove_diacritics 2"   # as in storage/documents_schema.py
PRUNE_FROM = 2000       # with more chunks than this, words found in over COMMON_SHARE of them are dropped:
COMMON_SHARE = 0.1      # their BM25 weight is near zero, but scoring every chunk they match is not
MAX_QUERY_WORDS = 16
BATCH_CHARS = 2_000_000   # chunk text written per transaction (a few hundred ms of the write lock)
DISK_FULL_TEXT = "the disk holding your chats is full"


class DiskFull(storage_errors.DiskFull):
    """No space for the index (SQLITE_FULL, or ENOSPC while reading a file): the document stays
    pending, not failed, and is indexed once there is space. A StorageError, so every caller that
    handles a known database error handles this one."""

    def __init__(self, _storage_words: str = ""):
        super().__init__(DISK_FULL_TEXT)   # its own words: the documents half knows them in the worker's message


def is_disk_full(exc: BaseException) -> bool:
    """A full disk said by the database (DiskFull, a StorageError) or by the file system (ENOSPC, quota)."""
    return isinstance(exc, storage_errors.DiskFull) or getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)


# Words that match nearly every chunk: left out of the query so BM25 ranks on what the question is about.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves tell give
please know find say said does did document file files text page pages according mentioned
""".split())


@dataclass
class DocumentRow:
    id: int
    conversation_id: int | None
    message_id: int | None
    path: str
    name: str
    size: int
    status: str
    error: str | None
    kind: str | None
    pages: int | None
    chars: int


@dataclass
class Hit:
    chunk_id: int
    document_id: int
    name: str
    path: str
    text: str
    page: int | None
    line_start: int | None
    line_end: int | None
    score: float          # higher is better

    def location(self) -> str:
        return Chunk(self.text, self.page, self.line_start, self.line_end).location()


def query_words(text: str) -> list[str]:
    words, seen = [], set()
    for w in re.findall(r"\w+", text.lower()):
        if len(w) > 1 and w not in STOPWORDS and w not in seen:
            seen.add(w)
            words.append(w)
    return words[:64]


def fts_query(text_or_words: str | list[str]) -> str:
    """User words as an OR of quoted FTS5 strings: never FTS5 syntax, stopwords left out."""
    words = query_words(text_or_words) if isinstance(text_or_words, str) else text_or_words
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


@storage_errors.guarded(full=DiskFull)
class DocumentIndex:
    """One connection to the app's database; each thread that needs the index opens its own.

    As Storage: a known SQLite error (locked, full, read-only, corrupt) comes out of every public
    method as a StorageError (DiskFull here: the document stays pending), a bug as the sqlite3 error."""

    def __init__(self, db_path: str | Path):
        with storage_errors.known_errors(full=DiskFull):
            self._open(db_path)

    def _open(self, db_path: str | Path) -> None:
        self._db = sqlite3.connect(str(db_path), timeout=10.0, isolation_level=None, check_same_thread=True)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Per-connection helpers (temp schema, nothing stored): document frequencies of the index's
        # terms, and a scratch FTS5 table that stems query words exactly as the index does.
        self._db.executescript(f"""
            CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, 'row');
            CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words USING fts5(word, tokenize='{TOKENIZER}');
            CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_stems USING fts5vocab(temp, query_words, 'instance');
        """)

    def close(self) -> None:
        self._db.close()

    def _transaction(self):
        """Several statements as one (storage's one transaction shape); a full disk is this index's DiskFull."""
        return storage_errors.transaction(self._db, full=DiskFull)

    # --- documents ----------------------------------------------------------------------------
    def add_attachment(self, conversation_id: int, path: str | Path, message_id: int | None = None) -> DocumentRow:
        p = Path(path).expanduser()
        p = p.resolve() if p.exists() else p.absolute()
        try:
            size = p.stat().st_size
        except OSError:
            size = 0
        cur = self._db.execute(
            "INSERT INTO documents(conversation_id, message_id, path, name, size, added_at) VALUES (?,?,?,?,?,?)",
            (conversation_id, message_id, str(p), p.name, size, time.time()))
        return self.document(cur.lastrowid)

    def document(self, document_id: int) -> DocumentRow | None:
        r = self._db.execute("SELECT * FROM documents WHERE id=?", (document_id,)).fetchone()
        return _row(r) if r else None

    def documents(self, conversation_id: int | None) -> list[DocumentRow]:
        """A conversation's attachments, or (None) the library's files."""
        if conversation_id is None:
            rows = self._db.execute("SELECT * FROM documents WHERE conversation_id IS NULL ORDER BY path")
        else:
            rows = self._db.execute("SELECT * FROM documents WHERE conversation_id=? ORDER BY id", (conversation_id,))
        return [_row(r) for r in rows]

    def pending(self) -> list[int]:
        """Documents not yet indexed (new, changed, or cut short by a crash), attachments first."""
        return [r[0] for r in self._db.execute(
            "SELECT id FROM documents WHERE status=? ORDER BY conversation_id IS NULL, id", (PENDING,))]

    def set_library_enabled(self, conversation_id: int, enabled: bool) -> None:
        self._db.execute("INSERT OR REPLACE INTO conversation_library(conversation_id, enabled) VALUES (?,?)",
                         (conversation_id, int(enabled)))

    def library_enabled(self, conversation_id: int, default: bool = True) -> bool:
        r = self._db.execute("SELECT enabled FROM conversation_library WHERE conversation_id=?",
                             (conversation_id,)).fetchone()
        return default if r is None else bool(r[0])

    # --- indexing -----------------------------------------------------------------------------
    def index_document(self, document_id: int, should_stop: Callable[[], bool] = lambda: False) -> DocumentRow | None:
        """Extract, chunk and store one document; a crash leaves it whole and ready, or pending (unsearchable).

        Up to BATCH_CHARS of text this is one transaction; bigger documents go in batches.

        Returns the updated row, or None when the document was removed meanwhile. Raises Cancelled.
        """
        doc = self.document(document_id)
        if doc is None:
            return None
        error, kind, pages, chunks, mtime = None, None, None, [], 0.0
        try:
            mtime = os.stat(doc.path).st_mtime
            extracted = extract(doc.path, should_stop=should_stop)
            kind, pages = extracted.kind, extracted.pages
            chunks = chunk_sections(extracted.sections)
        except DocumentError as exc:
            error = str(exc)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull() from exc   # not the file's fault: it stays pending
            error = "The file is gone (moved or deleted)." if isinstance(exc, FileNotFoundError) \
                else f"The file cannot be read: {exc.strerror or exc}."
        if should_stop():
            raise Cancelled()
        chars = sum(len(c.text) for c in chunks)
        # Vectors (with an embedding model) are added afterwards by documents/vectors.fill, in batches.
        rows = [(document_id, i, c.text, c.page, c.line_start, c.line_end) for i, c in enumerate(chunks)]
        # A big document is written in batches so the write lock is never held for long (the GUI
        # saves messages through the same file); its chunks stay invisible to search until the
        # last batch marks it ready in the same transaction. A crash in between leaves it pending,
        # and the next run deletes what was written and starts it again.
        batches, size, start = [], 0, 0
        for i, row in enumerate(rows):
            size += len(row[2])
            if size >= BATCH_CHARS:
                batches.append(rows[start:i + 1])
                start, size = i + 1, 0
        batches.append(rows[start:])
        try:
            for n, batch in enumerate(batches):
                with self._transaction():
                    if n == 0:
                        self._db.execute("DELETE FROM chunks WHERE document_id=?", (document_id,))
                    self._db.executemany("INSERT INTO chunks(document_id, seq, text, page, line_start, line_end) "
                                         "VALUES (?,?,?,?,?,?)", batch)
                    if n == len(batches) - 1:
                        cur = self._db.execute(
                            "UPDATE documents SET status=?, error=?, kind=?, pages=?, chars=?, mtime=? WHERE id=?",
                            (FAILED if error else READY, error, kind, pages, chars, mtime, document_id))
                        if cur.rowcount == 0:
                            raise _Gone()
                if n < len(batches) - 1 and should_stop():
                    raise Cancelled()
        except (_Gone, storage_errors.ChatDeleted):   # its conversation was deleted while it was read
            return None
        return self.document(document_id)

    def mark_failed(self, document_id: int, reason: str) -> DocumentRow | None:
        with self._transaction():
            self._db.execute("DELETE FROM chunks WHERE document_id=?", (document_id,))
            self._db.execute("UPDATE documents SET status=?, error=? WHERE id=?", (FAILED, reason, document_id))
        return self.document(document_id)

    def forget_library(self) -> None:
        """No library folder any more: its documents and chunks go (attachments stay)."""
        with self._transaction():
            self._db.execute("DELETE FROM documents WHERE conversation_id IS NULL")

    def library_size(self) -> tuple[int, int]:
        """(files indexed, files pending) in the library."""
        r = self._db.execute("SELECT SUM(status=?), SUM(status=?) FROM documents WHERE conversation_id IS NULL",
                             (READY, PENDING)).fetchone()
        return r[0] or 0, r[1] or 0

    def sync_library(self, folder: str | Path, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Mark new and changed files under folder pending, forget vanished ones; returns how many are pending."""
        root = Path(folder).expanduser()
        if not root.is_dir():   # an unplugged drive must not wipe the library's index
            return len(self.pending())
        known = {r["path"]: (r["size"], r["mtime"], r["status"]) for r in self._db.execute(
            "SELECT path, size, mtime, status FROM documents WHERE conversation_id IS NULL")}
        seen: set[str] = set()
        now = time.time()
        with self._transaction():
            # Files of a previous library folder (or vanished ones) go away, chunks and all.
            for path in self._walk(root, should_stop):
                key = str(path)
                seen.add(key)
                try:
                    st = path.stat()
                except OSError:
                    continue
                old = known.get(key)
                if old is None:
                    self._db.execute("INSERT INTO documents(conversation_id, path, name, size, added_at) "
                                     "VALUES (NULL,?,?,?,?)", (key, path.name, st.st_size, now))
                elif old[0] != st.st_size or old[1] != st.st_mtime:
                    self._db.execute("UPDATE documents SET status=?, size=? WHERE conversation_id IS NULL AND path=?",
                                     (PENDING, st.st_size, key))
            for key in set(known) - seen:
                self._db.execute("DELETE FROM documents WHERE conversation_id IS NULL AND path=?", (key,))
        return self._db.execute("SELECT COUNT(*) FROM documents WHERE conversation_id IS NULL AND status=?",
                                (PENDING,)).fetchone()[0]

    @staticmethod
    def _walk(root: Path, should_stop: Callable[[], bool]) -> Iterator[Path]:
        if not root.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(root):
            if should_stop():
                raise Cancelled()
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not name.startswith(".") and is_supported(path):
                    yield path.resolve()

    # --- retrieval ----------------------------------------------------------------------------
    def search(self, query: str, conversation_id: int | None, *, library: bool = True, limit: int = 8) -> list[Hit]:
        """The best chunks for query (BM25) among this conversation's attachments and, if on, the library."""
        match = fts_query(self._informative(query_words(query)))
        scope = "d.status = 'ready' AND (d.conversation_id = ?" + (" OR d.conversation_id IS NULL)" if library else ")")
        owner = -1 if conversation_id is None else conversation_id
        # Chinese/Japanese words sit inside unspaced runs that unicode61 keeps whole: the trigram
        # index finds them (documents/cjk.py); its hits lead, the word index's follow.
        found = cjk.search(self._db, query, scope, owner, limit) if cjk.runs(query) else []
        if not match:
            return [Hit(*r[:8], score=-r[8]) for r in found]
        # FTS5 ranks fastest on its own (ORDER BY rank LIMIT n inside the virtual table); the join and
        # the scope filter then run on those few rows. Only if too few are in scope, rank them all.
        inner = max(200, limit * 10)
        for cap in (inner, -1):
            rows = self._db.execute(
                "SELECT c.id, c.document_id, d.name, d.path, c.text, c.page, c.line_start, c.line_end, f.rank "
                "FROM (SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?) f "
                f"JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.document_id WHERE {scope} "
                "ORDER BY f.rank LIMIT ?", (match, cap, owner, limit)).fetchall()
            if len(rows) >= limit or cap == -1:
                break
            if self._db.execute("SELECT COUNT(*) FROM (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? "
                                "LIMIT ?)", (match, cap)).fetchone()[0] < cap:
                break   # the inner query already saw every match
        seen = {r[0] for r in found}
        rows = (found + [r for r in rows if r[0] not in seen])[:limit]
        return [Hit(*r[:8], score=-r[8]) for r in rows]

    def _informative(self, words: list[str]) -> list[str]:
        """In a big index, leave out words most chunks contain (see refresh_common_terms)."""
        words = words[:MAX_QUERY_WORDS]
        if not words or not self._db.execute("SELECT 1 FROM common_terms LIMIT 1").fetchone():
            return words
        # Stem the words exactly as the index did, in a scratch table of the temp schema
        # (writing there takes no lock on the shared database file).
        self._db.executemany("INSERT INTO temp.query_words(rowid, word) VALUES (?,?)", enumerate(words))
        stems = dict(self._db.execute("SELECT doc, term FROM temp.query_stems"))
        self._db.execute("DELETE FROM temp.query_words")
        common = {r[0] for r in self._db.execute(
            f"SELECT term FROM common_terms WHERE term IN ({','.join('?' * len(stems))})", list(stems.values()))}
        kept = [w for i, w in enumerate(words) if stems.get(i, w) not in common]
        return kept or words

    def refresh_common_terms(self) -> int:
        """Find the terms in over COMMON_SHARE of all chunks (a full vocabulary scan: worker thread only)."""
        total = self._db.execute("SELECT MAX(id) FROM chunks").fetchone()[0] or 0
        terms = [] if total <= PRUNE_FROM else self._db.execute(
            "SELECT term, doc FROM temp.chunks_vocab WHERE doc > ?", (int(total * COMMON_SHARE),)).fetchall()
        with self._transaction():   # the slow scan above ran outside the write lock
            self._db.execute("DELETE FROM common_terms")
            self._db.executemany("INSERT INTO common_terms(term, doc) VALUES (?,?)", terms)
        return len(terms)

    def chunks_of(self, document_id: int) -> list[Hit]:
        rows = self._db.execute(
            "SELECT c.id, c.document_id, d.name, d.path, c.text, c.page, c.line_start, c.line_end FROM chunks c "
            "JOIN documents d ON d.id = c.document_id WHERE c.document_id=? ORDER BY c.seq", (document_id,))
        return [Hit(*r, score=0.0) for r in rows]

    def scope(self, conversation_id: int | None, *, library: bool = True) -> list[int]:
        """Ids of the searchable documents for a question: the chat's attachments and, if on, the library."""
        where = "conversation_id = ?" + (" OR conversation_id IS NULL" if library else "")
        return [r[0] for r in self._db.execute(f"SELECT id FROM documents WHERE status = 'ready' AND ({where})",
                                               (-1 if conversation_id is None else conversation_id,))]

    def hits(self, chunk_ids: list[int]) -> list[Hit]:
        """Chunks by id, in the order given."""
        if not chunk_ids:
            return []
        rows = self._db.execute(
            "SELECT c.id, c.document_id, d.name, d.path, c.text, c.page, c.line_start, c.line_end FROM chunks c "
            f"JOIN documents d ON d.id = c.document_id WHERE c.id IN ({','.join('?' * len(chunk_ids))})",
            chunk_ids).fetchall()
        by_id = {r[0]: Hit(*r, score=0.0) for r in rows}
        return [by_id[i] for i in chunk_ids if i in by_id]


class _Gone(Exception):
    pass


def _row(r: sqlite3.Row) -> DocumentRow:
    return DocumentRow(r["id"], r["conversation_id"], r["message_id"], r["path"], r["name"], r["size"],
                       r["status"], r["error"], r["kind"], r["pages"], r["chars"])
