"""ImageJobs: the session's half for /image. Queues requests, tracks progress, persists pictures."""
from __future__ import annotations

import itertools
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable

from PySide6.QtCore import QObject, Signal

from .conversation import DONE, ERROR, QUEUED, RENDERING, ImageRequest, Message
from .image_idle import IdleUnloader
from .workers import ImageWorker

_ids = itertools.count(1)


@dataclass
class _Job:
    message: Message
    request: ImageRequest
    started: float = 0.0


class ImageJobs(QObject):
    progress = Signal(int, int, int, float, object)   # message id, step, total, seconds left, preview QImage|None
    state = Signal(str, str)                           # "idle" | "loading" | "ready" | "error", detail

    def __init__(self, session, factory: Callable[[], object]):
        super().__init__()
        self.session, self.storage = session, session.storage
        self._factory = factory
        self._load_requested = False
        self.status = "idle"
        self.defaults: dict = {}
        self.model_name = ""
        self.jobs: dict[int, _Job] = {}
        self.worker = ImageWorker()
        # Only bound methods of this GUI-thread object: a lambda would run on the worker's thread.
        self.worker.loading.connect(self._on_loading)
        self.worker.ready.connect(self._on_ready)
        self.worker.load_failed.connect(self._on_load_failed)
        self.worker.started.connect(self._on_started)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.failed.connect(self._on_failed)
        self.worker.unloaded.connect(self._on_unloaded)
        self.idle = IdleUnloader(self, lambda: session.settings.image_idle_unload_min)

    def _set_state(self, status: str, detail: str) -> None:
        self.status = status
        self.state.emit(status, detail)

    def max_side(self) -> int:
        return int(self.defaults.get("max_size", 2048))

    def set_factory(self, factory: Callable[[], object]) -> None:
        self._factory = factory
        if self._load_requested:
            self.worker.request_load(factory)

    def ensure_loaded(self) -> None:
        """Load lazily: the first /image (or start-up, if Settings say so) pays for it, on the worker."""
        if not self._load_requested:
            self._load_requested = True
            self.worker.request_load(self._factory)

    def unload(self) -> None:
        """Free the image model (idle for a while); the next /image loads it again, with progress shown."""
        if self._load_requested and not self.jobs:
            self._load_requested = False
            self.worker.request_unload()

    def _on_unloaded(self) -> None:
        import gc
        gc.collect()   # on the GUI thread: frees the pipeline if it sat in a reference cycle
        if not self._load_requested:
            self._set_state("idle", "unloaded while idle; loads again with the next picture")

    def _on_loading(self) -> None:
        self._set_state("loading", "Loading image model…")

    def _on_ready(self, info) -> None:
        self.defaults, self.model_name = info.details, info.name
        self._set_state("ready", info.name)

    def _on_load_failed(self, message: str) -> None:
        self._load_requested = False  # a later /image tries again (e.g. after fixing Settings)
        self._set_state("error", message)

    # --- requests -----------------------------------------------------------------------------
    def enqueue(self, conversation_id: int, request: ImageRequest) -> None:
        self.ensure_loaded()
        msg = self.session._guard(self.storage.add_message, conversation_id, "assistant", request.prompt,
                                  kind="image", status=QUEUED, meta={"request": asdict(request)})
        if msg is None:
            return
        rid = next(_ids)
        self.jobs[rid] = _Job(msg, request)
        self.session.message_added.emit(msg)
        self.worker.request_image(rid, request, self.session.paths.images)

    def cancel_message(self, message_id: int) -> None:
        for rid, job in self.jobs.items():
            if job.message.id == message_id:
                self.worker.cancel(rid)

    def cancel_conversation(self, conversation_id: int) -> None:
        for rid, job in self.jobs.items():
            if job.message.conversation_id == conversation_id:
                self.worker.cancel(rid)

    def shutdown_jobs(self) -> None:
        self.idle.timer.stop()   # an active timer must not outlive the app into a GC pass on another thread
        for rid, job in list(self.jobs.items()):
            self.worker.cancel(rid)
            self._drop(rid)

    def remove_files(self, paths: list[str]) -> None:
        for p in paths:
            try:
                os.remove(p)
            except OSError:
                pass

    # --- worker results -----------------------------------------------------------------------
    def _on_started(self, rid: int) -> None:
        job = self.jobs.get(rid)
        if job:
            job.started = time.monotonic()
            job.message.status = RENDERING
            self.session._guard(self.storage.update_message, job.message.id, status=RENDERING)
            self.session.message_changed.emit(job.message)

    def _on_progress(self, rid: int, step: int, total: int, preview) -> None:
        job = self.jobs.get(rid)
        if job is None:
            return
        elapsed = time.monotonic() - job.started
        left = elapsed / step * (total - step) if step else 0.0
        self.progress.emit(job.message.id, step, total, left, preview)

    def _on_finished(self, rid: int, saved: list) -> None:
        job = self.jobs.pop(rid, None)
        if job is None:
            self.remove_files([s.path for s in saved])
            return
        for n, image in enumerate(saved):
            meta = {"request": asdict(image.request), "parameters": image.parameters, "model": self.model_name}
            if n == 0:
                msg = job.message
                msg.status, msg.image_path, msg.meta = DONE, image.path, meta
                self.session._guard(self.storage.update_message, msg.id, status=DONE, image_path=image.path, meta=meta)
                self.session.message_changed.emit(msg)
            else:
                extra = self.session._guard(self.storage.add_message, job.message.conversation_id, "assistant",
                                            image.request.prompt, kind="image", status=DONE, image_path=image.path,
                                            meta=meta)
                if extra:
                    self.session.message_added.emit(extra)

    def _drop(self, rid: int) -> None:
        """A cancelled job leaves nothing behind: no file, no half message."""
        job = self.jobs.pop(rid, None)
        if job:
            self.session._guard(self.storage.delete_message, job.message.id)
            self.session.message_removed.emit(job.message.id)

    def _on_cancelled(self, rid: int) -> None:
        self._drop(rid)

    def _on_failed(self, rid: int, message: str) -> None:
        job = self.jobs.pop(rid, None)
        if job:
            job.message.status, job.message.content = ERROR, message
            job.message.meta["error"] = message
            self.session._guard(self.storage.update_message, job.message.id, status=ERROR, content=message,
                                meta=job.message.meta)
            self.session.message_changed.emit(job.message)
