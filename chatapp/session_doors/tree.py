"""The session's doors onto the conversation tree (a mixin of ChatSession): find, regenerate, edit and resend,
switch and delete a branch; branches.py reads the tree, these change what is shown and start replies."""
from __future__ import annotations

from .. import branches, commands
from ..conversation import Message
from .tools import STILL_COMING


class TreeDoors:
    """ChatSession's tree methods; it provides storage, log, current, replies, tools, images and the signals."""

    def find_in_branch(self, text: str) -> list[int]:
        """Ids of the shown branch's messages that contain text (any case), oldest first."""
        return (self._guard(branches.find, self.storage, self.current.id, text) or []) if self.current else []

    def last_user_message(self) -> Message | None:
        """The newest message the user wrote on the shown branch (Up in an empty box edits it)."""
        return self._guard(branches.last_user_message, self.storage, self.current.id) if self.current else None

    def regenerate(self, reply: Message | None = None) -> None:
        """A new answer beside `reply` (default: the last one shown); the old answers are kept."""
        if not self.current or self._streaming_here():
            return
        question = self._guard(branches.question_of, self.storage, self.current.id, reply)
        if question is None:
            self.notice.emit("There is no reply to regenerate.")
            return
        self._answer_or_note(self.current, question)   # a picture to a model that cannot see: a note
        self._reopen()

    def edit_message(self, original: Message, text: str) -> bool:
        """Send an edited copy of a user message: the conversation forks there, the old branch stays."""
        if not self.current or original.role != "user" or not text.strip():
            return False
        if self._streaming_here():
            self.notice.emit(STILL_COMING)
            return False
        read = self._read(text)
        if read is None:
            return False
        parsed = read[1]
        if isinstance(parsed, commands.HelpRequest):
            return self.show_help()
        if not isinstance(parsed, (commands.ChatTurn, commands.ImageRequest)):
            self.notice.emit("Only a message or an /image command can replace a message you sent.")
            return False
        hint = self._keep_pictures(original, self._drawing_hint(text)) if isinstance(parsed, commands.ChatTurn) else {}
        user = self.log.add(self.current.id, "user", text, parent_id=original.parent_id, make_current=True, **hint)
        if user is None:
            return False
        if isinstance(parsed, commands.ChatTurn):
            self._answer_or_note(self.current, user)
        else:
            self.images.enqueue(self.current.id, parsed, parent_id=user.id)
        self.conversations_changed.emit()
        self._reopen()
        return True

    def switch_branch(self, message: Message, step: int) -> None:
        """Show the sibling `step` places from message (-1: previous, +1: next), with its continuation."""
        leaf = self._guard(branches.switched_leaf, self.storage, self.current.id, message, step) if self.current else None
        if leaf is not None:
            self._guard(self.storage.set_current_leaf, self.current.id, leaf)
            self._reopen()

    def delete_branch(self, message: Message) -> None:
        """Delete a message and everything under it (pictures included); replies there are stopped."""
        if not self.current:
            return
        subtree = self._guard(self.storage.subtree, message.id) or []
        doomed = {m.id for m in subtree}
        self.replies.forget(doomed)
        self.tools.forget(doomed)
        self.images.cancel_messages(doomed)
        removed = self._guard(self.storage.delete_subtree, message.id)
        self.images.remove_files(removed or [])
        if removed is not None:
            self._forget_pictures(self.current.id, subtree)
        self.conversations_changed.emit()
        self._reopen()
        self.busy_changed.emit(self._streaming_here())
