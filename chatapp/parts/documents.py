"""The session's documents part (GUI thread): attach files, library on/off, passages for each question, sources.

It is given the message log (its only way to write or read messages), a read-only settings view, a notice
sink and a way to get the open conversation; never the session."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ..branches import text_of, with_text
from ..conversation import Conversation, reply_reserve
from ..documents.context import MIN_BUDGET, estimate_tokens, question_with_sources, select_sources
from ..documents.index import DISK_FULL_TEXT, DocumentIndex, DocumentRow
from ..message_log import MessageLog
from . import Notice, SettingsView
from ..storage import DiskFull, StorageError
from ..workers import DocumentWorker

RESCAN_MS = 120_000   # the library folder is checked for new and changed files this often
INDEX_FULL = ("The disk holding your chats is full, so your files could not be indexed. Free some space: "
              "indexing goes on by itself within two minutes.")
ATTACH_FULL = ("The disk holding your chats is full, so the files were not attached; the command is still in "
               "the box. Free some space, then press Enter again.")
HYBRID_WAIT_MS = 5000  # a question waits this long for the worker's hybrid passages, then goes with BM25's
_question_ids = itertools.count(1)


def chip(row: DocumentRow) -> dict:
    """What an attachment chip shows; kept in the message's meta so a chat reopens as it was."""
    return {"id": row.id, "name": row.name, "path": row.path, "size": row.size, "status": row.status,
            "pages": row.pages, "kind": row.kind, "error": row.error}


