"""Long jobs that are not inference, each on a thread of its own: export/import, indexing files, scanning for models."""
from __future__ import annotations

import itertools
import queue
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Signal, Slot

from .base import OwnerThread, failure_message
from .calls import Calls


def store_calls() -> Calls:
    """Export and import, one at a time on a thread of their own (minutes on a big database); each job
    opens its own connection and returns what it did. StoreError and StorageError speak to the user."""
    from ..storage import StorageError
    from ..store import StoreError
    return Calls(own_thread=True, known=(StoreError, StorageError), unexpected="That did not work")


class DocumentWorker(OwnerThread):
    """Indexes attached files and the library folder on its own thread, one document per transaction.

    Cancel marks every request made so far as cancelled (the running job reads its flag between pages
    and documents); whatever is left stays 'pending' in the database and is picked up by the next request (or the
    next start, after a crash). With an embedding model it also owns that model (documents/hybrid.py):
    it fills chunk vectors after indexing and answers questions (passages by BM25 + vectors); a
    question posted while a job runs is answered between pages, documents and vector batches.
    """

    progress = Signal(int, int, str)     # documents done, documents in this run, file being read
    document_done = Signal(object)       # DocumentRow: ready, or error with its reason
    finished = Signal(bool)              # True: nothing left pending; False: cancelled or failed
    failed = Signal(str)                 # the index itself could not be used (locked, disk full...)
    sources_ready = Signal(int, object)  # question id, [Source] (None: the index could not be searched)
    _index_requested = Signal(object, int)
    _embedding_requested = Signal(str)
    _questions_posted = Signal()

    PROGRESS_EVERY_S = 0.1   # progress reaches the GUI thread at most ~10 times a second

    def __init__(self, db_path):
        super().__init__("document-worker")
        self._db_path = str(db_path)
        self._index = None
        self._hybrid = None
        self._helper = None   # a thread pool of one for _beside, made on first use
        self._request_ids = itertools.count(1)
        self._last_request = 0
        self._questions: queue.SimpleQueue = queue.SimpleQueue()
        self._last_progress = 0.0
        self._index_requested.connect(self._run)
        self._embedding_requested.connect(self._set_embedding)
        self._questions_posted.connect(self._answer_questions)

    def request_index(self, library_folder: str | None = None) -> None:
        """Index every pending document; with a folder, first sync the library with it ("" forgets it)."""
        self._last_request = next(self._request_ids)
        self._index_requested.emit(library_folder, self._last_request)

    def set_embedding_model(self, path: str) -> None:
        """Use this GGUF for vectors ("" = BM25 only); loaded lazily on the worker. Queued in order."""
        self._embedding_requested.emit(path)

    def request_sources(self, question_id: int, question: str, conversation_id: int | None, library: bool,
                        budget_tokens: int) -> None:
        """Find a question's passages (hybrid); the answer comes as sources_ready(question_id, ...)."""
        # A queue, not only a queued signal: the worker's loop may be busy indexing and drains it between steps.
        self._questions.put((question_id, question, conversation_id, library, budget_tokens))
        self._questions_posted.emit()

    def cancel(self, request_id: int | None = None) -> None:
        """Stop a request, or (None) every request made so far; later ones run."""
        self.flags.cancel_through(self._last_request if request_id is None else request_id)

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        ok = super().shutdown(timeout_ms)
        if ok and self._hybrid is not None:
            self._hybrid.close()   # the thread has ended: nothing else can be using the model now
        if self._helper is not None:
            self._helper.shutdown(wait=ok)
        return ok

    def _open_index(self):
        from ..documents.index import DocumentIndex
        if self._index is None:
            self._index = DocumentIndex(self._db_path)
        return self._index

    def _emit_progress(self, done: int, total: int, name: str, force: bool = False) -> None:
        # Coalesced: 1,000 small files must not queue 1,000 status-bar updates on the GUI thread.
        now = time.monotonic()
        if force or now - self._last_progress >= self.PROGRESS_EVERY_S:
            self._last_progress = now
            self.progress.emit(done, total, name)

    def _beside(self, fn, *args):
        """Run fn(*args) on a helper thread (numpy's pass over the vectors, while SQLite runs BM25 here;
        both release the GIL); returns a callable that waits for its result."""
        if self._helper is None:
            from concurrent.futures import ThreadPoolExecutor
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="vector-rank")
        return self._helper.submit(fn, *args).result

    @Slot(str)
    def _set_embedding(self, path: str) -> None:
        from ..documents.hybrid import Hybrid
        if self._hybrid is not None:
            self._hybrid.close()
        self._hybrid = Hybrid(path, on_error=self.failed.emit) if path else None

    def _hybrid_ready(self, index) -> bool:
        """A usable embedding model, loaded (a failure is reported once, by Hybrid's on_error)."""
        return self._hybrid is not None and self._hybrid.ready(index)

    @Slot()
    def _answer_questions(self) -> None:
        from ..documents.context import select_sources
        from ..storage import StorageError
        while not self._questions.empty():
            qid, question, conversation_id, library, budget = self._questions.get()
            if self.flags.all:
                continue
            try:
                index = self._open_index()
                rank = None
                if self._hybrid_ready(index):   # vectors ranked on the helper thread while SQLite runs BM25
                    rank = partial(self._hybrid.rank_later, index, submit=self._beside)
                sources = select_sources(index, question, conversation_id, budget, library=library, vector_rank=rank)
            except Exception as exc:   # the GUI then searches with BM25 itself; the reply must not wait
                if not isinstance(exc, StorageError):   # a bug (an SQL one too) is printed, not only skipped
                    traceback.print_exc()
                sources = None
            self.sources_ready.emit(qid, sources)

    @Slot(object, int)
    def _run(self, folder, request_id: int) -> None:
        import sqlite3

        from ..documents.extract import Cancelled
        from ..storage import StorageError

        def stopped() -> bool:
            return self.flags.is_set(request_id)

        def should_stop() -> bool:
            self._answer_questions()   # a question waits at most one page, document or vector batch
            return stopped()

        if stopped():
            return
        try:
            index = self._open_index()
            if folder == "":
                index.forget_library()
            elif folder is not None:
                if Path(folder).expanduser().is_dir():
                    index.sync_library(folder, stopped)   # inside a transaction: no questions answered there
                else:
                    self.failed.emit(f"The library folder {folder} is not there (unplugged drive?); "
                                     "its index is kept until it is back.")
            todo = index.pending()
            for done, doc_id in enumerate(todo):
                if should_stop():
                    raise Cancelled()
                doc = index.document(doc_id)
                if doc is None:
                    continue
                self._emit_progress(done, len(todo), doc.name, force=done == 0)
                try:
                    row = index.index_document(doc_id, should_stop)
                except (Cancelled, StorageError, sqlite3.Error):   # the database's problem (or bug), not the file's
                    raise
                except Exception as exc:   # a library bug on one odd file must not stop the rest
                    traceback.print_exc()
                    row = index.mark_failed(doc_id, f"The file could not be read ({type(exc).__name__}: {exc}).")
                if row is not None and row.message_id is not None:
                    self.document_done.emit(row)   # only attachments have a chip to update
            if todo or folder is not None:
                index.refresh_common_terms()
            if self._hybrid_ready(index):
                self._hybrid.fill(index, should_stop,
                                  lambda n, total: self._emit_progress(n, total, "passages for meaning search"))
            self._emit_progress(len(todo), len(todo), "", force=True)
            self.finished.emit(True)
        except Cancelled:
            self.finished.emit(False)
        except StorageError as exc:   # known (locked, full...); a bug raises
            self.failed.emit(f"Files could not be indexed: {str(exc).rstrip('.')}. They will be indexed next time.")
            self.finished.emit(False)


