"""ImageJobs: the session's part for /image. Queues requests, tracks progress, persists pictures.

It is given the message log (its only way to write messages), a read-only settings view, the data paths, a
notice sink and its engine factory; never the session."""
from __future__ import annotations

import itertools
import os
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ..conversation import CANCELLED, DONE, ERROR, QUEUED, RENDERING, ImageRequest, Message
from .edits import EditChecks, masks_of, number_meta
from ..engines.lora import listing as lora_listing, lora_folders
from ..message_log import MessageLog
from ..parts import Notice, SettingsView
from ..recipes import RecipeError
from ..recipes.request import ModelLimits
from ..settings import Paths, Settings
from .idle import IdleUnloader
from .progress import ImageStatus, ProgressTracker
from ..workers import Calls, ImageWorker

_ids = itertools.count(1)


def with_user_defaults(request: ImageRequest, settings: Settings | SettingsView) -> ImageRequest:
    """Settings' default steps, guidance and size fill in what the command left out. Per request,
    so changing them in Settings reloads nothing (it used to rebuild the whole pipeline)."""
    width = height = None
    w, _, h = settings.image_size.partition("x")
    if w.isdigit() and h.isdigit() and not request.init:   # an edit is drawn at its picture's size
        width, height = int(w), int(h)
    return replace(request, steps=request.steps or settings.image_steps or None,
                   cfg=request.cfg if request.cfg is not None else (settings.image_cfg or None),
                   width=request.width or width, height=request.height or height)


@dataclass
class _Job:
    message: Message
    request: ImageRequest
    started: float = 0.0
    tracker: ProgressTracker | None = None
    cancelling: bool = False
    discarded: bool = False    # its conversation was deleted: keep nothing
    closing: bool = False      # the app is closing: keep the pictures it finished, drop the rest
    size_from_settings: bool = False   # no --size: the size is Settings' default (a size problem says so)


