"""MessageLog: the one place messages are written, and the signals that tell the window about it.

Every part of the session (chat replies, /image jobs, attached documents) writes through it, so every change to a
conversation is saved first and announced second, and a storage problem becomes a notice, never
a crash. On a full disk, changes to messages already on screen are kept here and written as soon
as a later write gets through (the user freed space): no restart needed.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from .conversation import TOOL_STATUS, Message
from .storage import DiskFull, Storage, StorageError

SPACE_AGAIN = "There is space on the disk again: your chats are being saved again."


class MessageLog(QObject):
    message_added = Signal(object)      # Message
    message_changed = Signal(object)    # Message (status, content or picture changed)
    message_removed = Signal(int)       # message id
    notice = Signal(str)                # transient inline message (not saved)

    def __init__(self, storage: Storage):
        super().__init__()
        self.storage = storage
        self.disk_full = False
        self._unsaved: dict[int, dict] = {}   # message id -> changes a full disk refused

    def guard(self, fn, *args, when_full: str | None = None, background: bool = False, **kwargs):
        """Run a storage call; a storage problem becomes a notice and the call returns None.

        when_full: what to say if the disk is full (e.g. sending: the text stays, press Enter again).
        background: a save nobody asked for just now (a streaming reply's flush, a status change):
        a full disk is then reported once until there is space again, not at every such save.
        """
        return self._try(fn, *args, when_full=when_full, background=background, **kwargs)[1]

    def saved(self, fn, *args, **kwargs) -> bool:
        """Like guard(), for a caller that must know whether the write happened (a problem is a notice)."""
        return self._try(fn, *args, **kwargs)[0]

    def _try(self, fn, *args, when_full: str | None = None, background: bool = False, write: bool = False,
             **kwargs) -> tuple[bool, object]:
        try:
            result = fn(*args, **kwargs)
        except DiskFull as exc:
            if not (background and self.disk_full):
                self.notice.emit(when_full or str(exc))
            self.disk_full = True
            return False, None
        except StorageError as exc:
            self.notice.emit(str(exc))
            return False, None
        if write and self.disk_full:   # a write got through, so space was freed: what was refused goes now
            self.disk_full = not self.save_unsaved()
            if not self.disk_full:
                self.notice.emit(SPACE_AGAIN)
        return True, result

    def save_unsaved(self) -> bool:
        """Write the changes a full disk refused (a write just got through; or at quit). True when none are left."""
        for message_id, changes in list(self._unsaved.items()):
            try:
                self.storage.update_message(message_id, **changes)
            except StorageError:
                return False
            del self._unsaved[message_id]
        return True

    def message(self, message_id: int) -> Message | None:
        """A saved message as it is now (None if it is gone, or after a notice)."""
        return self.guard(self.storage.message, message_id)

    def add(self, conversation_id: int, role: str, content: str, *, when_full: str | None = None,
            announce: bool = True, **kwargs) -> Message | None:
        """Save a new message and announce it; announce=False: the caller completes it first (update())
        and announces it with added()."""
        _, message = self._try(self.storage.add_message, conversation_id, role, content, when_full=when_full,
                               write=True, **kwargs)
        if message is not None and announce:
            self.message_added.emit(message)
        return message

    def added(self, message: Message) -> None:
        """Announce a message saved with add(..., announce=False), now complete."""
        self.message_added.emit(message)

    def update(self, message: Message, *, announce: bool = True, **changes) -> bool:
        """Save changed fields of message (content, status, image_path, meta) and announce it.

        Returns whether they reached the disk; refused by a full disk, they are kept and written
        with the next write that gets through."""
        for name, value in changes.items():
            setattr(message, name, value)
        pending = {**self._unsaved.pop(message.id, {}), **changes}   # older refused changes go first, in one write
        saved, _ = self._try(self.storage.update_message, message.id, background=True, write=True, **pending)
        if not saved and self.disk_full:
            self._unsaved[message.id] = pending
        if announce:
            self.message_changed.emit(message)
        return saved

    # --- tool calls (issue 23): the assistant message that calls, a message per call -----------------------
    def set_tool_calls(self, message: Message, calls, **changes) -> bool:
        """The assistant message's calls, in OpenAI's shape (ToolCalls or their dicts), with other changes
        (content, status) in the same write."""
        listed = [c if isinstance(c, dict) else c.openai() for c in calls]
        return self.update(message, meta={**message.meta, "tool_calls": listed}, **changes)

    def add_tool_message(self, conversation_id: int, parent_id: int, call, *, source: str = "builtin",
                         state: str = "running", **kwargs) -> Message | None:
        """One call's message (role and kind "tool") under parent_id: the calling assistant message or the
        turn's previous tool message; it becomes the current leaf when its parent was."""
        meta = {"tool_call_id": call.id, "name": call.name, "arguments": call.arguments, "state": state,
                "source": source}
        return self.add(conversation_id, "tool", "", kind="tool", status=TOOL_STATUS[state], meta=meta,
                        parent_id=parent_id, **kwargs)

    def set_tool_state(self, message: Message, state: str, content: str | None = None, **meta) -> bool:
        """A call's new state (its status follows), with its result text once there is one; meta: more keys
        for the card (e.g. "progress")."""
        changes = {"meta": {**message.meta, **meta, "state": state}, "status": TOOL_STATUS[state]}
        if content is not None:
            changes["content"] = content
        return self.update(message, **changes)

    def save_partial(self, message_id: int, content: str, meta: dict | None = None) -> None:
        """A streaming reply's text (and meta: its thinking) so far, saved quietly (the view has it already; a
        crash keeps most of it)."""
        self.guard(self.storage.update_message, message_id, content=content, meta=meta, background=True)

    def remove(self, message_id: int, *, announce: bool = True) -> None:
        self._unsaved.pop(message_id, None)
        self.guard(self.storage.delete_message, message_id)
        if announce:
            self.message_removed.emit(message_id)
