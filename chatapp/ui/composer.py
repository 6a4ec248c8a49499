"""The composer: Enter sends, Shift+Enter adds a line, Esc stops; a pasted picture and the next message's pictures
shown above the box (dropped files and pictures are the window's: attachments.py, picture_drop.py)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QKeyCombination, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeyEvent, QTextCursor, QTextOption
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from .picture_drop import image_of
from .picture_strip import PendingStrip

PLACEHOLDER = "Message chatapp…   (/image to draw a picture, /help for commands)"
MAX_LINES = 8
WINDOW_KEYS = (QKeyCombination(Qt.KeyboardModifier.ControlModifier, Qt.Key.Key_K),
               QKeyCombination(Qt.KeyboardModifier.ControlModifier, Qt.Key.Key_F))
# Qt's default wrapping looks for a word boundary first, which on a long run without spaces costs
# seconds (a 200,000-character paste: 1.4 s, again on every keystroke after it).
# Text with such a run wraps anywhere instead (33 ms for the same paste).
LONG_RUN = 1000
# A paste bigger than this goes in in slices of it, one per event-loop turn: 100,000 short lines took
# 0.2-0.6 s in one call, a frozen window; a slice takes a few tens of milliseconds.
PASTE_SLICE = 64_000


class _Editor(QPlainTextEdit):
    send = Signal()
    stop = Signal()
    up_in_empty = Signal()
    picture_pasted = Signal(QImage)   # image data pasted (a screenshot, "Copy image" in a browser)

    def event(self, event) -> bool:
        # The text box claims Ctrl+K (delete to end of line) for itself; the window's "search
        # chats" shortcut should win, as in the chat apps people know.
        if event.type() == QEvent.Type.ShortcutOverride and event.keyCombination() in WINDOW_KEYS:
            event.ignore()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            elif not self.pasting:   # half a paste is not the message the user meant
                self.send.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.stop.emit()
            return
        if event.key() == Qt.Key.Key_Up and not self.toPlainText() and not event.modifiers():
            self.up_in_empty.emit()
            return
        super().keyPressEvent(event)

    pasting = False   # a big paste is still going in: Enter waits for it

    def canInsertFromMimeData(self, source) -> bool:
        return source.hasImage() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source) -> None:
        image = image_of(source)
        if image is not None:   # a copied picture often carries its address as text too: the picture wins
            self.picture_pasted.emit(image)
            return
        if source.hasText():
            text = source.text()
            self.fit_wrapping(text)
            if len(text) > PASTE_SLICE:
                self._paste_in_slices(text)
                return
        super().insertFromMimeData(source)

    def _paste_in_slices(self, text: str) -> None:
        """The paste as one undo step, a slice per event-loop turn, each cut at a line end when there is one."""
        cursor = self.textCursor()   # moves along as its own insertions grow the text
        pieces, start = [], 0
        while start < len(text):
            end = start + PASTE_SLICE
            if end < len(text):
                cut = text.rfind("\n", start, end)
                end = cut + 1 if cut > start else end
            pieces.append(text[start:end])
            start = end
        self.pasting = True
        self.setReadOnly(True)   # keys typed meanwhile would land in the middle of the paste

        def insert(n: int = 0) -> None:
            if n == 0:
                cursor.beginEditBlock()
            else:
                cursor.joinPreviousEditBlock()   # so one Undo takes the whole paste away
            cursor.insertText(pieces[n])
            cursor.endEditBlock()
            if n + 1 < len(pieces):
                QTimer.singleShot(0, self, lambda: insert(n + 1))
            else:
                self.pasting = False
                self.setReadOnly(False)
                self.setTextCursor(cursor)
                self.ensureCursorVisible()
        insert()

    def fit_wrapping(self, added: str) -> None:
        """Wrap anywhere once text holds a very long run without spaces; back to words when cleared."""
        if max(map(len, added.split()), default=0) >= LONG_RUN:
            self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        elif not self.document().characterCount() > 1:
            self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)




class Composer(QWidget):
    submitted = Signal(str)
    stop_requested = Signal()
    picture_pasted = Signal(QImage)
    remove_picture = Signal(int)     # the x on a pending picture
    edit_last_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("composer")
        self.editing = None           # the Message being edited, or None for a new message
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 8, 16, 12)
        outer.setSpacing(4)
        banner_row = QHBoxLayout()
        self.edit_banner = QLabel("Editing your message: sending keeps the old version as another branch.", self)
        self.edit_banner.setObjectName("messageFooter")
        self.cancel_edit_button = QPushButton("Cancel edit", self)
        self.cancel_edit_button.setObjectName("linkButton")
        self.cancel_edit_button.clicked.connect(self.cancel_edit)
        banner_row.addWidget(self.edit_banner, 1)
        banner_row.addWidget(self.cancel_edit_button)
        outer.addLayout(banner_row)
        self.strip = PendingStrip(self)   # the next message's pictures
        self.strip.remove_requested.connect(self.remove_picture)
        outer.addWidget(self.strip)
        row = self._input_row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(row)
        self.editor = _Editor(self)
        self.editor.setObjectName("composerEditor")
        self.editor.setPlaceholderText(PLACEHOLDER)
        self.editor.setTabChangesFocus(True)
        self.editor.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.editor.send.connect(self._send)
        self.editor.stop.connect(self._on_escape)
        self.editor.up_in_empty.connect(self.edit_last_requested)
        self.editor.picture_pasted.connect(self.picture_pasted)
        self.editor.textChanged.connect(self._fit_height)
        self.button = QPushButton("Send", self)
        self.button.setObjectName("sendButton")
        self.button.clicked.connect(self._on_button)
        row.addWidget(self.editor, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignBottom)
        self.busy = False
        self._show_banner(False)
        self._fit_height()

    def add_leading_button(self, button: QPushButton) -> None:
        """A button left of the message box (Attach), on the same line."""
        self._input_row.insertWidget(0, button, 0, Qt.AlignmentFlag.AlignBottom)

    def _show_banner(self, visible: bool) -> None:
        self.edit_banner.setVisible(visible)
        self.cancel_edit_button.setVisible(visible)

    def start_edit(self, message) -> None:
        """Put a sent message back in the box; sending it forks the conversation there."""
        self.editing = message
        self._show_banner(True)
        self.set_text(message.content)
        self.editor.moveCursor(QTextCursor.MoveOperation.End)

    def cancel_edit(self) -> None:
        if self.editing is not None:
            self.editing = None
            self._show_banner(False)
            self.editor.clear()

    def _on_escape(self) -> None:
        # Esc leaves an edit first; otherwise it stops the reply that is streaming.
        if self.editing is not None:
            self.cancel_edit()
        else:
            self.stop_requested.emit()

    def _fit_height(self) -> None:
        blocks = self.editor.document().blockCount()
        lines = max(1, min(MAX_LINES, blocks))
        line = self.editor.fontMetrics().lineSpacing()
        self.editor.setFixedHeight(lines * line + 24)
        self.editor.setVerticalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAsNeeded if blocks > MAX_LINES else Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.button.setText("Stop" if busy else "Send")
        self.button.setProperty("stop", busy)
        self.button.style().unpolish(self.button)
        self.button.style().polish(self.button)

    def set_placeholder(self, text: str | None) -> None:
        self.editor.setPlaceholderText(text or PLACEHOLDER)
        # QPlainTextEdit repaints only when the placeholder appears or disappears, not when its
        # text changes: without this the box kept saying "Loading model…" once it was ready.
        self.editor.viewport().update()

    def set_text(self, text: str) -> None:
        self.editor.clear()
        self.editor.fit_wrapping(text)
        self.editor.setPlainText(text)
        self.editor.setFocus()

    def _on_button(self) -> None:
        if self.busy:
            self.stop_requested.emit()
        else:
            self._send()

    def _send(self) -> None:
        text = self.editor.toPlainText()
        # Pictures alone are a message ("what is this?" is often left unsaid); while editing, only text is sent.
        pictures = bool(self.strip.pictures) and self.editing is None
        if (text.strip() or pictures) and not self.editor.pasting:
            self.submitted.emit(text)

    def clear(self) -> None:
        self.editor.clear()
        self.editing = None
        self._show_banner(False)
        self.editor.fit_wrapping("")