class ImageJobs(QObject):
    progress = Signal(int, object)    # message id, ImageStatus (text, bar, preview, hint)
    state = Signal(str, str)          # "idle" | "loading" | "ready" | "error", detail
    # A job ended: its message id, how ("done" | "cancelled" | "error" | "dropped": nothing kept) and the ids
    # of the messages showing its pictures (a tool waiting for its picture reads it: assistant/services.py).
    job_ended = Signal(int, str, list)

    def __init__(self, log: MessageLog, settings: SettingsView, paths: Paths, notice: Notice,
                 factory: Callable[[], object], chat_busy=None):
        """chat_busy: the chat worker's busy flag (a picture's CPU threads give way to a reply)."""
        super().__init__()
        # Messages are written through the message log (save first, then announce); reads go to its storage.
        self.log, self.storage, self.settings, self.paths, self.notice = log, log.storage, settings, paths, notice
        self._factory = factory
        self._load_requested = False
        self.status = "idle"
        self.defaults: dict = {}
        self.model_name = ""
        self.jobs: dict[int, _Job] = {}
        self.calibration: dict = {}   # measured decode speed, shared by later jobs' estimates
        self.worker = ImageWorker()
        self.worker.chat_busy = chat_busy
        # Steps of a big model take ~20 s on a CPU: the estimate counts down between them.
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._on_tick)
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
        self.idle = IdleUnloader(self, lambda: settings.image_idle_unload_min)
        self.edits = EditChecks(log, notice)   # --init: files checked off the GUI thread before queueing
        self.files = Calls()                     # /loras: the LoRA folders are listed off the GUI thread
        self.files.done.connect(self._on_listed)
        self._loras_call = 0

    def _set_state(self, status: str, detail: str) -> None:
        self.status = status
        self.state.emit(status, detail)

    def limits(self) -> ModelLimits:
        """The loaded model's limits; generic ones (2048 a side) until it has loaded."""
        return ModelLimits.from_defaults(self.model_name, self.defaults)

    def set_factory(self, factory: Callable[[], object]) -> None:
        self._factory = factory
        if self._load_requested:
            self.worker.request_load(factory)

    def ensure_loaded(self) -> None:
        """Load lazily: the first /image (or start-up, if Settings say so) pays for it, on the worker."""
        if not self._load_requested:
            self._load_requested = True
            self.worker.request_load(self._factory)

    def _waiting(self) -> list[tuple[int, _Job]]:
        return [(rid, job) for rid, job in self.jobs.items() if not job.started and not job.cancelling]
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
        for _, job in self._waiting():
            self.progress.emit(job.message.id, ImageStatus("Loading image model…"))

    def _on_ready(self, info) -> None:
        self.defaults, self.model_name = info.details, info.name
        self._set_state("ready", info.name)
        if info.details.get("memory_warning"):
            self.notice(info.details["memory_warning"])
        for note in info.details.get("kind_notes", ()):   # a single file's kind guessed, e.g. SD 2 v-prediction
            self.notice(f"{info.name}: {note}")
        for rid, job in self._waiting():
            # The parser knew only a generic size limit before the model loaded.
            problem = self.size_problem(job.request, job.size_from_settings)
            if problem:
                self.worker.cancel(rid)
                self._on_failed(rid, problem)
            else:
                self.progress.emit(job.message.id, ImageStatus("Queued", 0.0))

    def size_problem(self, request: ImageRequest, from_settings: bool = False) -> str:
        """What the loaded model refuses in this request (the recipe's validation), "" when it fits."""
        limits = self.limits()
        try:
            request.validate(limits)
        except RecipeError as exc:
            if not (from_settings and exc.rule == "max_side"):
                return str(exc)
            # The user typed no --size: say where the size came from, and how to change it.
            fits = f"{limits.fits[0]}x{limits.fits[1]}" if limits.fits else "512x512"
            return (f"The default picture size in Settings ({request.width}x{request.height}) is larger than "
                    f"{self.model_name} allows ({limits.max_side}x{limits.max_side} at most). Change Size under "
                    f"Settings > Images (empty uses the model's own, {fits}), or add --size {fits} to this /image.")
        return ""

    def _on_load_failed(self, message: str) -> None:
        self._load_requested = False  # a later /image tries again (e.g. after fixing Settings)
        self._set_state("error", message)

    # --- requests -----------------------------------------------------------------------------
    def enqueue(self, conversation_id: int, request: ImageRequest, parent_id: int | None = None,
                meta: dict | None = None) -> Message | None:
        """Queue a picture; its message answers parent_id (the /image message, or a tool's call) and becomes the
        leaf. meta: more for the message's meta (a tool's call id). Returns its message (None: not queued)."""
        if request.init and (request.init == "last" or request.init.startswith("#")):
            request = self.edits.resolve_now(conversation_id, request)   # an edited message's /image ... --init #N
            if request is None:
                return None
        self.ensure_loaded()
        from_settings = not (request.width and request.height)
        request = with_user_defaults(request, self.settings)
        from_settings = from_settings and bool(request.width)
        numbers = self.log.guard(number_meta, self.storage, conversation_id, request) or {}   # "#N", "edited from"
        msg = self.log.add(conversation_id, "assistant", request.prompt, kind="image", status=QUEUED,
                           meta={"request": asdict(request), **numbers, **(meta or {})}, parent_id=parent_id,
                           make_current=True)
        if msg is None:
            return None
        rid = next(_ids)
        self.jobs[rid] = _Job(msg, request, size_from_settings=from_settings)
        problem = self.size_problem(request, from_settings) if self.status == "ready" else ""
        if problem:   # the model is loaded, so its limit is known: the engine would refuse it anyway
            self._on_failed(rid, problem)
            return msg
        if self.status == "loading":
            self.progress.emit(msg.id, ImageStatus("Loading image model…"))
        self.worker.threads = getattr(self.settings, "image_threads", None)
        self.worker.lora_dirs = self.lora_dirs()   # read by the engine when the render starts
        self.worker.request_image(rid, request, self.paths.images)
        return msg

    def lora_dirs(self) -> list:
        """Where LoRA names are looked up: the Settings folder (or <data dir>/loras), then chatapp's own."""
        return lora_folders(self.settings.lora_folder, self.paths.data_dir)

    def model_path(self):
        """The local image model's path (the LoRAs offered are those made for its kind); None for a server's."""
        from ..backends import image_backend
        from ..backends.local import image_model_path
        return None if image_backend(self.settings).remote else image_model_path(self.settings)

    def list_loras(self) -> None:
        """/loras: the LoRAs in the folders, told as a notice once read (on the thread pool, like a dropped file)."""
        self._loras_call = self.files.call(lora_listing, self.lora_dirs())

    def _on_listed(self, call_id: int, listing, error) -> None:
        if call_id == self._loras_call:   # the listing, or why there is none
            self.notice(listing if error is None else f"Could not list the LoRAs: {error}")

    def cancel_message(self, message_id: int) -> None:
        for rid, job in list(self.jobs.items()):
            if job.message.id == message_id:
                self._cancel(rid, job)

    def cancel_messages(self, message_ids: set[int]) -> None:
        """Their branch is being deleted: stop them and keep nothing."""
        for rid, job in list(self.jobs.items()):
            if job.message.id in message_ids:
                job.discarded = True
                self._cancel(rid, job)

    def cancel_conversation(self, conversation_id: int) -> None:
        for rid, job in list(self.jobs.items()):
            if job.message.conversation_id == conversation_id:
                job.discarded = True
                self._cancel(rid, job)

    def _cancel(self, rid: int, job: _Job) -> None:
        """Say so at once; a job that has not started (queued, or waiting for the model) ends now,
        a running one at the next UNet block (the worker checks the flag)."""
        self.worker.cancel(rid)
        if not job.started:
            self._on_cancelled(rid, [])
        elif not job.cancelling:
            job.cancelling = True
            self.progress.emit(job.message.id, ImageStatus("Cancelling…", None, cancellable=False))

    def shutdown_jobs(self) -> None:
        """Closing: a job not started leaves nothing; a running one stops at its next block, and the
        pictures of its batch already drawn are kept (the worker sends them while the session waits)."""
        self.idle.timer.stop()   # an active timer must not outlive the app into a GC pass on another thread
        for rid, job in list(self.jobs.items()):
            self.worker.cancel(rid)
            if job.started:
                job.closing = True
            else:
                self._drop(rid)
        self._idle_tick()

    def _idle_tick(self) -> None:
        """Stop the countdown timer once nothing renders. It must not outlive the jobs: if Python's
        garbage collector later frees this object on a worker thread, an active timer there is
        "killTimer from another thread" and then a crash (seen in the test suite)."""
        if not any(job.tracker is not None for job in self.jobs.values()):
            self._tick.stop()

    def remove_files(self, paths: list[str]) -> None:
        """Deleted pictures' files, and the masks painted on them (no other picture's recipe is left to use them)."""
        for p in paths:
            for path in (p, *masks_of(p, self.paths.images)):
                try:
                    os.remove(path)
                except OSError:
                    pass

    # --- worker results -----------------------------------------------------------------------
    def _on_started(self, rid: int) -> None:
        job = self.jobs.get(rid)
        if job:
            job.started = time.monotonic()
            job.tracker = ProgressTracker(job.started, device=self.defaults.get("device", "cpu"),
                                          calibration=self.calibration)
            self.log.update(job.message, status=RENDERING)
            self._tick.start()

    def _on_progress(self, rid: int, event) -> None:
        job = self.jobs.get(rid)
        if job is None or job.tracker is None:
            return
        status = job.tracker.event(event, time.monotonic())
        if status is not None and not job.cancelling:
            self.progress.emit(job.message.id, status)

    def _on_tick(self) -> None:
        running = [job for job in self.jobs.values() if job.tracker is not None]
        self._idle_tick()
        for job in running:
            status = None if job.cancelling else job.tracker.status(time.monotonic())
            if status is not None:
                self.progress.emit(job.message.id, status)

    def _persist(self, job: _Job, saved: list, last_note: str = "") -> list[int]:
        """The first picture fills the job's message; more pictures (--n) become messages of their own.
        Returns the ids of the messages showing them."""
        previous = job.message
        ids = []
        for n, image in enumerate(saved):
            meta = {"request": asdict(image.request), "parameters": image.parameters, "model": self.model_name}
            keep = ("number", "source_id", "edited_from", "tool_call_id") if n == 0 else \
                ("source_id", "edited_from", "tool_call_id")
            meta.update({k: job.message.meta[k] for k in keep if k in job.message.meta})   # the number stays
            if n > 0:
                meta["number"] = (self.log.guard(number_meta, self.storage, job.message.conversation_id,
                                                 image.request) or {}).get("number")
            notes = [*getattr(image, "notes", []), *([last_note] if last_note and n == len(saved) - 1 else [])]
            if notes:
                meta["note"] = " ".join(notes)
            if n == 0:
                self.log.update(job.message, status=DONE, image_path=image.path, meta=meta)
                ids.append(job.message.id)
            else:
                # Spliced in after the previous picture, so a batch stays together even when the
                # conversation went on while it rendered.
                extra = self.log.add(job.message.conversation_id, "assistant", image.request.prompt, kind="image",
                                     status=DONE, image_path=image.path, meta=meta, parent_id=previous.id, splice=True)
                if extra is None:   # not saved (a full disk): its file would be an orphan nothing points to
                    self.remove_files([image.path])
                else:
                    ids.append(extra.id)
                previous = extra or previous
        return ids

    def _gone(self, job: _Job | None) -> bool:
        """Cancelled for good, or its chat (or branch) was deleted just as it finished."""
        return job is None or job.discarded or self.log.message(job.message.id) is None

    def _ended(self, job: _Job | None, how: str, ids: list[int] = ()) -> None:
        if job is not None:
            self.job_ended.emit(job.message.id, how, list(ids))

    def _on_finished(self, rid: int, saved: list) -> None:
        job = self.jobs.pop(rid, None)
        self._idle_tick()
        if self._gone(job):
            self.remove_files([s.path for s in saved])   # no orphan files, no notice
            self._ended(job, "dropped")
            return
        self._ended(job, "done", self._persist(job, saved))

    def _drop(self, rid: int) -> None:
        """At shutdown an unfinished job leaves nothing behind: no file, no half message."""
        job = self.jobs.pop(rid, None)
        if job:
            self.log.remove(job.message.id)
            self._ended(job, "dropped")

    def _on_cancelled(self, rid: int, saved: list) -> None:
        """Pictures finished before Cancel are kept; what was not drawn leaves a short note."""
        job = self.jobs.pop(rid, None)
        self._idle_tick()
        if self._gone(job):
            self.remove_files([s.path for s in saved])
            self._ended(job, "dropped")
            return
        if saved:
            why = "chatapp was closed" if job.closing else "Cancelled"
            note = f"{why} before picture {len(saved) + 1} of {job.request.count}."
            self._ended(job, "cancelled", self._persist(job, saved, note))
            return
        if job.closing:   # closed before its first picture: no half message
            self.log.remove(job.message.id)
            self._ended(job, "dropped")
            return
        self.log.update(job.message, status=CANCELLED, meta={**job.message.meta, "note": "Cancelled"})
        self._ended(job, "cancelled", [job.message.id])

    def _on_failed(self, rid: int, message: str) -> None:
        job = self.jobs.pop(rid, None)
        self._idle_tick()
        if job and not job.discarded:
            self.log.update(job.message, status=ERROR, content=message, meta={**job.message.meta, "error": message})
        self._ended(job, "dropped" if job and job.discarded else "error", [job.message.id] if job else [])
