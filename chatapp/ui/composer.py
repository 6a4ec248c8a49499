"""The composer: Enter sends, Shift+Enter adds a line, Esc stops; a dropped PNG fills in its /image recipe."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextOption
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QWidget

PLACEHOLDER = "Message chatapp…   (/image to draw a picture, /help for commands)"
MAX_LINES = 8
# Qt's default wrapping looks for a word boundary first, which on a long run without spaces costs
# seconds (a 200,000-character paste: 1.4 s, again on every keystroke after it).
# Text with such a run wraps anywhere instead (33 ms for the same paste).
LONG_RUN = 1000


class _Editor(QPlainTextEdit):
    send = Signal()
    stop = Signal()
    png_dropped = Signal(str)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.send.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.stop.emit()
            return
        super().keyPressEvent(event)

    def insertFromMimeData(self, source) -> None:
        if source.hasText():
            self.fit_wrapping(source.text())
        super().insertFromMimeData(source)

    def fit_wrapping(self, added: str) -> None:
        """Wrap anywhere once text holds a very long run without spaces; back to words when cleared."""
        if max(map(len, added.split()), default=0) >= LONG_RUN:
            self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        elif not self.document().characterCount() > 1:
            self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)

    def _png_path(self, mime) -> str | None:
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile() and url.toLocalFile().lower().endswith(".png"):
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event) -> None:
        if self._png_path(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if self._png_path(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        path = self._png_path(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.png_dropped.emit(path)
        else:
            super().dropEvent(event)


class Composer(QWidget):
    submitted = Signal(str)
    stop_requested = Signal()
    png_dropped = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("composer")
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 8, 16, 12)
        self.editor = _Editor(self)
        self.editor.setObjectName("composerEditor")
        self.editor.setPlaceholderText(PLACEHOLDER)
        self.editor.setTabChangesFocus(True)
        self.editor.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.editor.send.connect(self._send)
        self.editor.stop.connect(self.stop_requested)
        self.editor.png_dropped.connect(self.png_dropped)
        self.editor.textChanged.connect(self._fit_height)
        self.button = QPushButton("Send", self)
        self.button.setObjectName("sendButton")
        self.button.clicked.connect(self._on_button)
        row.addWidget(self.editor, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignBottom)
        self.busy = False
        self._fit_height()

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
        if text.strip():
            self.submitted.emit(text)

    def clear(self) -> None:
        self.editor.clear()
        self.editor.fit_wrapping("")
