"""The only place that crosses threads: LlmWorker and ImageWorker, each a QObject on its own QThread.

Requests go in through plain methods that emit private signals (queued into the worker's thread);
results come out as signals. Cancel is a flag read between tokens / steps, never a queued call,
because the worker's thread is busy inside the loop that must notice it.
"""
from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot
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
                for piece in self.engine.stream(messages, params, lambda: self.flags.is_set(request_id), stats):
                    self.token.emit(request_id, piece)
            self.finished.emit(request_id, stats)
        except EngineError as exc:
            self.failed.emit(request_id, str(exc))
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(request_id, f"The model stopped with an error: {exc}")
        finally:
            self.flags.forget(request_id)


def pil_to_qimage(image) -> QImage:
    """A deep-copied QImage (safe to send across threads) from a PIL image."""
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    return QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


class ImageWorker(_Worker):
    started = Signal(int)                        # request id: it left the queue
    progress = Signal(int, int, int, object)     # request id, step, total, preview QImage or None
    finished = Signal(int, list)                 # request id, [SavedImage]
    cancelled = Signal(int)
    failed = Signal(int, str)
    unloaded = Signal()                          # the model was freed (idle); a later load brings it back
    _generate_requested = Signal(int, object, object)
    _unload_requested = Signal()

    def __init__(self):
        super().__init__("image-worker")
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

    @Slot(int, object, object)
    def _generate(self, request_id: int, request: ImageRequest, out_dir: Path) -> None:
        from .png_recipe import save_png  # pillow only; cheap
        try:
            if self.flags.is_set(request_id):
                self.cancelled.emit(request_id)
                return
            if self.engine is None:
                raise EngineError(self.no_engine_message())
            self.started.emit(request_id)

            def on_step(step: int, total: int, preview) -> None:
                self.progress.emit(request_id, step, total, pil_to_qimage(preview) if preview is not None else None)

            results = self.engine.generate(request, on_step, lambda: self.flags.is_set(request_id))
            if self.flags.is_set(request_id) or not results:
                self.cancelled.emit(request_id)
                return
            saved = [save_png(r, out_dir, getattr(self.engine, "model_name", ""),
                              getattr(self.engine, "model_hash", "")) for r in results]
            self.finished.emit(request_id, saved)
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
