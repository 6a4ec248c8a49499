"""The sidebar: saved conversations, newest first; new, rename, system prompt, delete with confirmation."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QMenu, QPushButton, QVBoxLayout, QWidget

from ..conversation import MAX_WORDS, SEARCH_CHARS, Conversation, search_words


class Sidebar(QWidget):
    new_requested = Signal()
    selected = Signal(int)
    rename_requested = Signal(int)
    delete_requested = Signal(int)
    system_prompt_requested = Signal(int)
    search_changed = Signal(str)
    export_requested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 12, 10, 10)
        self.new_button = QPushButton("+  New chat", self)
        self.new_button.setObjectName("newChatButton")
        self.new_button.clicked.connect(self.new_requested)
        layout.addWidget(self.new_button)
        self.search = QLineEdit(self)
        self.search.setObjectName("searchBox")
        self.search.setPlaceholderText("Search chats")
        self.search.setClearButtonEnabled(True)
        # The search reads this many characters and MAX_WORDS words of them: the box takes no more
        # characters, and says which words were left out, so nothing typed is ignored unseen.
        self.search.setMaxLength(SEARCH_CHARS)
        self.search.textChanged.connect(self.search_changed)
        self.search.textChanged.connect(self._note_left_out)
        layout.addWidget(self.search)
        self.search_note = QLabel(self)
        self.search_note.setObjectName("messageFooter")
        self.search_note.setTextFormat(Qt.TextFormat.PlainText)
        self.search_note.setWordWrap(True)
        self.search_note.hide()
        layout.addWidget(self.search_note)
        self.list = QListWidget(self)
        self.list.setObjectName("conversationList")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setWordWrap(False)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemDoubleClicked.connect(lambda item: self.rename_requested.emit(item.data(Qt.ItemDataRole.UserRole)))
        layout.addWidget(self.list, 1)
        delete = QAction(self.list)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self._delete_current)
        self.list.addAction(delete)
        self._quiet = False

    def set_conversations(self, conversations: list[Conversation], current_id: int | None) -> None:
        self._quiet = True
        self.list.clear()
        for c in conversations:
            item = QListWidgetItem(c.title)
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            item.setToolTip(c.title)
            self.list.addItem(item)
            if c.id == current_id:
                self.list.setCurrentItem(item)
        self._quiet = False

    def _note_left_out(self, text: str) -> None:
        _used, left_out = search_words(text)
        if left_out:
            shown = " ".join(left_out)
            shown = shown if len(shown) <= 80 else shown[:79] + "…"
            self.search_note.setText(f"Only the first {MAX_WORDS} words are searched. Left out: {shown}")
        self.search_note.setVisible(bool(left_out))

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _on_current(self, item, _previous) -> None:
        if not self._quiet and item is not None:
            self.selected.emit(item.data(Qt.ItemDataRole.UserRole))

    def _delete_current(self) -> None:
        if (cid := self.current_id()) is not None:
            self.delete_requested.emit(cid)

    def _menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        cid = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename_requested.emit(cid))
        menu.addAction("System prompt…", lambda: self.system_prompt_requested.emit(cid))
        menu.addAction("Export…", lambda: self.export_requested.emit(cid))
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.delete_requested.emit(cid))
        menu.exec(self.list.mapToGlobal(pos))
