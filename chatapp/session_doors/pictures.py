"""The session's doors for pictures the user gives (a mixin of ChatSession): attach, paste, remove a pending one,
send a message with pictures (#N / "the last picture" named in it), the can't-see rule, /attach of a picture."""
from __future__ import annotations

from ..conversation import pictures_of
from ..branches import has_pictures
from ..pictures.incoming import STILL_READING
from .tools import SEND_AGAIN, STILL_COMING

CANNOT_SEE = "{model} cannot see pictures; choose a vision model (Settings) to ask about {it}."
# A message with pictures sent while the chat model loads waits for it (whether it sees is not known yet); a load
# that fails leaves it unanswered, saying why under it.
NOT_LOADED = ("Not answered: the chat model did not load ({detail}). The message and its pictures are kept; choose a "
              "model in Settings, then edit the message to send it again.")


def cannot_see(model: str, pictures: int) -> str:
    """The saved note for a question with pictures to a model that cannot see ("them" for more than one)."""
    return CANNOT_SEE.format(model=model, it="them" if pictures > 1 else "it")


class PictureDoors:
    """ChatSession's picture methods; it provides storage, log, current, pictures (an IncomingPictures), documents,
    llm_info, llm_status, chat_capabilities, _start_reply and the signals."""

    def attach_pictures(self, paths: list[str]) -> None:
        """Pictures for the next message, decoded and copied off the GUI thread; each good one joins the pending
        pictures (pending_pictures), a bad one is a notice naming the file and why."""
        self.pictures.attach([str(p) for p in paths])

    def paste_picture(self, image_bytes: bytes, name: str = "pasted picture") -> None:
        """The same for a picture's encoded bytes (the clipboard's, as PNG)."""
        self.pictures.paste(image_bytes, name)

    def remove_pending_picture(self, index: int) -> None:
        self.pictures.remove(index)

    def _send_turn(self, text: str) -> bool:
        """A message to the model, with the pending pictures and the chat's pictures it names; a model that cannot
        see gets no question about a picture (it would make the answer up): a saved note says so instead."""
        if self._streaming_here():
            self.notice.emit(STILL_COMING)
            return False
        if self.pictures.reading:
            self.notice.emit(STILL_READING)
            return False
        loading = self.llm_status == "loading"   # whether it sees is known once it is ready: the message waits
        title = text if text.strip() else "Picture: " + ", ".join(p["name"] for p in self.pictures.pending)
        conv = self._guard(self._ensure_conversation, title, when_full=SEND_AGAIN)
        pictures = conv and self.pictures.take(conv.id)
        if pictures is None or not conv:
            return False
        # Named for every model: one that sees is shown it; one that cannot is told it was not shown (its history
        # says so), so it does not describe a picture it never saw.
        named = self._guard(self.pictures.references, self.storage, conv.id, text) or []
        meta = dict(self._drawing_hint(text).get("meta", {}) if text.strip() else {})
        if pictures or named:
            meta["pictures"] = pictures + named
        user = self.log.add(conv.id, "user", text, when_full=SEND_AGAIN, **({"meta": meta} if meta else {}))
        if not user:
            self.pictures.put_back(pictures)
            return False
        if loading and (pictures or named):
            self._pictures_waiting[conv.id] = user.id
            self.conversations_changed.emit()
            self.busy_changed.emit(True)
        else:
            self._answer_or_note(conv, user)
        return True

    def _settle_waiting_pictures(self, state: str, detail: str = "") -> None:
        """The model is ready: the messages with pictures sent while it loaded get the can't-see note or a reply (the
        chat's pictures they named go along: shown, or said not shown); it failed to load: a saved note under each
        says so."""
        if state not in ("ready", "error") or not self._pictures_waiting:
            return
        waiting, self._pictures_waiting = self._pictures_waiting, {}
        for conv_id, message_id in waiting.items():
            conv, question = self._guard(self.storage.conversation, conv_id), self.log.message(message_id)
            if conv is None or question is None:   # deleted meanwhile
                continue
            if state == "error":
                self.log.add(conv_id, "notice", NOT_LOADED.format(detail=detail.rstrip(".")), parent_id=question.id,
                             make_current=True)
                continue
            self._answer_or_note(conv, question)
        self.conversations_changed.emit()
        self.busy_changed.emit(self._streaming_here())

    def _stop_waiting(self, conversation_id: int) -> None:
        """Stop while a message with pictures waits for the model: it stays, unanswered."""
        if self._pictures_waiting.pop(conversation_id, None) is not None:
            self.busy_changed.emit(self._streaming_here())

    def _answer_or_note(self, conv, question) -> None:
        """A reply to question; where it carries pictures the user gave and the model cannot see, a saved note naming
        the model instead (the pictures stay in the message)."""
        pictures = pictures_of(question)
        given = any(p.get("source") in ("file", "paste") for p in pictures)
        # A chat picture named (#N) to a model that cannot see: one that calls tools may still act on it (its recipe,
        # an edit, another like it) and is told it cannot see it; one that cannot would only make an answer up.
        named = any(p.get("source") == "#N" for p in pictures)
        if not self.chat_capabilities.vision and (given or named and not self.model_calls_tools()):
            name = self.llm_info.name if self.llm_info else "The chat model"
            self.log.add(conv.id, "notice", cannot_see(name, len(pictures_of(question))), parent_id=question.id, make_current=True)
            self.conversations_changed.emit()
            return
        self._start_reply(conv, question)

    @staticmethod
    def _keep_pictures(original, added: dict) -> dict:
        """An edited question keeps the pictures it had (log.add's keyword arguments, meta included)."""
        given = pictures_of(original)
        return {**added, "meta": {**added.get("meta", {}), "pictures": given}} if given else added

    def _forget_pictures(self, conversation_id: int, deleted) -> None:
        """Deleted messages' own pictures, unless a message left in the chat has them too (an edited copy)."""
        left = {p["path"] for m in self._guard(self.storage.messages, conversation_id) or [] for p in pictures_of(m)}
        self.pictures.forget_messages(deleted, keep=left)

    def _send_reply(self, rid: int, messages: list[dict], params) -> None:
        """The history to the chat worker; its pictures made data URLs off the GUI thread first."""
        if has_pictures(messages):
            self.pictures.encode(messages, self.chat_capabilities.image_side,
                                 lambda encoded: self.replies.request(rid, encoded, params))
        else:
            self.replies.request(rid, messages, params)
