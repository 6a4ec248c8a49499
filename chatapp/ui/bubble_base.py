"""What every message bubble shares: the base widget, selectable rich labels, link buttons, the branch switcher."""
from __future__ import annotations

import time
from collections import deque
from typing import Callable

from PySide6.QtCore import QObject, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeyEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from ..conversation import Message
from . import bubble_actions

SAFE_SCHEMES = ("http", "https")
THUMB = 320  # longest side of an inline picture, in pixels
USER_MAX_WIDTH = 560
# Laying out a 1 MB paste takes seconds on the GUI thread; past this many characters the bubble
# shows the start and says how much more there is (the whole text is still saved and sent).
DISPLAY_LIMIT = 20_000
MIN_FILL_WIDTH = 160   # narrowest a full-width text label lets the column get


# ...and a paste of 100,000 short lines made a 30,000-px bubble that cost 0.6 s to lay out and
# paint on every send and reopen: a user's text shows at most this many lines.
DISPLAY_LINES = 400


def clipped(text: str, lines: int | None = None) -> tuple[str, str]:
    """The part of text a bubble shows, and a note on the rest (empty when all of it is shown)."""
    if lines is not None and text.count("\n") >= lines:
        cut = -1
        for _ in range(lines):
            cut = text.index("\n", cut + 1)
        if cut < DISPLAY_LIMIT:
            return text[:cut], f"… {text.count(chr(10), cut) :,} more lines not shown (all of it was kept)"
    if len(text) <= DISPLAY_LIMIT:
        return text, ""
    return text[:DISPLAY_LIMIT], f"… {len(text) - DISPLAY_LIMIT:,} more characters not shown (all of it was kept)"


SLICE_MS = 15   # no further job starts in an event-loop turn that took this long (one is ~10-50 ms)


class Slices(QObject):
    """Bounded GUI-thread jobs (a bubble's text laid out), a few per event-loop turn, one queue for
    all: two queues each taking its share could still fill one frame between them."""

    def __init__(self):
        super().__init__()
        self._jobs: deque[Callable[[], bool]] = deque()
        self._timer = QTimer(self)
        self._timer.setInterval(0)   # a true zero timer: input, painting and other timers run between turns
        self._timer.timeout.connect(self._run)

    def add(self, job: Callable[[], bool]) -> None:
        """job does one piece of work and returns whether it has more (it is then queued again)."""
        if job not in self._jobs:
            self._jobs.append(job)
        self._timer.start()

    def _run(self) -> None:
        start = time.perf_counter()
        while self._jobs and (time.perf_counter() - start) * 1000 < SLICE_MS:
            job = self._jobs.popleft()
            if job():
                self._jobs.append(job)
        if not self._jobs:
            self._timer.stop()

    def busy(self) -> bool:
        return bool(self._jobs)


_slices: Slices | None = None


def slices() -> Slices:
    global _slices
    if _slices is None:
        _slices = Slices()
    return _slices


def open_link(url: str) -> bool:
    """Links open only on click, only http(s), in the system browser."""
    qurl = QUrl(url)
    if qurl.scheme().lower() in SAFE_SCHEMES:
        return QDesktopServices.openUrl(qurl)
    return False