class DocumentJobs(QObject):
    progress = Signal(int, int, str)    # done, total, file name (status bar)
    finished = Signal(bool)             # an indexing run ended: True complete, False cancelled

    def __init__(self, log: MessageLog, settings: SettingsView, notice: Notice,
                 open_chat: Callable[[str, str | None], Conversation | None]):
        """open_chat(title, when_full): the open conversation, made with that title if none is open
        (None after a notice)."""
        super().__init__()
        self.log, self.settings, self.notice, self._open_chat = log, settings, notice, open_chat
        database = log.storage.path
        self.read_only = bool(getattr(log.storage, "read_only", False))
        # A throw-away database has no second connection; a read-only one cannot take an index.
        self.available = str(database) != ":memory:" and not self.read_only
        self.index = DocumentIndex(database) if self.available else None
        self.worker = DocumentWorker(database)
        self.worker.document_done.connect(self._on_document_done)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.sources_ready.connect(self._on_sources_ready)
        # question id -> (reply id, messages, question, send, conversation id, library, budget)
        self._waiting: dict[int, tuple] = {}
        self._embedding = settings.embedding_model
        self.busy = False
        self._sources: dict[int, list[dict]] = {}   # reply message id -> sources given to the model
        self._folder = settings.library_folder
        self._retry = False   # indexing stopped on a full disk: the next timer tick tries again
        self._rescan = QTimer(self)
        self._rescan.setInterval(RESCAN_MS)
        self._rescan.timeout.connect(self._rescan_library)
        if self.available:
            if self._embedding:
                self.worker.set_embedding_model(self._embedding)
            # Resume what a crash or a quit left pending, and bring the library up to date.
            self.worker.request_index(self._folder or None)
            self._rescan.start()

    # --- commands -----------------------------------------------------------------------------
    def attach_command(self, paths: list[str]) -> bool:
        """/attach's documents: attached, or said why not where no index can be kept."""
        return self._usable() and self.attach(paths)

    def library_command(self, enabled: bool | None) -> bool:
        """/library on|off (None: its status), or said why not where no index can be kept."""
        return self._usable() and self.set_library(enabled)

    def _usable(self) -> bool:
        if not self.available:
            why = "the data folder is read-only" if self.read_only else "the database is not saved in this session"
            self.notice(f"Files cannot be attached: {why}.")
        return self.available

    def attach(self, paths: list[str]) -> bool:
        """Attach files to the open conversation (creating it); they are indexed in the background."""
        if not paths or not self.available:
            return False
        names = [Path(p).name or p for p in paths]
        conv = self._open_chat("Files: " + ", ".join(names), ATTACH_FULL)
        # Announced once its chips are known: the bubble never shows a bare file list.
        msg = conv and self.log.add(conv.id, "user", "Attached: " + ", ".join(names), kind="attachment",
                                    when_full=ATTACH_FULL, announce=False)
        if not msg:
            return False
        try:
            rows = [self.index.add_attachment(conv.id, p, msg.id) for p in paths]
        except StorageError as exc:
            self.notice(ATTACH_FULL if isinstance(exc, DiskFull) else f"The files could not be attached: {exc}")
            self.log.remove(msg.id, announce=False)
            return False
        self.log.update(msg, meta={"attachments": [chip(r) for r in rows]}, announce=False)
        self.log.added(msg)
        self.worker.request_index(None)
        return True

    def set_library(self, enabled: bool | None) -> bool:
        folder = self.settings.library_folder
        if not folder:
            self.notice("No library folder is set. Choose one in Settings (Library folder).")
            return enabled is None
        conv = self._open_chat("Library", None)
        if conv is None:
            return False
        try:
            if enabled is not None:
                self.index.set_library_enabled(conv.id, enabled)
            on = self.index.library_enabled(conv.id)
            ready, pending = self.index.library_size()
        except StorageError as exc:
            self.notice(f"The library setting could not be saved: {exc}")
            return False
        more = f", {pending} still being indexed" if pending else ""
        self.notice(f"Library {'on' if on else 'off'} in this chat: {folder} ({ready} files{more}).")
        return True

    def cancel(self) -> None:
        self.worker.cancel()

    # --- settings -----------------------------------------------------------------------------
    def apply_settings(self, settings) -> None:
        if settings.embedding_model != self._embedding and self.available:
            # A new model: its vectors are built in the background (the old ones serve no question now).
            self._embedding = settings.embedding_model
            self.worker.cancel()
            self.worker.set_embedding_model(self._embedding)
            if settings.library_folder == self._folder:
                self.worker.request_index(None)
        if settings.library_folder != self._folder and self.available:
            self._folder = settings.library_folder
            self.worker.cancel()
            self.worker.request_index(self._folder or "")

    def _rescan_library(self) -> None:
        if (self._folder or self._retry) and not self.busy:
            self._retry = False
            self.worker.request_index(self._folder or None)

    def _on_failed(self, message: str) -> None:
        """The worker's words, except for a full disk: what to do, and a retry without a restart."""
        if DISK_FULL_TEXT in message:
            self._retry = True
            message = INDEX_FULL
        self.notice(message)

    # --- questions ----------------------------------------------------------------------------
    def augment(self, conversation, messages: list[dict], reply, send: Callable[[list[dict]], None],
                n_ctx: int = 0) -> None:
        """Call send(history with the question's sources put in front of it) now, or, with an
        embedding model, once the document worker has found them (it owns that model).
        n_ctx: the loaded chat model's context (0: Settings' n_ctx)."""
        if not self.available or not messages or messages[-1]["role"] != "user":
            send(messages)
            return
        n_ctx = n_ctx or self.settings.n_ctx
        reserve = reply_reserve(self.settings.max_tokens, n_ctx)
        room = n_ctx - reserve - 64
        budget = room - sum(estimate_tokens(text_of(m["content"])) + 8 for m in messages)
        if budget < MIN_BUDGET:
            # Old turns will be dropped to make room anyway: give the files half of it.
            first_and_last = [messages[0], messages[-1]] if len(messages) > 1 else messages
            budget = room // 2 - sum(estimate_tokens(text_of(m["content"])) + 8 for m in first_and_last)
        question = text_of(messages[-1]["content"])
        try:
            library = bool(self._folder) and self.index.library_enabled(conversation.id)
        except StorageError as exc:
            self.notice(f"Your files could not be searched: {exc}")
            send(messages)
            return
        if self._embedding and budget >= MIN_BUDGET:
            qid = next(_question_ids)
            self._waiting[qid] = (reply.id, messages, question, send, conversation.id, library, budget)
            self.worker.request_sources(qid, question, conversation.id, library, budget)
            QTimer.singleShot(HYBRID_WAIT_MS, self, lambda: self._on_sources_ready(qid, None))
            return
        send(self._with_sources(reply.id, messages, question, self._bm25(question, conversation.id, library, budget)))

    def _bm25(self, question: str, conversation_id: int, library: bool, budget: int) -> list | None:
        try:
            return select_sources(self.index, question, conversation_id, budget, library=library)
        except StorageError as exc:
            self.notice(f"Your files could not be searched: {exc}")
            return None

    def _with_sources(self, reply_id: int, messages: list[dict], question: str, sources) -> list[dict]:
        if not sources:
            return messages
        self._sources[reply_id] = [src.as_meta() for src in sources]
        last = messages[-1]["content"]   # a picture's parts stay after the text
        return messages[:-1] + [{"role": "user", "content": with_text(last, question_with_sources(question, sources))}]

    def _on_sources_ready(self, qid: int, sources) -> None:
        """The worker's hybrid passages, or (None) its failure or the wait running out: BM25's instead."""
        waiting = self._waiting.pop(qid, None)
        if waiting is None:
            return   # answered already (late worker answer, or the timer after the answer)
        reply_id, messages, question, send, conversation_id, library, budget = waiting
        if sources is None:
            sources = self._bm25(question, conversation_id, library, budget)
        send(self._with_sources(reply_id, messages, question, sources))

    def reply_finished(self, message_id: int) -> None:
        """A reply ended: the sources it was given go into its meta (shown under it, kept on reopening)."""
        sources = self._sources.pop(message_id, None)
        if not sources:
            return
        msg = self.log.message(message_id)
        if msg is None or msg.status not in ("done", "stopped"):
            return
        self.log.update(msg, meta={**msg.meta, "sources": sources})

    # --- worker results -----------------------------------------------------------------------
    def _on_progress(self, done: int, total: int, name: str) -> None:
        self.busy = done < total
        self.progress.emit(done, total, name)

    def _on_finished(self, complete: bool) -> None:
        self.busy = False
        self.finished.emit(complete)

    def _on_document_done(self, row: DocumentRow) -> None:
        if row.message_id is None:
            return
        msg = self.log.message(row.message_id)
        if msg is None:
            return
        chips = [chip(row) if c.get("id") == row.id else c for c in msg.meta.get("attachments", [])]
        self.log.update(msg, meta={**msg.meta, "attachments": chips})

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        self._rescan.stop()
        return self.worker.shutdown(timeout_ms)
