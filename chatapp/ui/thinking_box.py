"""A reasoning model's thinking above its answer: live and dimmed while it thinks, then one "Thought for N s" line
that opens to the whole of it (as ChatGPT, LM Studio and Open WebUI show it)."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton, QVBoxLayout, QWidget

from ..conversation import thought_title
from .bubble_base import open_link
from .markdown_label import MarkdownLabel

# While it thinks, only the thinking's last characters are shown: a model may think for thousands of
# tokens, and laying all of them out again every frame would cost the GUI thread more with each one.
LIVE_CHARS = 600


class ThinkingBox(QWidget):
    """The header (a button that opens and closes it) and the thinking's text below."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("thinkingBox")
        self.full = ""            # the whole thinking so far
        self.live = True          # the model is still thinking (nothing of the answer yet)
        self._since: float | None = None   # when the live thinking was first shown
        self.header = QToolButton(self)
        self.header.setObjectName("thinkingHeader")
        self.header.setCheckable(True)
        self.header.setAutoRaise(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setCursor(Qt.CursorShape.PointingHandCursor)
        self.header.toggled.connect(self._opened)
        self.body = MarkdownLabel(self)
        self.body.setObjectName("thinkingText")
        self.body.fills_width = True
        self.body.linkActivated.connect(open_link)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(2)
        layout.addWidget(self.header, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self._set_header("Thinking…", open_=True)

    def _set_header(self, title: str, open_: bool) -> None:
        self.header.blockSignals(True)
        self.header.setChecked(open_)
        self.header.blockSignals(False)
        self.header.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.header.setText(title)
        self.body.setVisible(open_)

    def show_live(self, text: str) -> None:
        """The thinking so far, while the model thinks: its last lines, open."""
        self.full, self.live = text, True
        if self._since is None:
            self._since = time.monotonic()
        tail = text[-LIVE_CHARS:]
        if len(text) > LIVE_CHARS:
            tail = "…" + tail[tail.find(" ") + 1:]   # from a word's start
        self._set_header("Thinking…", open_=True)
        self.body.show_markdown(tail, False)

    def show_done(self, text: str, seconds, open_: bool | None = None) -> None:
        """The thinking is over (the answer began, or the reply ended): one closed line, opened on a click.
        seconds: how long it took (None: as long as this box showed it live); open_: None keeps it as the
        user left it (closed after the live view)."""
        if seconds is None and self.live and self._since is not None:
            seconds = time.monotonic() - self._since
        if open_ is None:
            open_ = self.header.isChecked() and not self.live
        self.full, self.live = text, False
        self._set_header(thought_title(seconds), open_=open_)
        if open_:
            self.body.show_markdown(text, True)

    def _opened(self, open_: bool) -> None:
        self.header.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.body.setVisible(open_)
        if open_ and not self.live:
            self.body.show_markdown(self.full, True)
