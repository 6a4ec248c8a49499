"""ChatSession, the conductor on the GUI thread: routes input to its parts (replies, pictures, documents), wires
them to the message log, a read-only settings view and its notice signal, and is the window's only way in."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QCoreApplication, QObject, Signal

from . import backends, branches
from .branches import title_from
from .conversation import Conversation, ImageRequest, Message
from .parts.documents import DocumentJobs
from .engines.base import ChatCapabilities, ModelInfo
from .message_log import MessageLog
from .parts import SettingsView
from .pictures.edits import edit_command, mask_path
from .pictures.jobs import ImageJobs
from .recipes import RecipeError
from .recipes.command import image_command
from .parts.replies import Replies
from .settings import Paths, Settings
from .storage import Storage
from .tools import drawing_intent
from .session_doors.commands import CommandDoors
from .session_doors.tools import SEND_AGAIN, ToolDoors
from .session_doors.pictures import PictureDoors
from .pictures.incoming import IncomingPictures
from .session_doors.tree import TreeDoors
from .assistant.loop import ToolLoop
from .assistant.services import ServiceDesk
from .workers import LlmWorker
from .workers.mcp import McpWorker

OPEN_PAGE = 30       # messages shown when a conversation opens (two screens); older ones load on scrolling up


class ChatSession(CommandDoors, TreeDoors, ToolDoors, PictureDoors, QObject):
    conversations_changed = Signal()
    conversation_opened = Signal(object, list)   # Conversation | None, [Message]
    message_added = Signal(object)               # Message
    message_changed = Signal(object)             # Message (status, content or picture changed)
    message_removed = Signal(int)
    reply_text = Signal(int, str)                # message id, whole text so far
    reply_thinking = Signal(int, str)            # message id, whole thinking so far (a reasoning model's)
    notice = Signal(str)                         # transient inline message (not saved)
    llm_state = Signal(str, str)                 # "loading" | "ready" | "error", detail
    stats_changed = Signal(object)               # ChatStats of the last reply
    busy_changed = Signal(bool)                  # a reply is streaming in the open conversation
    reply_finished = Signal(int)                 # message id: the reply ended (done, stopped, failed or dropped)
    recipe_ready = Signal(str)                   # the /image command read from a dropped PNG
    picture_progress = Signal(int, object)       # message id, ImageStatus (text, bar, preview, hint)
    image_state = Signal(str, str)               # "idle" | "loading" | "ready" | "error", detail
    indexing_progress = Signal(int, int, str)    # done, total, file name: attached/library files being indexed
    indexing_finished = Signal(bool)             # an indexing run ended: True complete, False cancelled
    tool_progress = Signal(int, str, object)     # tool message id, a line of state, fraction (None: busy)
    settings_wanted = Signal(object)             # Settings the session changed itself (a tool "Always"): to save
    pending_pictures = Signal(list)              # the composer's pending pictures now (VISION_CONTRACT 1 dicts)

    def __init__(self, storage: Storage, settings: Settings, paths: Paths, *,
                 llm_engine_factory: Callable[[], object] | None = None,
                 image_engine_factory: Callable[[], object] | None = None):
        super().__init__()
        self.storage, self.settings, self.paths = storage, settings, paths
        self._llm_factory = llm_engine_factory
        self.current: Conversation | None = None
        self.llm_info: ModelInfo | None = None
        self.llm_status = "idle"
        # Every write to a conversation goes through the log; its signals are the session's.
        self.log = MessageLog(storage)
        for source, target in ((self.log.message_added, self.message_added),
                               (self.log.message_changed, self.message_changed),
                               (self.log.message_removed, self.message_removed),
                               (self.log.notice, self.notice)):
            source.connect(target)
        self.llm = LlmWorker()
        # Worker signals go only to bound methods of this GUI-thread QObject, so Qt queues them
        # here; a lambda would run on the worker's thread and race with the GUI.
        self.llm.loading.connect(self._on_llm_loading)
        self.llm.ready.connect(self._on_llm_ready)
        self.llm.load_failed.connect(self._on_llm_failed)
        self.replies = Replies(self.log, self.notice.emit, self.llm)   # the streaming replies
        self.replies.ended.connect(self._on_reply_ended)
        # The parts see the settings read-only, say things through the notice signal, and write through the log.
        view = SettingsView(lambda: self.settings)
        self.images = ImageJobs(self.log, view, paths, self.notice.emit,
                                image_engine_factory or backends.image_factory(settings, paths), self.llm.busy)
        self.images.edits.checked.connect(self._on_edit_checked)
        self.documents = DocumentJobs(self.log, view, self.notice.emit, self._open_chat)   # attached files + library
        self.reply_finished.connect(self.documents.reply_finished)
        self.pictures = IncomingPictures(paths.images, self.notice.emit)   # pictures the user gives (session_doors/pictures.py)
        self.pictures.changed.connect(self.pending_pictures)
        self.mcp = McpWorker(paths.config_dir)   # MCP servers' tools in TOOLS; started by load_models
        self.mcp.notice.connect(self.notice)
        # Tools: a reply's calls run as cards (assistant/loop.py) through the parts' doors (assistant/services.py).
        self.tools = ToolLoop(self.log, view, self.notice.emit, ServiceDesk(self.log, self.images, self.documents))
        self.replies.called_tools.connect(self.tools.start)
        self.tools.go_on.connect(self._go_on)
        self.tools.ended.connect(self._on_tools_ended)
        self.tools.always.connect(self._remember_always)
        self._tools_off_next = False   # the tools toggle, set before the new chat it belongs to exists
        self._hints_waiting: list[int] = []   # drawing requests sent before the model's capabilities were known
        self.log.message_added.connect(self._await_capabilities)
        self.llm_state.connect(self._settle_drawing_hints)
        self._pictures_waiting: dict[int, int] = {}   # chat -> its message with pictures sent while the model loads
        self.llm_state.connect(self._settle_waiting_pictures)
        for source, target in ((self.replies.text, self.reply_text), (self.replies.thinking, self.reply_thinking),
                               (self.replies.stats, self.stats_changed),
                               (self.images.progress, self.picture_progress), (self.images.state, self.image_state),
                               (self.images.edits.refused, self.recipe_ready),
                               (self.documents.progress, self.indexing_progress),
                               (self.documents.finished, self.indexing_finished), (self.tools.progress, self.tool_progress)):
            source.connect(target)   # the parts' news, told to the window as the session's

    # --- models -------------------------------------------------------------------------------
    def load_models(self) -> None:
        """Start loading after the window is shown: everything heavy happens on the workers."""
        self._set_llm_state("loading", "Loading model…")
        self.llm.request_load(self._llm_factory or backends.chat_factory(self.settings, self.paths))
        if self.settings.preload_image_model:
            self.images.ensure_loaded()
        self.mcp.apply(self.settings.mcp_servers)

    def apply_settings(self, settings: Settings, *, reload_llm: bool | None = None,
                       reload_image: bool | None = None) -> None:
        """Take new settings; the backends say which changes need a new engine (None: ask them)."""
        old, self.settings = self.settings, settings
        if reload_llm if reload_llm is not None else backends.chat_needs_reload(old, settings):
            self._llm_factory = None
            self._set_llm_state("loading", "Loading model…")
            self.llm.request_load(backends.chat_factory(settings, self.paths))
        if reload_image if reload_image is not None else backends.image_needs_reload(old, settings):
            self.images.set_factory(backends.image_factory(settings, self.paths))
        self.documents.apply_settings(settings)
        self.mcp.apply(settings.mcp_servers)

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

    @property
    def chat_capabilities(self) -> ChatCapabilities:
        """The loaded chat engine's (tools: it draws by itself), read each time: a server whose model refused
        tools says so from then on, and the session stops counting on them (Draw this comes back)."""
        # The engine is set before ready is sent; None again only while a newer load runs.
        engine = self.llm.engine if self.llm_status == "ready" else None
        return engine.capabilities if engine is not None else ChatCapabilities()

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
        """Show a conversation: the newest `page` messages of the branch it was left on."""
        self.current = self._guard(self.storage.conversation, conversation_id)
        messages = (self._guard(self.storage.branch, conversation_id, limit=page) or []) if self.current else []
        self.conversation_opened.emit(self.current, messages)
        self.busy_changed.emit(self._streaming_here())

    def older_messages(self, before_id: int, page: int = 100) -> list[Message]:
        """The part of the shown branch above message before_id (scrolling up)."""
        first = self.current and self._guard(self.storage.message, before_id)
        if not first or first.parent_id is None:
            return []
        return self._guard(self.storage.branch, self.current.id, first.parent_id, limit=page) or []

    def newer_messages(self, after_id: int, page: int = 100) -> tuple[list[Message], bool]:
        """The part of the shown branch below message after_id (scrolling back down), and whether more follow."""
        if not self.current:
            return [], False
        below = self._guard(self.storage.branch, self.current.id, stop_at=after_id) or []
        return below[:page], len(below) > page

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        if title.strip():
            self._guard(self.storage.rename_conversation, conversation_id, title_from(title, 120))
            self.conversations_changed.emit()

    def set_system_prompt(self, conversation_id: int, prompt: str | None) -> None:
        saved = self.log.saved(self.storage.set_system_prompt, conversation_id, prompt or None)
        # Not saved (a full disk, a locked database): the notice says so, and the chat keeps the prompt
        # it really has, rather than one that would be gone after a restart.
        if saved and self.current and self.current.id == conversation_id:
            self.current.system_prompt = prompt or None

    def delete_conversation(self, conversation_id: int) -> None:
        self.replies.stop(conversation_id)
        self.tools.discard(conversation_id)
        self.images.cancel_conversation(conversation_id)
        paths = self._guard(self.storage.delete_conversation, conversation_id)
        self.images.remove_files(paths or [])
        if paths is not None:   # deleted: its pictures folder goes too
            self.pictures.forget_chat(conversation_id)
        if self.current and self.current.id == conversation_id:
            self.new_conversation()
        self.conversations_changed.emit()

    def _ensure_conversation(self, first_text: str) -> Conversation:
        if self.current is None:
            self.current = self.storage.create_conversation(title_from(first_text))
            if self._tools_off_next:   # the toggle was turned off before this chat existed
                self._tools_off_next = False
                self.set_tools_enabled(False)
            self.conversations_changed.emit()
        return self.current

    def _open_chat(self, title: str, when_full: str | None = None) -> Conversation | None:
        """The open conversation, made with this title if none is open (None after a notice)."""
        return self._guard(self._ensure_conversation, title, when_full=when_full)

    def _guard(self, fn, *args, **kwargs):
        """Run a storage call; a storage problem becomes a notice, never a crash."""
        return self.log.guard(fn, *args, **kwargs)

    # --- input (typed text and commands: session_doors/commands.py) ----------------------------
    def submit_image(self, request, command: str | None = None, checked: bool = False) -> bool:
        """Queue a picture (from /image, or Re-run / Vary seed, which skip the parser)."""
        if request.init and not checked:   # an edit: its files are checked off the GUI thread first (pictures/edits.py)
            return self.images.edits.submit(self.current.id if self.current else None, request, command)
        conv = self._guard(self._ensure_conversation, request.prompt, when_full=SEND_AGAIN)
        user = conv and self.log.add(conv.id, "user", command or request.command(), when_full=SEND_AGAIN)
        if not user:
            return False
        self.images.enqueue(conv.id, request, parent_id=user.id)
        self.conversations_changed.emit()
        return True

    def _on_edit_checked(self, request, command: str | None, conversation_id: int | None) -> None:
        if conversation_id is not None and (self.current is None or self.current.id != conversation_id):
            # Another chat was opened meanwhile: its picture does not belong there; the command goes back.
            self.recipe_ready.emit(command or image_command(request))
            return
        self.submit_image(request, command, checked=True)

    def draw_this(self, message: Message) -> bool:
        """The "Draw this" suggestion under a message: its picture, made as /image makes one."""
        try:
            request = drawing_intent.request(message.meta.get("draw_this"), self.images.limits())
        except RecipeError as exc:
            self.notice.emit(str(exc))
            return False
        return self.submit_image(request)

    def _start_reply(self, conv: Conversation, question: Message, tool_round: int = 0) -> None:
        """Answer `question` (or go on after the results of tool_round's calls): the reply becomes its child and
        the conversation's current leaf."""
        messages = self._guard(branches.history, self.storage, conv, self.settings.system_prompt, question.id,
                               tools=self.model_calls_tools() and self.tools.enabled(conv.id) and self._tools_fit(),
                               vision=self.chat_capabilities.vision)
        if messages is None:
            return
        if self.llm_status == "error" and self._llm_factory is None and backends.chat_backend(self.settings).remote:
            # A server that was down may be back: connect again before this reply (queued in order).
            self.llm.request_load(backends.chat_factory(self.settings, self.paths))
        started = self.replies.start(conv.id, question.id, waiting=self.llm_status != "ready", tool_round=tool_round)
        if started is None:
            return
        rid, reply = started
        self.conversations_changed.emit()
        self.busy_changed.emit(True)
        # The tools this chat offers (the chat worker leaves them out for a model that cannot call tools);
        # then passages from attached files / library, then the reply.
        offered, choice = self.tools.offer(conv.id, tool_round, self._tool_room(), say=self.model_calls_tools(),
                                           vision=self.chat_capabilities.vision)
        params = replace(self.settings.gen_params(), tools=offered, tool_choice=choice)
        n_ctx = self.llm_info.n_ctx if self.llm_info else 0
        self.documents.augment(conv, messages, reply, lambda m: self._send_reply(rid, m, params), n_ctx)

    def _reopen(self) -> None:
        if self.current:
            self.open_conversation(self.current.id)

    def stop(self) -> None:
        """Stop the reply in the open chat: the text streaming, or the tool call running (the reply then ends)."""
        if self.current:
            self.replies.stop(self.current.id)
            self.tools.stop(self.current.id)
            self._stop_waiting(self.current.id)

    def _streaming_here(self) -> bool:
        cid = self.current.id if self.current else None
        return cid is not None and (self.replies.streaming_in(cid) or self.tools.running_in(cid)
                                    or cid in self._pictures_waiting)

    def _on_reply_ended(self, message_id: int) -> None:
        self.busy_changed.emit(self._streaming_here())
        self.reply_finished.emit(message_id)

    # --- for the window (its only way in) --------------------------------------------------------
    def conversation(self, conversation_id: int) -> Conversation | None:
        """A conversation's title and system prompt, as saved (None if it is gone, or after a notice)."""
        return self._guard(self.storage.conversation, conversation_id)

    def conversations_came_in(self) -> None:
        """Conversations were added from outside the session (an import on its own connection): list them."""
        self.conversations_changed.emit()

    def attach_files(self, paths: list[str]) -> bool:
        """Attach files to the open conversation (creating it); they are indexed in the background."""
        attached = self.documents.attach(paths)
        if attached:
            self.conversations_changed.emit()
        return attached

    def cancel_indexing(self) -> None:
        self.documents.cancel()

    def cancel_picture(self, message_id: int) -> None:
        """Stop the picture that message id shows (queued or rendering)."""
        self.images.cancel_message(message_id)

    def redraw(self, picture: Message, new_seed: bool = False) -> bool:
        """Re-run a picture's recipe (Re-run), or the same with a new random seed (Vary seed)."""
        recipe = picture.meta.get("request")
        if not recipe:
            return False
        request = ImageRequest(**recipe)
        return self.submit_image(replace(request, seed=None) if new_seed else request)

    def picture_edit_command(self, picture: Message) -> str:
        """What the Edit action puts in the message box: /image <prompt> --init #N --strength 0.6."""
        return edit_command(picture)

    def new_mask_path(self, picture: Message) -> Path:
        """A new mask file for a picture, beside the pictures (earlier masks stay: recipes name them)."""
        return mask_path(self.paths.images, picture.image_path)

    def set_reply_frame_ms(self, ms: float) -> None:
        """How often streamed reply text reaches the view (the view's measured frame time)."""
        self.llm.pump.frame_s = ms / 1000

    # --- shutdown -----------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 1500) -> bool:
        """Cancel renders, end both threads, then keep partial replies (marked stopped) with every token."""
        self.replies.cancel_all()
        ok_tools = self.tools.shutdown(timeout_ms)   # waiting calls woken, running ones stopped: cards say so
        self.images.shutdown_jobs()
        self.mcp.begin_shutdown()   # the servers close while the threads below end
        ok_llm = self.llm.shutdown(timeout_ms)
        ok_img = self.images.worker.shutdown(timeout_ms)
        # Tokens and pictures the workers sent before they stopped are still queued for us: take
        # them in now, so a saved reply has every token and a late picture's file is removed.
        QCoreApplication.sendPostedEvents(self)
        QCoreApplication.sendPostedEvents(self.images)
        self.replies.keep_what_came()
        ok_docs = self.documents.shutdown(timeout_ms)
        self.log.save_unsaved()   # space freed since a full disk refused them, and no write since
        self.pictures.discard_pending()
        ok_mcp = self.mcp.shutdown(timeout_ms)
        return ok_llm and ok_img and ok_docs and ok_mcp and ok_tools
