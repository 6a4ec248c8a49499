"""The session's doors for a running tool (tools.base.ToolServices): a tool's thread asks, the GUI thread does it
(pictures through the picture part, search through the documents part, recipes read back) and the thread waits."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal, Slot

from ..conversation import ERROR, ImageRequest, Message
from ..documents.context import retrieve
from ..engines.base import EngineError
from ..engines.lora import names as lora_names
from ..message_log import MessageLog
from ..pictures.edits import EditError, find_picture, masks_of, resolve
from ..pictures.jobs import ImageJobs
from ..recipes import RecipeError
from ..tools.base import Drawn, Passage, PictureRecipe, ToolError

CLOSING = "chatapp is closing, so this was not done."
STOPPED = "The user stopped the reply, so this was not done."
SCOPES = {"chat": (True, False), "library": (False, True), "all": (True, True)}   # scope -> (this chat's files, library)


@dataclass
class _Ask:
    """A tool thread's request: fn runs on the GUI thread; the thread waits for `done`."""
    fn: Callable[[], object]
    should_stop: Callable[[], bool]
    picture: bool = False     # fn queued a picture: done when its job ends, not when fn returns
    card_id: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None

    def answer(self, result=None, error: BaseException | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


class ServiceDesk(QObject):
    """On the GUI thread: does what tools ask (queued from their threads, so storage and the parts are only ever
    touched here) and wakes the asking thread; a picture's progress goes to its call's card."""

    _asked = Signal(object)
    progress = Signal(int, str, object)   # tool message id, a line of state, fraction (None: busy)

    def __init__(self, log: MessageLog, images: ImageJobs, documents):
        super().__init__()
        self.log, self.images, self.documents = log, images, documents
        self._lock = threading.Lock()
        self._closed = False
        self._asks: dict[int, _Ask] = {}
        self._pictures: dict[int, _Ask] = {}        # a picture job's message id -> the ask waiting for it
        self._asked.connect(self._on_asked)
        images.job_ended.connect(self._on_job_ended)
        images.progress.connect(self._on_picture_progress)

    # --- a tool's thread ----------------------------------------------------------------------------
    def ask(self, fn: Callable[[], object], should_stop: Callable[[], bool], *, picture: bool = False,
            card_id: int = 0):
        """fn() done on the GUI thread unless the call was stopped meanwhile; its result (a picture: (how,
        message ids) when its job ended)."""
        if should_stop():
            raise ToolError(STOPPED)
        ask = _Ask(fn, should_stop, picture, card_id)
        with self._lock:
            if self._closed:
                raise ToolError(CLOSING)
            self._asks[id(ask)] = ask
        self._asked.emit(ask)
        ask.done.wait()
        with self._lock:
            self._asks.pop(id(ask), None)
        if ask.error is not None:
            raise ask.error
        return ask.result

    # --- the GUI thread -----------------------------------------------------------------------------
    @Slot(object)
    def _on_asked(self, ask: _Ask) -> None:
        if ask.done.is_set():   # answered by close() meanwhile
            return
        if ask.should_stop():   # stopped (or its card deleted) while this waited in the queue
            ask.answer(error=ToolError(STOPPED))
            return
        try:
            result = ask.fn()
        except (ToolError, EditError, RecipeError) as exc:
            ask.answer(error=ToolError(str(exc)))
            return
        except Exception as exc:   # a bug: the tool's call fails in words, the reply goes on
            ask.answer(error=exc)
            return
        if not ask.picture:
            ask.answer(result)
        elif result is None:
            ask.answer(error=ToolError("The picture could not be queued (the notice in the chat says why)."))
        elif result.status == ERROR:   # refused at once (too big for the loaded model)
            ask.answer(("error", [result.id]))
        else:
            self._pictures[result.id] = ask

    def _on_job_ended(self, message_id: int, how: str, ids: list) -> None:
        ask = self._pictures.pop(message_id, None)
        if ask is not None:
            ask.answer((how, ids))

    def _on_picture_progress(self, message_id: int, status) -> None:
        ask = self._pictures.get(message_id)
        if ask is not None and ask.card_id:
            self.progress.emit(ask.card_id, status.text, status.fraction)

    def cancel_card(self, card_id: int) -> None:
        """Stop: the picture a call is waiting for is cancelled (its job ends, and the call with it)."""
        for message_id, ask in list(self._pictures.items()):
            if ask.card_id == card_id:
                self.images.cancel_message(message_id)

    def close(self) -> None:
        """Closing: every waiting tool thread is woken with CLOSING, and no new request is taken."""
        with self._lock:
            self._closed = True
            waiting = list(self._asks.values())
        for ask in waiting:
            if not ask.done.is_set():
                ask.answer(error=ToolError(CLOSING))
        self._pictures.clear()

    # --- what the doors do on the GUI thread --------------------------------------------------------
    def queue_picture(self, conversation_id: int, request: ImageRequest, card: Message) -> Message | None:
        return self.images.enqueue(conversation_id, request, parent_id=card.id,
                                   meta={"tool_call_id": card.meta.get("tool_call_id", "")})

    def drawn(self, how: str, ids: list) -> Drawn:
        messages = [m for m in (self.log.message(i) for i in ids) if m is not None]
        if how == "error":
            why = messages[0].content if messages else "the image model failed"
            raise ToolError(f"The picture could not be drawn: {why}")
        if how == "dropped" or not messages:
            raise ToolError(CLOSING if how == "dropped" else "The picture was not kept.")
        if how == "cancelled" and not any(m.image_path for m in messages):
            raise ToolError("The user cancelled the picture before it was drawn.")
        drawn = [m for m in messages if m.image_path]
        return Drawn(tuple(m.id for m in drawn), tuple(m.meta.get("number") or 0 for m in drawn),
                     ImageRequest(**drawn[0].meta["request"]))

    def passages(self, conversation_id: int, query: str, scope: str) -> list[Passage]:
        if not self.documents.available:
            raise ToolError("Files cannot be searched in this session (the data folder is read-only or not saved).")
        chat, library = SCOPES.get(scope, SCOPES["all"])
        hits = retrieve(self.documents.index, query, conversation_id if chat else None, library=library)
        return [Passage(n, h.name, h.location() or "whole file", h.text) for n, h in enumerate(hits, 1)]

    def picture(self, conversation_id: int, ref: str) -> Message | None:
        try:
            return find_picture(self.log.storage, conversation_id, ref)
        except EditError:
            return None


class CallServices:
    """ToolServices for one call: its conversation and its card (pictures become the card's children)."""

    def __init__(self, desk: ServiceDesk, conversation_id: int, card: Message, should_stop: Callable[[], bool]):
        self.desk, self.conversation_id, self.card = desk, conversation_id, card
        self._stop = should_stop

    def _ask(self, fn: Callable[[], object], **kwargs):
        return self.desk.ask(fn, self._stop, **kwargs)

    def image_limits(self):
        return self._ask(self.desk.images.limits)

    def loras(self) -> tuple[str, ...]:
        # Listed here, on the tool's thread, as the engine will look them up: a LoRA added or removed since
        # the tools were offered is judged as it is now.
        return tuple(lora_names(self.desk.images.lora_dirs()))

    def draw(self, request: ImageRequest) -> Drawn:
        return self._picture(replace(request, init=None, mask=None, source_id=None))

    def edit(self, request: ImageRequest, source: str) -> Drawn:
        # Only the chat's own pictures and masks: a model never names a file on this computer to be read.
        if source != "last" and not (source.startswith("#") and source[1:].isdigit()):
            raise ToolError(f"{source!r} names no picture: use #N (the number above a picture) or last.")
        if request.mask and Path(request.mask).resolve().parent != Path(self.desk.images.paths.images).resolve():
            raise ToolError("A mask must be one painted on a picture of this chat.")
        conv = self.conversation_id
        resolved = self._ask(lambda: resolve(self.desk.log.storage, conv, replace(request, init=source)))
        # The folder is every chat's: a mask must also be one painted on the picture it edits (the painter's
        # names), not another chat's mask or picture that happens to have the same size.
        if request.mask and Path(request.mask).resolve() not in {m.resolve() for m in
                                                                 masks_of(resolved.init, self.desk.images.paths.images)}:
            raise ToolError(f"A mask must be one painted on the picture it edits ({source}); "
                            f"{Path(request.mask).name} is not one of its masks.")
        from ..engines.img2img import check_files   # PIL only when used; read here, on the tool's thread
        try:
            check_files(resolved.init, resolved.mask)
        except EngineError as exc:
            raise ToolError(str(exc)) from None
        return self._picture(resolved)

    def _picture(self, request: ImageRequest) -> Drawn:
        conv, card = self.conversation_id, self.card
        how, ids = self._ask(lambda: self.desk.queue_picture(conv, request, card), picture=True, card_id=card.id)
        return self.desk.ask(lambda: self.desk.drawn(how, ids), lambda: False)   # what became of it, even if stopped

    def search(self, query: str, scope: str) -> list[Passage]:
        conv = self.conversation_id
        return self._ask(lambda: self.desk.passages(conv, query, scope))

    def recipe(self, picture: str) -> PictureRecipe | None:
        conv = self.conversation_id
        message = self._ask(lambda: self.desk.picture(conv, picture))
        if message is None:
            return None
        parameters = message.meta.get("parameters", "")
        if not parameters and message.image_path:
            from ..recipes.png import read_parameters
            try:
                parameters = read_parameters(message.image_path) or ""
            except (OSError, RecipeError):
                parameters = ""
        return PictureRecipe(message.meta.get("number") or 0, message.id, parameters)
