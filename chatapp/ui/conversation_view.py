"""The conversation: a scrolling column of message widgets that follows the bottom while streaming."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from ..conversation import Message
from .attachments import AttachmentBubble
from .markdown_label import render_shown
from .near_screen import NearScreen
from .scroll_anchor import ScrollAnchor
from .message_widgets import ImageBubble, MessageWidget, TextBubble
from .tool_card import ToolCard

COLUMN_WIDTH = 780       # readable line length, like the chat apps people know
REPAINT_MS = 50          # streaming text is re-rendered at most 20 times a second (33 ms cost 18% of one CPU)
SLOWEST_REPAINT_MS = 200 # ...and at least 5 times a second
# ...and less often when a frame costs more: the GUI thread's time per frame (rendering, layout,
# painting) is kept under this share of the time between frames. Rendering holds the GIL, which
# the LLM worker's Python loop needs between tokens.
RENDER_SHARE = 0.15
# Where the GUI shares its cores with local decoding (one core, or every core decoding), each ms the
# GUI spends is a ms less decoding: at 20 frames a second, ~1.5 ms a frame cost ~4% of the speed.
SHARED_CORE_RENDER_SHARE = 0.025
# Scrolling through a long branch costs work in proportion to what is near the screen, not to what
# was loaded before: at most MAX_LOADED bubbles exist (farther ones are dropped and built again when
# scrolled back to), and a page is built a few bubbles per event-loop turn, so no turn stalls.
MAX_LOADED = 150
BUILD_PER_TICK = 2


class ConversationView(NearScreen, ScrollAnchor, QScrollArea):
    action = Signal(str, object)          # forwarded from message widgets
    wants_older = Signal(int)             # first loaded message id: the user scrolled to the top
    wants_newer = Signal(int)             # last loaded message id: scrolled to the bottom of a trimmed view
    frame_ms_changed = Signal(int)        # how often streaming text is shown now: no use sending it more often

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
        self._pending_thinking: dict[int, str] = {}
        self._repaint = QTimer(self)
        self._repaint.setSingleShot(True)
        self._repaint.timeout.connect(self._flush_text)
        self._repaint_ms = REPAINT_MS
        self._last_flush = float("-inf")
        self._cpu_at_flush = time.thread_time()
        self.render_share = RENDER_SHARE   # the window lowers it while decoding shares the GUI's cores
        self.follow = True
        self.has_older = False
        self.has_newer = False              # bubbles below were dropped (the user is far up)
        self._settled = True
        self._anchor = None                   # (bubble, offset): keep it where it is on screen (ScrollAnchor)
        self._pending: list[Message] = []   # a page still being built, a few bubbles per turn
        self._pending_at_top = True
        self._pending_more = False
        self.realized_count = 0               # bubbles given their whole text since the last set_messages (tests read it)
        render_shown().connect(self._realize_near)   # a bubble near the screen got its height: look again
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._on_range)
        bar.valueChanged.connect(self._on_scrolled)

    # --- scrolling: follow the bottom unless the user scrolled up --------------------------------
    def _on_range(self, _min: int, maximum: int) -> None:
        self._realize_near()
        if self._anchor is not None:
            self._apply_anchor()
        elif self.follow and not self.has_newer:
            self.verticalScrollBar().setValue(maximum)

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._realize_near()
        if self._anchor is not None and not self._anchoring and not self._pending:
            self._anchor = None           # the user scrolled: from now on their position rules
        self.follow = value >= bar.maximum() - 8 and not self.has_newer
        # Pages load only when the user scrolls to an end of a settled view, not while a freshly
        # opened conversation is still being laid out (its value passes 0 on the way).
        if not self._settled or self._pending or not self.widgets:
            return
        if value == 0 and self.has_older:
            self.wants_older.emit(self.first_message_id())
        elif value >= bar.maximum() and self.has_newer:
            self.wants_newer.emit(self.last_message_id())

    def _message_widgets(self) -> list[MessageWidget]:
        """The bubbles in screen order."""
        items = (self.column_layout.itemAt(i).widget() for i in range(self.column_layout.count()))
        return [w for w in items if isinstance(w, MessageWidget) and w.message.id in self.widgets]

    def last_message_id(self) -> int | None:
        shown = self._message_widgets()
        return shown[-1].message.id if shown else None

    def first_message_id(self) -> int | None:
        """The message at the top (ids do not always grow down a branch: batches are spliced in)."""
        shown = self._message_widgets()
        return shown[0].message.id if shown else None

    def highlight(self, message_id: int | None) -> None:
        """Mark one message (a find match) and bring it into view."""
        for w in self.widgets.values():
            if w.property("found"):
                w.setProperty("found", False)
                w.style().unpolish(w)
                w.style().polish(w)
        w = self.widgets.get(message_id)
        if w is not None:
            w.setProperty("found", True)
            w.style().unpolish(w)
            w.style().polish(w)
            self.follow = False
            self.ensureWidgetVisible(w, 0, 40)

    def scroll_to_bottom(self) -> None:
        self.follow = True
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    # --- content ----------------------------------------------------------------------------
    def clear(self) -> None:
        for w in list(self.widgets.values()) + self._notices:
            self.column_layout.removeWidget(w)
            w.hide()          # deleteLater waits for the event loop; until then it would still paint
            w.deleteLater()
        self.widgets.clear()
        self._notices.clear()
        self._pending_text.clear()
        self._pending_thinking.clear()
        if self._repaint_ms != REPAINT_MS:
            self._repaint_ms = REPAINT_MS
            self.frame_ms_changed.emit(REPAINT_MS)
        self.empty.show()

    def set_messages(self, messages: list[Message], has_older: bool = False) -> None:
        self._settled = False
        self.setUpdatesEnabled(False)
        self.clear()
        self._pending, self._anchor, self.has_newer = [], None, False
        self.realized_count = 0
        for m in messages:
            self.add_message(m, scroll=False, deferred=True)
        self.has_older = has_older
        self.setUpdatesEnabled(True)
        self.follow = True
        self._realize_near()
        QTimer.singleShot(0, self, self._settle)   # with self as context: no call once the view is gone

    def _settle(self) -> None:
        self.scroll_to_bottom()
        self._settled = True

    def prepend_messages(self, messages: list[Message], has_older: bool) -> None:
        """Older messages go on top, built a few per turn; what the user looks at stays put."""
        self._start_page(messages, at_top=True, more=has_older)

    def append_messages(self, messages: list[Message], has_newer: bool) -> None:
        """Newer messages (dropped while the user was far up) come back at the bottom."""
        self._start_page(messages, at_top=False, more=has_newer)

    def _start_page(self, messages: list[Message], at_top: bool, more: bool) -> None:
        self._pending = [m for m in messages if m.id not in self.widgets]
        self._pending_at_top, self._pending_more = at_top, more
        if not self._pending:
            self._finish_page()
            return
        self._build_tick()

    def _build_tick(self) -> None:
        if not self._pending:
            return
        self._hold_anchor()
        if self._pending_at_top:     # nearest the current top first: the newest of the page
            batch, self._pending = self._pending[-BUILD_PER_TICK:], self._pending[:-BUILD_PER_TICK]
            for m in reversed(batch):
                self._insert(m, 1, deferred=True)
        else:
            batch, self._pending = self._pending[:BUILD_PER_TICK], self._pending[BUILD_PER_TICK:]
            for m in batch:
                self._insert(m, self._after_last_message(), deferred=True)
        if self._anchor is not None:
            self._apply_anchor()
        if self._pending:
            QTimer.singleShot(0, self, self._build_tick)
        else:
            self._finish_page()

    def _finish_page(self) -> None:
        if self._pending_at_top:
            self.has_older = self._pending_more
            self._trim(from_top=False)
        else:
            self.has_newer = self._pending_more
            self._trim(from_top=True)

    def _trim(self, from_top: bool) -> None:
        """Drop the bubbles farthest from the screen, so the view never holds more than MAX_LOADED."""
        shown = self._message_widgets()
        excess = len(shown) - MAX_LOADED
        if excess <= 0:
            return
        self._hold_anchor()
        for w in (shown[:excess] if from_top else shown[-excess:]):
            self.remove_message(w.message.id)
        if self._anchor is not None:
            self._apply_anchor()
        if from_top:
            self.has_older = True
        else:
            self.has_newer = True
            self.follow = False

    def _after_last_message(self) -> int:
        shown = self._message_widgets()
        return self.column_layout.indexOf(shown[-1]) + 1 if shown else self.column_layout.count() - 1

    def _make(self, m: Message, deferred: bool = False) -> MessageWidget:
        w = ImageBubble(m, self.column) if m.kind == "image" else \
            AttachmentBubble(m, self.column) if m.kind == "attachment" else \
            ToolCard(m, self.column) if m.kind == "tool" else TextBubble(m, self.column, deferred)
        w.action.connect(self.action)
        return w

    def _insert(self, m: Message, index: int, deferred: bool = False) -> MessageWidget:
        w = self._make(m, deferred)
        self.column_layout.insertWidget(index, w)
        # A child added to a shown widget is shown by a queued call, and until then the layout
        # leaves it out; show it now, so positions (and the scroll anchor) are right at once.
        if self.column.isVisible():
            w.show()
        self.widgets[m.id] = w
        self.empty.hide()
        return w

    def shows_parent_of(self, m: Message) -> bool:
        """Whether m continues what is shown (a message on another branch is not shown)."""
        return m.parent_id in self.widgets if m.parent_id is not None else not self.widgets

    def add_message(self, m: Message, scroll: bool = True, deferred: bool = False) -> None:
        if m.id in self.widgets:
            return
        parent = self.widgets.get(m.parent_id) if m.parent_id is not None else None
        # Right under its parent (a picture of a batch spliced in), else at the end.
        index = self.column_layout.indexOf(parent) + 1 if parent is not None else self.column_layout.count() - 1
        self._insert(m, min(index, self.column_layout.count() - 1), deferred)
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
            self._pending_thinking.pop(m.id, None)
            w.update_message(m)

    def remove_message(self, message_id: int) -> None:
        w = self.widgets.pop(message_id, None)
        if w is not None:
            self.column_layout.removeWidget(w)
            w.hide()
            w.deleteLater()

    def set_reply_text(self, message_id: int, text: str) -> None:
        if message_id in self.widgets:
            self._pending_text[message_id] = text
            self._repaint_soon()

    def set_reply_thinking(self, message_id: int, text: str) -> None:
        """A reasoning model's thinking so far: shown at the same pace as the text."""
        if message_id in self.widgets:
            self._pending_thinking[message_id] = text
            self._repaint_soon()

    def _repaint_soon(self) -> None:
        if not self._repaint.isActive():
            # Text that comes after a quiet spell (the first token, a frame's batch) shows at
            # once; text that comes sooner waits for the rest of the frame.
            wait_ms = self._repaint_ms - (time.perf_counter() - self._last_flush) * 1000
            if wait_ms <= 0:
                self._flush_text()
            else:
                self._repaint.start(max(1, round(wait_ms)))

    def _flush_text(self) -> None:
        pending, self._pending_text = self._pending_text, {}
        thinking, self._pending_thinking = self._pending_thinking, {}
        now, cpu = time.perf_counter(), time.thread_time()
        # All the GUI thread did since the last frame: that frame's layout and painting as well as
        # its rendering, which is most of the cost (1.5-2 ms a frame here, 0.3 of it rendering).
        # After a quiet spell (a new reply) there is no last frame to go by.
        recent = now - self._last_flush < 1.0
        spent_ms = (cpu - self._cpu_at_flush) * 1000 if recent else 0.0
        self._last_flush, self._cpu_at_flush = now, cpu
        for mid, text in thinking.items():
            w = self.widgets.get(mid)
            if isinstance(w, TextBubble):
                w.set_thinking(text)
        for mid, text in pending.items():
            w = self.widgets.get(mid)
            if isinstance(w, TextBubble):
                w.set_text(text)
        frame_ms = min(SLOWEST_REPAINT_MS, max(REPAINT_MS, int(spent_ms / self.render_share)))
        if frame_ms != self._repaint_ms:
            self._repaint_ms = frame_ms
            self.frame_ms_changed.emit(frame_ms)

    def set_image_progress(self, message_id: int, status) -> None:
        w = self.widgets.get(message_id)
        if isinstance(w, ImageBubble):
            w.set_progress(status)

    def set_tool_progress(self, message_id: int, text: str, fraction) -> None:
        w = self.widgets.get(message_id)
        if isinstance(w, ToolCard):
            w.set_progress(text, fraction)

    def text_of(self, message_id: int) -> str:
        """What a bubble shows now (tests and screenshots read it)."""
        w = self.widgets.get(message_id)
        return w.shown_html() if isinstance(w, TextBubble) else ""
