"""ChatSession: the GUI thread's owner of state. Routes input, persists every step, drives the workers."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Callable

from PySide6.QtCore import QObject, Signal

from . import commands
from .conversation import DONE, ERROR, STOPPED, STREAMING, Conversation, Message
from .document_jobs import DocumentJobs
from .engine_factories import image_factory, llm_factory
from .engines.base import ChatStats, ModelInfo
from .image_jobs import ImageJobs
from .settings import Paths, Settings
from .storage import Storage, StorageError
from .workers import LlmWorker

_request_ids = itertools.count(1)
OPEN_PAGE = 60       # messages shown when a conversation opens; older ones load on scrolling up
FLUSH_EVERY_S = 2.0  # partial replies reach the database this often, so a crash keeps most of one


@dataclass
class _Reply:
    message: Message
    text: str = ""
    last_flush: float = field(default_factory=time.monotonic)


def title_from(text: str, limit: int = 48) -> str:
    line = " ".join(text.strip().split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


class ChatSession(QObject):
    conversations_changed = Signal()
    conversation_opened = Signal(object, list)   # Conversation | None, [Message]
    message_added = Signal(object)               # Message
    message_changed = Signal(object)             # Message (status, content or picture changed)
    message_removed = Signal(int)
    reply_text = Signal(int, str)                # message id, whole text so far
    notice = Signal(str)                         # transient inline message (not saved)
    llm_state = Signal(str, str)                 # "loading" | "ready" | "error", detail
    stats_changed = Signal(object)               # ChatStats of the last reply
    busy_changed = Signal(bool)                  # a reply is streaming in the open conversation
    reply_finished = Signal(int)                 # message id: the reply ended (done, stopped, failed or dropped)

    def __init__(self, storage: Storage, settings: Settings, paths: Paths, *,
                 llm_engine_factory: Callable[[], object] | None = None,
                 image_engine_factory: Callable[[], object] | None = None):
        super().__init__()
        self.storage, self.settings, self.paths = storage, settings, paths
        self._llm_factory = llm_engine_factory
        self.current: Conversation | None = None
        self.llm_info: ModelInfo | None = None
        self.llm_status = "idle"
        self._replies: dict[int, _Reply] = {}
        self.llm = LlmWorker()
        # Worker signals go only to bound methods of this GUI-thread QObject, so Qt queues them
        # here; a lambda would run on the worker's thread and race with the GUI.
        self.llm.loading.connect(self._on_llm_loading)
        self.llm.ready.connect(self._on_llm_ready)
        self.llm.load_failed.connect(self._on_llm_failed)
        self.llm.token.connect(self._on_token)
        self.llm.finished.connect(self._on_reply_finished)
        self.llm.failed.connect(self._on_reply_failed)
        self.images = ImageJobs(self, image_engine_factory or image_factory(settings))
        self.documents = DocumentJobs(self)   # attached files + library: indexing, passages, sources

    # --- models -------------------------------------------------------------------------------
    def load_models(self) -> None:
        """Start loading after the window is shown: everything heavy happens on the workers."""
        self._set_llm_state("loading", "Loading model…")
        self.llm.request_load(self._llm_factory or llm_factory(self.settings))
        if self.settings.preload_image_model:
            self.images.ensure_loaded()

    def apply_settings(self, settings: Settings, *, reload_llm: bool, reload_image: bool) -> None:
        self.settings = settings
        if reload_llm:
            self._llm_factory = None
            self._set_llm_state("loading", "Loading model…")
            self.llm.request_load(llm_factory(settings))
        if reload_image:
            self.images.set_factory(image_factory(settings))
        self.documents.apply_settings(settings)

    def _set_llm_state(self, state: str, detail: str) -> None:
        self.llm_status = state
        self.llm_state.emit(state, detail)

    def _on_llm_loading(self) -> None:
        self._set_llm_state("loading", "Loading model…")

    def _on_llm_failed(self, message: str) -> None:
        self._set_llm_state("error", message)

    def _on_llm_ready(self, info: ModelInfo) -> None:
        self.llm_info = info
        self._set_llm_state("ready", info.name)

    # --- conversations ------------------------------------------------------------------------
    def conversations(self, query: str = "") -> list[Conversation]:
        """All conversations, newest first; with a query, those whose title or text matches."""
        found = self._guard(self.storage.search_conversations, query) if query.strip() else \
            self._guard(self.storage.conversations)
        return found or []

    def new_conversation(self) -> None:
        """Ctrl+N: an empty view; the conversation is created by its first message."""
        self.current = None
        self.conversation_opened.emit(None, [])
        self.busy_changed.emit(False)

    def open_conversation(self, conversation_id: int, page: int = OPEN_PAGE) -> None:
        self.current = self.storage.conversation(conversation_id)
        messages = self.storage.messages(conversation_id, limit=page) if self.current else []
        self.conversation_opened.emit(self.current, messages)
        self.busy_changed.emit(self._streaming_here())

    def older_messages(self, before_id: int, page: int = 100) -> list[Message]:
        return self.storage.messages(self.current.id, limit=page, before_id=before_id) if self.current else []

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        if title.strip():
            self._guard(self.storage.rename_conversation, conversation_id, title_from(title, 120))
            self.conversations_changed.emit()

    def set_system_prompt(self, conversation_id: int, prompt: str | None) -> None:
        self._guard(self.storage.set_system_prompt, conversation_id, prompt or None)
        if self.current and self.current.id == conversation_id:
            self.current.system_prompt = prompt or None

    def delete_conversation(self, conversation_id: int) -> None:
        for rid, reply in list(self._replies.items()):
            if reply.message.conversation_id == conversation_id:
                self.llm.cancel(rid)
        self.images.cancel_conversation(conversation_id)
        paths = self._guard(self.storage.delete_conversation, conversation_id) or []
        self.images.remove_files(paths)
        if self.current and self.current.id == conversation_id:
            self.new_conversation()
        self.conversations_changed.emit()

    def _ensure_conversation(self, first_text: str) -> Conversation:
        if self.current is None:
            self.current = self.storage.create_conversation(title_from(first_text))
            self.conversations_changed.emit()
        return self.current

    def _guard(self, fn, *args, **kwargs):
        """Run a storage call; a storage problem becomes a notice, never a crash."""
        try:
            return fn(*args, **kwargs)
        except StorageError as exc:
            self.notice.emit(str(exc))
            return None

    # --- input --------------------------------------------------------------------------------
    def submit(self, text: str) -> bool:
        """Handle what the user typed. Returns True when it was accepted (the composer clears)."""
        try:
            parsed = commands.parse_input(text, self.images.max_side())
        except commands.CommandError as exc:
            self.notice.emit(str(exc))
            return False
        if isinstance(parsed, commands.HelpRequest):
            self.notice.emit(commands.help_text())
            return True
        if isinstance(parsed, (commands.AttachRequest, commands.LibraryRequest)):
            return self.documents.handle(parsed)
        if isinstance(parsed, commands.ChatTurn):
            if self._streaming_here():
                self.notice.emit("A reply is still coming. Wait for it, or press Esc to stop it.")
                return False
            conv = self._guard(self._ensure_conversation, text)
            user = conv and self._guard(self.storage.add_message, conv.id, "user", text)
            if not user:
                return False
            self.message_added.emit(user)
            self._start_reply(conv)
            return True
        return self.submit_image(parsed, text.strip())

    def submit_image(self, request, command: str | None = None) -> bool:
        """Queue a picture (from /image, or Re-run / Vary seed, which skip the parser)."""
        conv = self._guard(self._ensure_conversation, request.prompt)
        user = conv and self._guard(self.storage.add_message, conv.id, "user", command or request.command())
        if not user:
            return False
        self.message_added.emit(user)
        self.images.enqueue(conv.id, request)
        self.conversations_changed.emit()
        return True

    def history_for_model(self, conversation: Conversation) -> list[dict]:
        system = conversation.system_prompt if conversation.system_prompt is not None else self.settings.system_prompt
        msgs = [{"role": "system", "content": system}] if system.strip() else []
        for m in self.storage.messages(conversation.id):
            if m.kind == "text" and m.role in ("user", "assistant") and m.status in (DONE, STOPPED) and m.content:
                msgs.append({"role": m.role, "content": m.content})
        return msgs

    def _start_reply(self, conv: Conversation) -> None:
        messages = self.history_for_model(conv)
        waiting = self.llm_status != "ready"
        reply = self._guard(self.storage.add_message, conv.id, "assistant", "", status=STREAMING,
                            meta={"waiting": waiting} if waiting else {})
        if reply is None:
            return
        rid = next(_request_ids)
        self._replies[rid] = _Reply(reply)
        self.message_added.emit(reply)
        self.conversations_changed.emit()
        self.busy_changed.emit(True)
        messages = self.documents.augment(conv, messages, reply)   # passages from attached files / library
        self.llm.request_reply(rid, messages, self.settings.gen_params())

    def regenerate(self) -> None:
        """Replace the last reply of the open conversation with a new one."""
        if not self.current or self._streaming_here():
            return
        last = self.storage.messages(self.current.id, limit=1)
        if not last or last[0].role != "assistant" or last[0].kind != "text":
            self.notice.emit("There is no reply to regenerate.")
            return
        self._guard(self.storage.delete_message, last[0].id)
        self.message_removed.emit(last[0].id)
        self._start_reply(self.current)

    def stop(self) -> None:
        for rid, reply in self._replies.items():
            if self.current and reply.message.conversation_id == self.current.id:
                self.llm.cancel(rid)

    def _streaming_here(self) -> bool:
        return bool(self.current) and any(r.message.conversation_id == self.current.id for r in self._replies.values())

    # --- worker results -----------------------------------------------------------------------
    def _on_token(self, rid: int, piece: str) -> None:
        reply = self._replies.get(rid)
        if reply is None:
            return
        reply.text += piece
        self.reply_text.emit(reply.message.id, reply.text)
        if time.monotonic() - reply.last_flush > FLUSH_EVERY_S:
            reply.last_flush = time.monotonic()
            self._guard(self.storage.update_message, reply.message.id, content=reply.text)

    def _end_reply(self, rid: int, status: str, content: str, meta: dict) -> None:
        reply = self._replies.pop(rid, None)
        if reply is None:
            return
        msg = reply.message
        msg.content, msg.status, msg.meta = content, status, meta
        self._guard(self.storage.update_message, msg.id, content=content, status=status, meta=meta)
        self.message_changed.emit(msg)
        if self.current and msg.conversation_id == self.current.id:
            self.busy_changed.emit(self._streaming_here())
        self.reply_finished.emit(msg.id)

    def _drop_reply(self, rid: int) -> None:
        """A reply stopped before its first token leaves no empty message behind."""
        reply = self._replies.pop(rid)
        self._guard(self.storage.delete_message, reply.message.id)
        self.message_removed.emit(reply.message.id)
        self.busy_changed.emit(self._streaming_here())
        self.reply_finished.emit(reply.message.id)

    def _on_reply_finished(self, rid: int, stats: ChatStats) -> None:
        reply = self._replies.get(rid)
        if reply is None:
            return
        if stats.stopped and not reply.text:
            self._drop_reply(rid)
            return
        meta = {"ttft_ms": round(stats.ttft_s * 1000), "tokens_per_s": round(stats.tokens_per_s, 1),
                "context": [stats.context_used, stats.n_ctx], "dropped": stats.dropped_messages}
        self._end_reply(rid, STOPPED if stats.stopped else DONE, reply.text, meta)
        self.stats_changed.emit(stats)

    def _on_reply_failed(self, rid: int, message: str) -> None:
        reply = self._replies.get(rid)
        if reply is not None:
            self._end_reply(rid, ERROR if not reply.text else STOPPED, reply.text or message, {"error": message})

    # --- shutdown -----------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 1500) -> bool:
        """Keep partial replies (marked stopped), cancel renders, end both threads."""
        for rid, reply in list(self._replies.items()):
            self.llm.cancel(rid)
            if reply.text:
                self._end_reply(rid, STOPPED, reply.text, {})
            else:
                self._drop_reply(rid)
        self.images.shutdown_jobs()
        ok_docs = self.documents.shutdown(timeout_ms)
        ok_llm = self.llm.shutdown(timeout_ms)
        ok_img = self.images.worker.shutdown(timeout_ms)
        return ok_llm and ok_img and ok_docs
