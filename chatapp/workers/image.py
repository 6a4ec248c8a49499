"""ImageWorker: owns the image engine on its own thread; progress, pictures and cancel."""
from __future__ import annotations

import threading
import traceback
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QImage

from ..conversation import ImageRequest
from ..engines.base import EngineError
from .base import EngineWorker


def pil_to_qimage(image) -> QImage:
    """A deep-copied QImage (safe to send across threads) from a PIL image."""
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    return QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


class ImageWorker(EngineWorker):
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
        self.lora_dirs: list = []                        # where LoRA names are looked up (from Settings)
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
        from ..recipes.png import save_png  # pillow only; cheap
        saved = []
        try:
            for r in results:
                s = save_png(r, out_dir, self.engine.model_name, self.engine.model_hash)
                saved.append(replace(s, notes=list(getattr(r, "notes", []))))
        except BaseException:
            # Picture k of a batch failed to write (a full disk): the ones before it would be files no
            # message points to, so they go too; the error says what happened.
            for s in saved:
                Path(s.path).unlink(missing_ok=True)
            raise
        return saved

    @Slot(int, object, object)
    def _generate(self, request_id: int, request: ImageRequest, out_dir: Path) -> None:
        try:
            if self.flags.is_set(request_id):
                self.cancelled.emit(request_id, [])
                return
            if self.engine is None:
                raise EngineError(self.no_engine_message())
            can = self.engine.capabilities
            if self.chat_busy is not None and can.yields_to_chat:
                self.engine.chat_busy = self.chat_busy.is_set
            if self.threads is not None and can.threads:
                self.engine.threads = self.threads
            if can.loras:
                self.engine.lora_dirs = list(self.lora_dirs)
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
