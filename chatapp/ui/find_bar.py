"""Ctrl+F: find text in the open conversation's branch, step through the matches, Esc closes."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget


class _FindEdit(QLineEdit):
    closed = Signal()
    previous = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.closed.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.previous.emit()
            return
        super().keyPressEvent(event)


class FindBar(QWidget):
    """Asks for matches (message ids, oldest first) and says which one is shown; Enter goes to the next."""
    search = Signal(str)          # the text changed: the owner answers with set_matches()
    show_match = Signal(int)      # message id to bring into view
    closed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("findBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 6, 16, 6)
        self.edit = _FindEdit(self)
        self.edit.setObjectName("searchBox")
        self.edit.setPlaceholderText("Find in this chat")
        self.edit.setAccessibleName("Find in this chat")
        self.edit.setClearButtonEnabled(True)
        self.count = QLabel(self)
        self.count.setObjectName("messageFooter")
        self.prev_button = QPushButton("↑", self)
        self.next_button = QPushButton("↓", self)
        close = QPushButton("✕", self)
        for b, name in ((self.prev_button, "Previous match"), (self.next_button, "Next match"), (close, "Close find")):
            b.setObjectName("linkButton")
            b.setAccessibleName(name)
            b.setToolTip(name)
        row.addWidget(self.edit, 1)
        row.addWidget(self.count)
        row.addWidget(self.prev_button)
        row.addWidget(self.next_button)
        row.addWidget(close)
        self.matches: list[int] = []
        self.index = -1
        self.edit.textChanged.connect(self.search)
        self.edit.returnPressed.connect(lambda: self.step(1))
        self.edit.previous.connect(lambda: self.step(-1))
        self.edit.closed.connect(self.close_bar)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        close.clicked.connect(self.close_bar)
        self.hide()

    def open_bar(self) -> None:
        self.show()
        self.edit.setFocus()
        self.edit.selectAll()
        if self.edit.text():
            self.search.emit(self.edit.text())

    def close_bar(self) -> None:
        self.hide()
        self.closed.emit()

    def set_matches(self, ids: list[int]) -> None:
        """New results: start at the newest match, the one nearest the bottom the user is reading."""
        self.matches = ids
        self.index = len(ids) - 1
        self._show()

    def step(self, direction: int) -> None:
        if self.matches:
            self.index = (self.index + direction) % len(self.matches)
            self._show()

    def _show(self) -> None:
        if not self.matches:
            self.count.setText("No matches" if self.edit.text().strip() else "")
            return
        self.count.setText(f"{self.index + 1} of {len(self.matches)}")
        self.show_match.emit(self.matches[self.index])
