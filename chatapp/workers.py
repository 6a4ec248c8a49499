"""The only place that crosses threads: LlmWorker and ImageWorker, each a QObject on its own QThread.

Requests go in through plain methods that emit private signals (queued into the worker's thread);
results come out as signals. Cancel is a flag read between tokens / steps, never a queued call,
because the worker's thread is busy inside the loop that must notice it.
"""
from __future__ import annotations

import itertools
import threading
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QThread, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage

from .conversation import GenParams, ImageRequest
from .engines.base import ChatStats, EngineError


class _CancelFlags:
    """Request ids asked to stop, plus one flag that stops everything (shutdown)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ids: set[int] = set()
        self.all = False

    def cancel(self, request_id: int) -> None:
        with self._lock:
            self._ids.add(request_id)

    def is_set(self, request_id: int) -> bool:
        with self._lock:
            return self.all or request_id in self._ids

    def forget(self, request_id: int) -> None:
        with self._lock:
            self._ids.discard(request_id)


class _Worker(QObject):
    """Shared life cycle: own thread, engine made on that thread, orderly shutdown."""

    loading = Signal()
    ready = Signal(object)          # ModelInfo
    load_failed = Signal(str)
    _load_requested = Signal(object)

    def __init__(self, name: str):
        super().__init__()
        self.engine = None
        self.load_error: str | None = None
        self.flags = _CancelFlags()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.moveToThread(self._thread)
        self._load_requested.connect(self._load)
        self._thread.start()

    def request_load(self, engine_factory: Callable[[], object]) -> None:
        """Build and load an engine on the worker thread (replacing any previous one)."""
        self._load_requested.emit(engine_factory)

    def cancel(self, request_id: int) -> None:
        self.flags.cancel(request_id)

    @property
    def thread_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        """Stop whatever runs, end the thread; True when it ended within the timeout."""
        self.flags.all = True
        self._thread.quit()
        return self._thread.wait(timeout_ms)

    def no_engine_message(self) -> str:
        return self.load_error or "No model is loaded. Choose one in Settings."

    @Slot(object)
    def _load(self, engine_factory) -> None:
        if self.flags.all:
            return
        self.loading.emit()
        self.engine = None
        try:
            engine = engine_factory()
            info = engine.load()
        except EngineError as exc:
            self.load_error = str(exc)
            self.load_failed.emit(self.load_error)
            return
        except Exception as exc:  # an unexpected library error must not kill the thread
            traceback.print_exc()
            self.load_error = f"The model could not be loaded: {exc}"
            self.load_failed.emit(self.load_error)
            return
        self.load_error = None
        self.engine = engine
        self.ready.emit(info)


class LlmWorker(_Worker):
    token = Signal(int, str)        # request id, text piece
    finished = Signal(int, object)  # request id, ChatStats (stats.stopped tells a stop from an end)
    failed = Signal(int, str)
    _generate_requested = Signal(int, object, object)

    def __init__(self):
        super().__init__("llm-worker")
        self.busy = threading.Event()   # set while a reply is computed; the image engine gives a core back
        self._generate_requested.connect(self._generate)

    def request_reply(self, request_id: int, messages: list[dict], params: GenParams) -> None:
        self._generate_requested.emit(request_id, messages, params)

    @Slot(int, object, object)
    def _generate(self, request_id: int, messages: list[dict], params: GenParams) -> None:
        stats = ChatStats()
        try:
            if self.flags.is_set(request_id):
                stats.stopped = True
            elif self.engine is None:
                raise EngineError(self.no_engine_message())
            else:
                self.busy.set()
                for piece in self.engine.stream(messages, params, lambda: self.flags.is_set(request_id), stats):
                    self.token.emit(request_id, piece)
            self.finished.emit(request_id, stats)
        except EngineError as exc:
            self.failed.emit(request_id, str(exc))
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(request_id, f"The model stopped with an error: {exc}")
        finally:
            self.busy.clear()
            self.flags.forget(request_id)


def pil_to_qimage(image) -> QImage:
    """A deep-copied QImage (safe to send across threads) from a PIL image."""
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    return QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


class ImageWorker(_Worker):
    started = Signal(int)                        # request id: it left the queue
    progress = Signal(int, object)               # request id, ImageProgress (preview as QImage or None)
    finished = Signal(int, list)                 # request id, [SavedImage]
    cancelled = Signal(int, list)                # request id, [SavedImage] finished before the cancel
    failed = Signal(int, str)
    unloaded = Signal()                          # the model was freed (idle); a later load brings it back
    _generate_requested = Signal(int, object, object)
    _unload_requested = Signal()

    def __init__(self):
        super().__init__("image-worker")
        self.chat_busy: threading.Event | None = None   # the chat worker's busy flag, when there is one
        self.threads: int | None = None                  # torch threads setting (0 auto); None: the engine's own
        self._generate_requested.connect(self._generate)
        self._unload_requested.connect(self._unload)

    def request_unload(self) -> None:
        """Free the model on the worker thread, after whatever is queued before it."""
        self._unload_requested.emit()

    @Slot()
    def _unload(self) -> None:
        # The pipeline goes with its last reference (torch stays imported). No gc.collect() here: it
        # would also destroy unreachable GUI objects on this thread; the receiver collects instead.
        self.engine = None
        self.unloaded.emit()

    def request_image(self, request_id: int, request: ImageRequest, out_dir: Path) -> None:
        self._generate_requested.emit(request_id, request, out_dir)

    def _save(self, results, out_dir: Path) -> list:
        from .png_recipe import save_png  # pillow only; cheap
        saved = []
        for r in results:
            s = save_png(r, out_dir, getattr(self.engine, "model_name", ""), getattr(self.engine, "model_hash", ""))
            saved.append(replace(s, notes=list(getattr(r, "notes", []))))
        return saved

    @Slot(int, object, object)
    def _generate(self, request_id: int, request: ImageRequest, out_dir: Path) -> None:
        try:
            if self.flags.is_set(request_id):
                self.cancelled.emit(request_id, [])
                return
            if self.engine is None:
                raise EngineError(self.no_engine_message())
            if self.chat_busy is not None and hasattr(self.engine, "chat_busy"):
                self.engine.chat_busy = self.chat_busy.is_set
            if self.threads is not None and hasattr(self.engine, "threads"):
                self.engine.threads = self.threads
            self.started.emit(request_id)

            def on_progress(event) -> None:
                if event.preview is not None:
                    event.preview = pil_to_qimage(event.preview)
                self.progress.emit(request_id, event)

            results = self.engine.generate(request, on_progress, lambda: self.flags.is_set(request_id))
            # Pictures drawn before a stop are kept: the session decides what to do with them.
            saved = self._save(results, out_dir)
            (self.cancelled if len(results) < request.count else self.finished).emit(request_id, saved)
        except EngineError as exc:
            self.failed.emit(request_id, str(exc))
        except OSError as exc:
            self.failed.emit(request_id, f"The picture could not be saved: {exc.strerror or exc}. "
                                         "Free some disk space and try again.")
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(request_id, f"Image generation failed: {exc}")
        finally:
            self.flags.forget(request_id)


class BackgroundCall(QObject):
    """Runs a short blocking function (a network look-up) on Qt's thread pool; the answer comes back as a
    signal, queued to this object's (GUI) thread. For the Settings dialog's model list."""

    done = Signal(int, object)    # call id, result
    failed = Signal(int, str)     # call id, message for the user
    _ids = 0

    def run(self, fn: Callable[[], object]) -> int:
        from PySide6.QtCore import QThreadPool
        BackgroundCall._ids += 1
        call_id = BackgroundCall._ids
        QThreadPool.globalInstance().start(lambda: self._run(call_id, fn))
        return call_id

    def _run(self, call_id: int, fn) -> None:   # on a pool thread
        try:
            result, error = fn(), None
        except EngineError as exc:
            result, error = None, str(exc)
        except Exception as exc:
            result, error = None, f"{type(exc).__name__}: {exc}"
        try:
            if error is None:
                self.done.emit(call_id, result)
            else:
                self.failed.emit(call_id, error)
        except RuntimeError:   # the dialog that asked was closed meanwhile
            pass
class PoolCalls(QObject):
    """Short jobs that are not inference (reading a dropped file) on Qt's thread pool, so a slow
    disk or a hostile file never blocks the GUI. The result comes back as a signal, which Qt
    queues to the receiving GUI-thread object. Jobs must be bounded: the pool is waited on at exit.
    """
    done = Signal(int, object, object)   # call id, result, exception (None when it worked)

    def __init__(self):
        super().__init__()
        self._ids = itertools.count(1)

    def call(self, fn: Callable, *args) -> int:
        call_id = next(self._ids)
        QThreadPool.globalInstance().start(lambda: self._run(call_id, fn, args))
        return call_id

    def _run(self, call_id: int, fn: Callable, args: tuple) -> None:
        try:
            result, error = fn(*args), None
        except Exception as exc:  # handed to the GUI, which says what went wrong
            result, error = None, exc
        self.done.emit(call_id, result, error)
class StoreJob(QThread):
    """An export or import, off the GUI thread. job() opens its own database connection and returns what it did."""

    done = Signal(str)      # what was done, for a notice
    failed = Signal(str)    # a message the user can act on

    def __init__(self, job: Callable[[], str]):
        super().__init__()
        self._job = job

    def run(self) -> None:
        from .storage import StorageError
        from .store import StoreError
        try:
            self.done.emit(self._job())
        except (StoreError, StorageError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # an unexpected error must not kill the app
            traceback.print_exc()
            self.failed.emit(f"That did not work: {exc}")
class DocumentWorker(QObject):
    """Indexes attached files and the library folder on its own thread, one document per transaction.

    Cancel bumps a generation number that the running job compares between pages and documents;
    whatever is left stays 'pending' in the database and is picked up by the next request (or the
    next start, after a crash).
    """

    progress = Signal(int, int, str)     # documents done, documents in this run, file being read
    document_done = Signal(object)       # DocumentRow: ready, or error with its reason
    finished = Signal(bool)              # True: nothing left pending; False: cancelled or failed
    failed = Signal(str)                 # the index itself could not be used (locked, disk full...)
    _index_requested = Signal(object, int)

    def __init__(self, db_path):
        super().__init__()
        self._db_path = str(db_path)
        self._index = None
        self._generation = 0
        self._all_stop = False
        self._thread = QThread()
        self._thread.setObjectName("document-worker")
        self.moveToThread(self._thread)
        self._index_requested.connect(self._run)
        # Normal priority on purpose: at IdlePriority (SCHED_IDLE on Linux) the OS parks the thread
        # while it holds the GIL, and the GUI thread waits for it (measured: 423 ms stalls, not 12).
        self._thread.start()

    def request_index(self, library_folder: str | None = None) -> None:
        """Index every pending document; with a folder, first sync the library with it ("" forgets it)."""
        self._index_requested.emit(library_folder, self._generation)

    def cancel(self) -> None:
        self._generation += 1

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        self._all_stop = True
        self._generation += 1
        self._thread.quit()
        return self._thread.wait(timeout_ms)

    @Slot(object, int)
    def _run(self, folder, generation: int) -> None:
        import sqlite3

        from .documents.extract import Cancelled
        from .documents.index import DocumentIndex

        def should_stop() -> bool:
            return self._all_stop or self._generation != generation

        if should_stop():
            return
        try:
            if self._index is None:
                self._index = DocumentIndex(self._db_path)
            index = self._index
            if folder == "":
                index.forget_library()
            elif folder is not None:
                if Path(folder).expanduser().is_dir():
                    index.sync_library(folder, should_stop)
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
                self.progress.emit(done, len(todo), doc.name)
                try:
                    row = index.index_document(doc_id, should_stop)
                except (Cancelled, sqlite3.Error):
                    raise
                except Exception as exc:   # a library bug on one odd file must not stop the rest
                    traceback.print_exc()
                    row = index.mark_failed(doc_id, f"The file could not be read ({type(exc).__name__}: {exc}).")
                if row is not None:
                    self.document_done.emit(row)
            if todo or folder is not None:
                index.refresh_common_terms()
            self.progress.emit(len(todo), len(todo), "")
            self.finished.emit(True)
        except Cancelled:
            self.finished.emit(False)
        except sqlite3.Error as exc:
            self.failed.emit(f"Files could not be indexed: {exc}. They will be indexed next time.")
            self.finished.emit(False)
class ModelScanWorker(QObject):
    """Looks for models on disk (chatapp.models.scan) on its own thread; progress and results as signals."""

    progress = Signal(int, int, str)    # scan id, files looked at, folder
    found = Signal(int, list)           # scan id, [ModelEntry]
    cancelled = Signal(int)
    failed = Signal(int, str)
    _scan_requested = Signal(int, object)

    def __init__(self):
        super().__init__()
        self.flags = _CancelFlags()
        self._thread = QThread()
        self._thread.setObjectName("model-scan")
        self.moveToThread(self._thread)
        self._scan_requested.connect(self._scan)
        self._thread.start()

    def request_scan(self, scan_id: int, make_sources: Callable[[], list]) -> None:
        """make_sources runs on the worker thread too: even checking which folders exist is disk work."""
        self._scan_requested.emit(scan_id, make_sources)

    def cancel(self, scan_id: int) -> None:
        self.flags.cancel(scan_id)

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        self.flags.all = True
        self._thread.quit()
        return self._thread.wait(timeout_ms)

    @Slot(int, object)
    def _scan(self, scan_id: int, make_sources) -> None:
        from .models import ScanCancelled, scan
        try:
            entries = scan(make_sources(), lambda: self.flags.is_set(scan_id),
                           lambda n, where: self.progress.emit(scan_id, n, where))
            self.found.emit(scan_id, entries)
        except ScanCancelled:
            self.cancelled.emit(scan_id)
        except Exception as exc:  # a scan must never take the thread down
            traceback.print_exc()
            self.failed.emit(scan_id, f"Looking for models failed: {exc}")
        finally:
            self.flags.forget(scan_id)
