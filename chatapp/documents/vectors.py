"""Chunk vectors for hybrid search: stored per embedding model, filled in batches (resumable), ranked with numpy."""
from __future__ import annotations

import sqlite3
from typing import Callable

from ..storage.errors import known_errors, transaction
from .extract import Cancelled
from .index import DiskFull

# As DocumentIndex's methods: a known SQLite error (full, locked...) is a StorageError, a bug raises as it is.
_known = known_errors(full=DiskFull)

BATCH = 8   # chunks embedded per transaction: a kill loses at most this much work, a question waits this long


@_known
def model_id(db: sqlite3.Connection, identity: str, dim: int) -> int:
    """The row id of an embedding model, added on first use."""
    db.execute("INSERT OR IGNORE INTO embedding_models(identity, dim) VALUES (?,?)", (identity, dim))
    return db.execute("SELECT id FROM embedding_models WHERE identity=?", (identity,)).fetchone()[0]


@_known
def missing(db: sqlite3.Connection, model: int, limit: int) -> list[tuple[int, str]]:
    """(chunk id, text) of searchable chunks without a vector from this model, oldest first."""
    return db.execute(
        "SELECT c.id, c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
        "LEFT JOIN chunk_vectors v ON v.chunk_id = c.id "
        "WHERE d.status = 'ready' AND (v.chunk_id IS NULL OR v.model_id != ?) ORDER BY c.id LIMIT ?",
        (model, limit)).fetchall()


@_known
def counts(db: sqlite3.Connection, model: int) -> tuple[int, int]:
    """(chunks with this model's vector, searchable chunks in all)."""
    have = db.execute("SELECT COUNT(*) FROM chunk_vectors WHERE model_id=?", (model,)).fetchone()[0]
    total = db.execute("SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
                       "WHERE d.status = 'ready'").fetchone()[0]
    return have, total


@_known
def fill(db: sqlite3.Connection, model: int, embed: Callable[[list[str]], object],
         should_stop: Callable[[], bool] = lambda: False,
         progress: Callable[[int, int], None] | None = None) -> int:
    """Embed every chunk that lacks this model's vector, BATCH chunks per transaction; returns how many.

    Each batch is embedded outside any transaction and written in one, so a kill leaves whole
    vectors or none, and the next run carries on where this one stopped. Raises Cancelled.
    """
    have, total = counts(db, model) if progress else (0, 0)
    done = 0
    while True:
        if should_stop():
            raise Cancelled()
        todo = missing(db, model, BATCH)
        if not todo:
            break
        matrix = embed([text for _, text in todo])
        rows = [(model, matrix[i].astype("<f4").tobytes(), chunk_id, chunk_id) for i, (chunk_id, _) in enumerate(todo)]
        with transaction(db, full=DiskFull):
            # A chunk deleted meanwhile (its conversation went) gets no vector.
            db.executemany("INSERT OR REPLACE INTO chunk_vectors(model_id, vector, chunk_id) "
                           "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM chunks WHERE id = ?)", rows)
        done += len(todo)
        if progress:
            progress(have + done, max(total, have + done))
    return done


@_known
def forget_other_models(db: sqlite3.Connection, model: int) -> None:
    """Once every chunk has this model's vector, earlier models' rows have nothing left: drop them."""
    db.execute("DELETE FROM embedding_models WHERE id != ? AND NOT EXISTS "
               "(SELECT 1 FROM chunk_vectors v WHERE v.model_id = embedding_models.id)", (model,))


class VectorCache:
    """One model's vectors in memory (a numpy matrix), kept in step with the table by cheap checks.

    Reading 100,000 blobs takes seconds; a question must take milliseconds. New vectors mostly come
    with new chunk ids (AUTOINCREMENT never reuses one): those past the largest id read are added.
    """

    def __init__(self, model: int, dim: int):
        import numpy as np
        self.model, self.dim = model, dim
        self.ids = np.zeros(0, dtype=np.int64)
        self.docs = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self._last = 0

    @_known
    def refresh(self, db: sqlite3.Connection, check_removed: bool = True) -> None:
        """Read new vectors (a MAX over the index: instant); with check_removed, also notice removed
        ones (a COUNT: ~10 ms at 100,000, so the worker does it after each run, not per question).
        Between those checks a removed chunk is harmless: its document is out of scope, or its id
        is no longer found when the passages are read."""
        last = db.execute("SELECT COALESCE(MAX(chunk_id), 0) FROM chunk_vectors WHERE model_id=?",
                          (self.model,)).fetchone()[0]
        if last > self._last:
            self._read(db, after=self._last)
        if check_removed:
            count = db.execute("SELECT COUNT(*) FROM chunk_vectors WHERE model_id=?", (self.model,)).fetchone()[0]
            if count != len(self.ids):
                self._read(db, after=0)   # rows went (or a vector was replaced): read them all again

    def _read(self, db: sqlite3.Connection, after: int) -> None:
        import numpy as np
        rows = db.execute("SELECT v.chunk_id, c.document_id, v.vector FROM chunk_vectors v "
                          "JOIN chunks c ON c.id = v.chunk_id WHERE v.model_id = ? AND v.chunk_id > ? "
                          "ORDER BY v.chunk_id", (self.model, after)).fetchall()
        rows = [r for r in rows if len(r[2]) == self.dim * 4]   # a vector of another size is not this model's
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        docs = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), self.dim)
        if after:
            self.ids, self.docs = np.concatenate([self.ids, ids]), np.concatenate([self.docs, docs])
            self.matrix = np.concatenate([self.matrix, matrix])
        else:
            self.ids, self.docs, self.matrix = ids, docs, matrix.copy()
        self._last = int(self.ids[-1]) if len(self.ids) else 0

    def rank(self, query, documents: list[int], limit: int) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the chunks of `documents` most like the unit vector `query`, best first."""
        import numpy as np
        if not len(self.ids) or not documents:
            return []
        # One pass over the matrix: memory-bound (dim * 4 bytes a chunk).
        sims = self.matrix @ np.asarray(query, dtype=np.float32).reshape(self.dim)
        allowed = np.zeros(max(int(self.docs.max()), max(documents)) + 1, dtype=bool)   # a lookup table beats np.isin
        allowed[np.asarray(documents, dtype=np.int64)] = True
        sims[~allowed[self.docs]] = -np.inf
        k = min(limit, len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top])]
        return [(int(self.ids[i]), float(sims[i])) for i in top if np.isfinite(sims[i])]
