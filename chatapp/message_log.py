"""MessageLog: the one place messages are written, and the signals that tell the window about it.

Both halves of the session (chat replies and /image jobs) write through it, so every change to a
conversation is saved first and announced second, and a storage problem becomes a notice, never
a crash.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from .conversation import Message
from .storage import Storage, StorageError


class MessageLog(QObject):
    message_added = Signal(object)      # Message
    message_changed = Signal(object)    # Message (status, content or picture changed)
    message_removed = Signal(int)       # message id
    notice = Signal(str)                # transient inline message (not saved)

    def __init__(self, storage: Storage):
        super().__init__()
        self.storage = storage

    def guard(self, fn, *args, **kwargs):
        """Run a storage call; a storage problem becomes a notice and the call returns None."""
        try:
            return fn(*args, **kwargs)
        except StorageError as exc:
            self.notice.emit(str(exc))
            return None

    def add(self, conversation_id: int, role: str, content: str, **kwargs) -> Message | None:
        message = self.guard(self.storage.add_message, conversation_id, role, content, **kwargs)
        if message is not None:
            self.message_added.emit(message)
        return message

    def update(self, message: Message, **changes) -> None:
        """Save changed fields of message (content, status, image_path, meta) and announce it."""
        for name, value in changes.items():
            setattr(message, name, value)
        self.guard(self.storage.update_message, message.id, **changes)
        self.message_changed.emit(message)

    def remove(self, message_id: int) -> None:
        self.guard(self.storage.delete_message, message_id)
        self.message_removed.emit(message_id)
