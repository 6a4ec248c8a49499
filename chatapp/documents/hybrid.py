"""The embedding half of search, on the document worker's thread: lazy model, vectors filled in batches, ranking."""
from __future__ import annotations

from typing import Callable

from ..engines.base import EngineError
from ..engines.embed_prompts import EmbedPrompts
from . import vectors
from .index import DocumentIndex


class Hybrid:
    """One embedding model for the index. Every method runs on the document worker's thread (the
    llama.cpp context is not thread-safe, and loading or embedding must never touch the GUI thread).

    A model that cannot be used leaves `error` set; search then goes on with BM25 alone.
    """

    def __init__(self, path: str, make_engine: Callable[[], object] | None = None,
                 on_error: Callable[[str], None] | None = None):
        self.path = path
        self._make = make_engine or self._default_engine
        self._on_error = on_error   # told once, when the model turns out unusable
        self.engine = None
        self.model: int | None = None
        self.cache: vectors.VectorCache | None = None
        self.error: str | None = None

    def _default_engine(self):
        from ..engines.llama_embed import EmbeddingEngine
        return EmbeddingEngine(self.path)

    def ready(self, index: DocumentIndex) -> bool:
        """Load the model on first use (lazily: a session that never asks needs no model)."""
        if self.error is not None:
            return False
        if self.engine is None:
            engine = self._make()
            try:
                engine.load()
            except EngineError as exc:
                self._fail(str(exc))
                return False
            self.engine = engine
            self.model = vectors.model_id(index._db, engine.identity, engine.dim)
            self.cache = vectors.VectorCache(self.model, engine.dim)
        return True

    def _fail(self, why: str) -> None:
        self.error = (f"The embedding model cannot be used: {why} Your files are searched by keywords "
                      "only (BM25) until another is chosen in Settings.")
        self.close()
        if self._on_error is not None:
            self._on_error(self.error)

    def fill(self, index: DocumentIndex, should_stop: Callable[[], bool],
             progress: Callable[[int, int], None] | None = None) -> int:
        """Give every searchable chunk this model's vector (resumable); returns how many were embedded."""
        if not self.ready(index):
            return 0
        try:
            n = vectors.fill(index._db, self.model, self._embed_passages, should_stop, progress)
        except EngineError as exc:
            self._fail(str(exc))
            return 0
        vectors.forget_other_models(index._db, self.model)
        self.cache.refresh(index._db)   # here, in the background, so a question finds the matrix ready
        return n

    def rank(self, index: DocumentIndex, question: str, conversation_id: int | None, library: bool,
             limit: int) -> list[tuple[int, float]]:
        """(chunk id, cosine) of the chunks in scope most like the question; [] when the model is unusable."""
        query = self._query(index, question)
        if query is None:
            return []
        return self.cache.rank(query, index.scope(conversation_id, library=library), limit)

    def rank_later(self, index: DocumentIndex, question: str, conversation_id: int | None, library: bool,
                   limit: int, submit: Callable[..., Callable]):
        """As rank, but the pass over the vectors goes to submit(fn, *args) (the worker's helper thread),
        which returns a callable that waits for it. The question is embedded here (the model stays on
        this thread); the caller runs BM25 meanwhile and calls the result before using this again."""
        query = self._query(index, question)
        if query is None:
            return []
        return submit(self.cache.rank, query, index.scope(conversation_id, library=library), limit)

    def _query(self, index: DocumentIndex, question: str):
        """The question's vector, with the cache brought up to date; None when the model is unusable."""
        if not self.ready(index):
            return None
        try:
            query = self.engine.embed([self._prompts().query + question])[0]
        except EngineError as exc:
            self._fail(str(exc))
            return None
        self.cache.refresh(index._db, check_removed=False)
        return query

    def _prompts(self) -> EmbedPrompts:
        return self.engine.prompts

    def _embed_passages(self, texts: list[str]):
        prefix = self._prompts().document
        return self.engine.embed([prefix + t for t in texts] if prefix else texts)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine = None
