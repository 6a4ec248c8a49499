"""The conversation: a scrolling column of message widgets that follows the bottom while streaming."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from ..conversation import Message
from .message_widgets import ImageBubble, MessageWidget, TextBubble

COLUMN_WIDTH = 780       # readable line length, like the chat apps people know
REPAINT_MS = 33          # streaming text is re-rendered at most ~30 times a second...
RENDER_SHARE = 0.15      # ...and less often for long replies: re-rendering holds the GIL, which the
                         # LLM worker's Python loop needs between tokens. Keep the view's share small.


class ConversationView(QScrollArea):
    action = Signal(str, object)          # forwarded from message widgets
    wants_older = Signal(int)             # first loaded message id: the user scrolled to the top

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("conversationView")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QWidget()
        outer.setObjectName("conversationCanvas")
        row = QHBoxLayout(outer)
        row.setContentsMargins(16, 16, 16, 16)
        self.column = QWidget(outer)
        self.column.setMaximumWidth(COLUMN_WIDTH)
        self.column_layout = QVBoxLayout(self.column)
        self.column_layout.setContentsMargins(0, 0, 0, 0)
        self.column_layout.setSpacing(12)
        self.column_layout.addStretch(1)
        row.addStretch(1)
        row.addWidget(self.column, 100)
        row.addStretch(1)
        self.setWidget(outer)
        self.empty = QLabel("Ask anything, or type <b>/image</b> and a description to draw a picture.<br>"
                            "<span style='color:#8a8f98'>Everything stays on this computer.</span>", self.column)
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.column_layout.insertWidget(0, self.empty)
        self.widgets: dict[int, MessageWidget] = {}
        self._notices: list[QWidget] = []
        self._pending_text: dict[int, str] = {}
        self._repaint = QTimer(self)
        self._repaint.setSingleShot(True)
        self._repaint.setInterval(REPAINT_MS)
        self._repaint.timeout.connect(self._flush_text)
        self.follow = True
        self.has_older = False
        self._settled = True
        self._anchor_from_bottom: int | None = None
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._on_range)
        bar.valueChanged.connect(self._on_scrolled)

    # --- scrolling: follow the bottom unless the user scrolled up --------------------------------
    def _on_range(self, _min: int, maximum: int) -> None:
        if self._anchor_from_bottom is not None:
            # Older messages were put on top: keep what the user was looking at in place.
            self.verticalScrollBar().setValue(maximum - self._anchor_from_bottom)
            self._anchor_from_bottom = None
        elif self.follow:
            self.verticalScrollBar().setValue(maximum)

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self.follow = value >= bar.maximum() - 8
        # Older pages load only when the user scrolls up to the top of a settled view, not while
        # a freshly opened conversation is still being laid out (its value passes 0 on the way).
        if value == 0 and self._settled and self.has_older and self.widgets:
            self.wants_older.emit(min(self.widgets))

    def scroll_to_bottom(self) -> None:
        self.follow = True
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    # --- content ----------------------------------------------------------------------------
    def clear(self) -> None:
        for w in list(self.widgets.values()) + self._notices:
            self.column_layout.removeWidget(w)
            w.deleteLater()
        self.widgets.clear()
        self._notices.clear()
        self._pending_text.clear()
        self._repaint.setInterval(REPAINT_MS)
        self.empty.show()

    def set_messages(self, messages: list[Message], has_older: bool = False) -> None:
        self._settled = False
        self.setUpdatesEnabled(False)
        self.clear()
        for m in messages:
            self.add_message(m, scroll=False)
        self.has_older = has_older
        self.setUpdatesEnabled(True)
        self.follow = True
        QTimer.singleShot(0, self._settle)

    def _settle(self) -> None:
        self.scroll_to_bottom()
        self._settled = True

    def prepend_messages(self, messages: list[Message], has_older: bool) -> None:
        bar = self.verticalScrollBar()
        if messages:
            self._anchor_from_bottom = bar.maximum() - bar.value()
        for i, m in enumerate(messages):
            self._insert(m, 1 + i)
        self.has_older = has_older

    def _make(self, m: Message) -> MessageWidget:
        w = ImageBubble(m, self.column) if m.kind == "image" else TextBubble(m, self.column)
        w.action.connect(self.action)
        return w

    def _insert(self, m: Message, index: int) -> MessageWidget:
        w = self._make(m)
        self.column_layout.insertWidget(index, w)
        self.widgets[m.id] = w
        self.empty.hide()
        return w

    def add_message(self, m: Message, scroll: bool = True) -> None:
        if m.id in self.widgets:
            return
        self._insert(m, self.column_layout.count() - 1)
        if scroll and m.role == "user":
            self.follow = True   # sending a message always brings the bottom back into view

    def add_notice(self, text: str) -> None:
        note = TextBubble(Message(-1, 0, "notice", text), self.column)
        self.column_layout.insertWidget(self.column_layout.count() - 1, note)
        self._notices.append(note)
        self.empty.hide()
        self.follow = True

    def update_message(self, m: Message) -> None:
        w = self.widgets.get(m.id)
        if w is not None:
            self._pending_text.pop(m.id, None)
            w.update_message(m)

    def remove_message(self, message_id: int) -> None:
        w = self.widgets.pop(message_id, None)
        if w is not None:
            self.column_layout.removeWidget(w)
            w.deleteLater()

    def set_reply_text(self, message_id: int, text: str) -> None:
        if message_id in self.widgets:
            self._pending_text[message_id] = text
            if not self._repaint.isActive():
                self._repaint.start()

    def _flush_text(self) -> None:
        pending, self._pending_text = self._pending_text, {}
        start = time.perf_counter()
        for mid, text in pending.items():
            w = self.widgets.get(mid)
            if isinstance(w, TextBubble):
                w.set_text(text)
        spent_ms = (time.perf_counter() - start) * 1000
        self._repaint.setInterval(max(REPAINT_MS, int(spent_ms / RENDER_SHARE)))

    def set_image_progress(self, message_id: int, status) -> None:
        w = self.widgets.get(message_id)
        if isinstance(w, ImageBubble):
            w.set_progress(status)

    def text_of(self, message_id: int) -> str:
        """What a bubble shows now (tests and screenshots read it)."""
        w = self.widgets.get(message_id)
        return w.label.text() if isinstance(w, TextBubble) else ""