class RichLabel(QLabel):
    """Selectable rich text whose links never navigate by themselves."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)   # never Qt's AutoText guessing
        self.setWordWrap(True)
        self.setOpenExternalLinks(False)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)  # with a shrinkable height, layouts use minimumSizeHint below
        self.setSizePolicy(policy)

    def setText(self, text: str) -> None:
        self._heights = {}
        self._size_hint = self._min_hint = None
        super().setText(text)

    fills_width = False   # a bubble whose text takes the column's whole width (replies, notices)
    hint_width = 0        # a user's bubble: its width, known from its text (QLabel's own hints lay it all out, twice)

    def sizeHint(self) -> QSize:
        # Every layout pass asks, and for rich text QLabel lays the whole text out again, twice,
        # each time. A label that fills the width only needs its height at its width (cached).
        hint = self.__dict__.get("_size_hint")
        if hint is None:
            if self.fills_width and self.width() > 0:
                hint = QSize(self.width(), self.heightForWidth(self.width()))
            elif self.hint_width:
                hint = QSize(self.hint_width, self.heightForWidth(self.hint_width))
            else:
                hint = super().sizeHint()
            self._size_hint = hint
        return hint

    def resizeEvent(self, event) -> None:
        self._size_hint = None
        super().resizeEvent(event)

    def heightForWidth(self, width: int) -> int:
        # QLabel lays its rich text out anew on every call; a long conversation asks for every
        # label's height (at a few widths) on each relayout, so remember them until the text changes.
        heights = self.__dict__.setdefault("_heights", {})
        if width not in heights:
            if len(heights) > 8:
                heights.clear()
            heights[width] = super().heightForWidth(width)
        return heights[width]

    def minimumSizeHint(self) -> QSize:
        # QLabel's own minimum height is that of its text wrapped at a narrow width, far taller
        # than at the real width; summed over a conversation it left blank space at the bottom.
        # The layout asks heightForWidth() for the real height instead. QLabel lays the whole text
        # out to answer, and every layout pass asks: remember it until the text changes.
        if self.hint_width:
            return QSize(self.minimumWidth(), 0)
        if self.fills_width:
            # QLabel finds its minimum width by laying the whole text out narrow: 62 ms for 20,000
            # characters. A full-width label gets the column's width anyway; this is only a floor.
            return QSize(MIN_FILL_WIDTH, 0)
        hint = self.__dict__.get("_min_hint")
        if hint is None:
            hint = self._min_hint = QSize(super().minimumSizeHint().width(), 0)
        return hint


def link_button(text: str, parent: QWidget, tip: str = "") -> QPushButton:
    b = QPushButton(text, parent)
    b.setObjectName("linkButton")
    b.setAccessibleName(tip or text)
    if tip:
        b.setToolTip(tip)
    return b


class BranchSwitcher(QWidget):
    """"< 2/3 >" under a message that has siblings (edits or regenerated replies)."""

    def __init__(self, owner: "MessageWidget"):
        super().__init__(owner)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.prev = link_button("‹", self, "Previous version")
        self.label = QLabel(self)
        self.label.setObjectName("messageFooter")
        self.next = link_button("›", self, "Next version")
        self.prev.clicked.connect(lambda: owner.action.emit("branch_prev", owner.message))
        self.next.clicked.connect(lambda: owner.action.emit("branch_next", owner.message))
        for w in (self.prev, self.label, self.next):
            row.addWidget(w)

    def show_branch(self, branch: tuple[int, int]) -> None:
        index, count = branch
        self.setVisible(count > 1)
        self.label.setText(f"{index}/{count}")
        self.prev.setEnabled(index > 1)
        self.next.setEnabled(index < count)


class MessageWidget(QFrame):
    """Base: knows its Message; the view updates it in place."""
    action = Signal(str, object)   # action name (in bubble_actions.ACTIONS), Message

    def __init__(self, message: Message, parent=None):
        super().__init__(parent)
        self.message = message
        self.action_buttons: dict[str, QPushButton] = {}

    def add_action_buttons(self, kind: str, parent: QWidget, row: QHBoxLayout) -> None:
        """A button for each registered action this kind of bubble shows (bubble_actions.ACTIONS)."""
        for name, act in bubble_actions.buttons_for(kind):
            b = link_button(act.label, parent, act.tip)
            if act.chip:
                b.setObjectName("suggestionChip")
            b.clicked.connect(lambda _=False, n=name: self.action.emit(n, self.message))
            row.addWidget(b)
            self.action_buttons[name] = b

    def show_action_buttons(self, message: Message) -> None:
        for name, button in self.action_buttons.items():
            shown = bubble_actions.shown(name, message)
            label = shown and bubble_actions.text(name, message)
            if label and label.replace("&", "&&") != button.text():
                button.setText(label.replace("&", "&&"))   # a typed "&" is text, not a shortcut's mark
                button.setAccessibleName(label)
            button.setVisible(shown)

    def update_message(self, message: Message) -> None:
        # Updates from the worker side do not know the message's place among its siblings.
        if message.branch == (1, 1) and self.message.id == message.id:
            message.branch = self.message.branch
        self.message = message


class PictureLabel(QLabel):
    """The inline picture: click or Enter opens it full size."""
    activated = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setObjectName("picture")

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.activated.emit()
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.activated.emit()
            return
        super().keyPressEvent(event)
