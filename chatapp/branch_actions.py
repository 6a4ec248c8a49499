"""The conversation-tree actions a user takes on the open chat: regenerate, edit and resend, switch, delete a branch, find (a ChatSession mixin)."""
from __future__ import annotations

from . import commands
from .conversation import Message


class BranchActions:
    """ChatSession's branch actions; they use its storage, log, images, replies, _guard, _parse,
    _start_reply, _streaming_here, _reopen and its signals."""

    def find_in_branch(self, text: str) -> list[int]:
        """Ids of the shown branch's messages that contain text (any case), oldest first."""
        needle = text.strip().casefold()[:1000]
        if not self.current or not needle:
            return []
        branch = self._guard(self.storage.branch, self.current.id) or []
        return [m.id for m in branch if needle in m.content.casefold()]

    def regenerate(self, reply: Message | None = None) -> None:
        """A new answer beside `reply` (default: the last one shown); the old answers are kept."""
        if not self.current or self._streaming_here():
            return
        if reply is None:
            shown = self._guard(self.storage.branch, self.current.id, limit=1) or []
            reply = shown[0] if shown else None
        if reply is None or reply.role != "assistant" or reply.kind != "text" or reply.parent_id is None:
            self.notice.emit("There is no reply to regenerate.")
            return
        question = self._guard(self.storage.message, reply.parent_id)
        if question is None:
            return
        self._start_reply(self.current, question)
        self._reopen()

    def last_user_message(self) -> Message | None:
        """The newest message the user wrote on the shown branch (Up in an empty box edits it)."""
        if not self.current:
            return None
        for m in reversed(self._guard(self.storage.branch, self.current.id) or []):
            if m.role == "user":
                return m
        return None

    def edit_message(self, original: Message, text: str) -> bool:
        """Send an edited copy of a user message: the conversation forks there, the old branch stays."""
        if not self.current or original.role != "user" or not text.strip():
            return False
        if self._streaming_here():
            self.notice.emit("A reply is still coming. Wait for it, or press Esc to stop it.")
            return False
        parsed, accepted = self._parse(text)
        if parsed is None:
            return accepted
        if not isinstance(parsed, (commands.ChatTurn, commands.ImageRequest)):
            self.notice.emit("Only a message or an /image command can replace a message you sent.")
            return False
        user = self.log.add(self.current.id, "user", text, parent_id=original.parent_id, make_current=True)
        if user is None:
            return False
        if isinstance(parsed, commands.ChatTurn):
            self._start_reply(self.current, user)
        else:
            self.images.enqueue(self.current.id, parsed, parent_id=user.id)
        self.conversations_changed.emit()
        self._reopen()
        return True

    def switch_branch(self, message: Message, step: int) -> None:
        """Show the sibling `step` places from message (-1: previous, +1: next), with its continuation."""
        if not self.current:
            return
        siblings = self._guard(self.storage.children, message.parent_id, self.current.id) or []
        ids = [m.id for m in siblings]
        if message.id not in ids:
            return
        target = ids[max(0, min(len(ids) - 1, ids.index(message.id) + step))]
        leaf = self._guard(self.storage.newest_leaf_under, target)
        if leaf is not None:
            self._guard(self.storage.set_current_leaf, self.current.id, leaf)
            self._reopen()

    def delete_branch(self, message: Message) -> None:
        """Delete a message and everything under it (pictures included); replies there are stopped."""
        if not self.current:
            return
        doomed = {m.id for m in self._guard(self.storage.subtree, message.id) or []}
        self.replies.forget(doomed)
        self.images.cancel_messages(doomed)
        paths = self._guard(self.storage.delete_subtree, message.id) or []
        self.images.remove_files(paths)
        self.conversations_changed.emit()
        self._reopen()
        self.busy_changed.emit(self._streaming_here())