class ModelScanWorker(OwnerThread):
    """Looks for models on disk (chatapp.models.scan) on its own thread; progress and results as signals."""

    progress = Signal(int, int, str)    # scan id, files looked at, folder
    found = Signal(int, list)           # scan id, [ModelEntry]
    cancelled = Signal(int)
    failed = Signal(int, str)
    _scan_requested = Signal(int, object)

    def __init__(self):
        super().__init__("model-scan")
        self._scan_requested.connect(self._scan)

    def request_scan(self, scan_id: int, make_sources: Callable[[], list]) -> None:
        """make_sources runs on the worker thread too: even checking which folders exist is disk work."""
        self._scan_requested.emit(scan_id, make_sources)

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        return super().shutdown(timeout_ms)

    @Slot(int, object)
    def _scan(self, scan_id: int, make_sources) -> None:
        from ..models import ScanCancelled, scan
        try:
            entries = scan(make_sources(), lambda: self.flags.is_set(scan_id),
                           lambda n, where: self.progress.emit(scan_id, n, where))
            self.found.emit(scan_id, entries)
        except ScanCancelled:
            self.cancelled.emit(scan_id)
        except Exception as exc:  # a scan must never take the thread down
            self.failed.emit(scan_id, failure_message(exc, known=(), unexpected="Looking for models failed"))
        finally:
            self.flags.forget(scan_id)
