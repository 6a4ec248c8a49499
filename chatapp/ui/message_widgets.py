"""One widget per message: text bubbles (markdown, rendered off the GUI thread when long); the rest is re-exported."""
from __future__ import annotations

import time
import weakref

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QTextDocument
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout

from ..conversation import DONE, ERROR, STOPPED, STREAMING, Message
from ..workers import PoolCalls
from . import markdown
from .bubble_base import (DISPLAY_LIMIT, SAFE_SCHEMES, THUMB, USER_MAX_WIDTH, BranchSwitcher, MessageWidget,  # noqa: F401
                          RichLabel, clipped, link_button, open_link)
from .image_bubble import ImageBubble, PictureLabel, scaled_for_display  # noqa: F401
from .sources import SourceList, passages_note

# Markdown of up to this many characters is rendered on the spot (a few ms, ~35 ms for the worst
# input known); longer text is rendered on the thread pool, as parsing 20,000 hostile characters
# can take half a second. Only the (budgeted) layout of the result happens on the GUI thread.
SYNC_CHARS = 2_000
RENDER_SHARE = 0.15   # while a long reply streams, its layout takes at most ~15% of the GUI thread


class _Renderer(QObject):
    """Markdown for long texts rendered on the thread pool; each result goes to the bubble that asked."""

    def __init__(self):
        super().__init__()
        self.calls = PoolCalls()
        self.calls.done.connect(self._done)
        self._asked: dict[int, tuple[weakref.ref, str]] = {}

    def request(self, bubble: TextBubble, text: str, remember: bool) -> None:
        call_id = self.calls.call(markdown.render, text, remember)
        self._asked[call_id] = (weakref.ref(bubble), text)

    def _done(self, call_id: int, result, error) -> None:
        ref, text = self._asked.pop(call_id, (None, ""))
        bubble = ref() if ref else None
        if bubble is not None and shiboken6.isValid(bubble):
            bubble.rendered(text, result if error is None else (markdown.plain_block(text), []))


_renderer: _Renderer | None = None


def _background() -> _Renderer:
    global _renderer
    if _renderer is None:
        _renderer = _Renderer()
    return _renderer


class TextBubble(MessageWidget):
    def __init__(self, message: Message, parent=None):
        super().__init__(message, parent)
        self.code_blocks: list[str] = []
        self._wanted = ""           # the newest text asked for
        self._rendering = False     # a render of a long text is on the thread pool
        self._shown = False
        # The styled box sits in a full-width row: a user's box is pushed right by a stretch,
        # which (unlike layout alignment) still lets wrapped text grow in height.
        self.box = QFrame(self)
        self.box.setObjectName("userBubble" if message.role == "user" else
                               "noticeBubble" if message.role == "notice" else "assistantBubble")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        if message.role == "user":
            row.addStretch(1)
            self.box.setMaximumWidth(USER_MAX_WIDTH + 28)
        row.addWidget(self.box, 0 if message.role == "user" else 1)
        layout = QVBoxLayout(self.box)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)
        self.label = RichLabel(self.box)
        self.label.fills_width = message.role != "user"
        self.label.linkActivated.connect(self._on_link)
        layout.addWidget(self.label)
        self.footer = QLabel(self.box)
        self.footer.setObjectName("messageFooter")
        self.footer.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.footer)
        self.sources = None         # passages from the user's files this reply was given (made when there are some)
        self.regenerate_button = self.edit_button = self.switcher = self._actions = None
        if message.role in ("user", "assistant"):
            row = self._actions = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            if message.role == "assistant":
                copy = link_button("Copy", self.box, "Copy the reply")
                copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.message.content))
                self.regenerate_button = link_button("Regenerate", self.box, "Another answer, keeping this one")
                self.regenerate_button.clicked.connect(lambda: self.action.emit("regenerate", self.message))
                row.addWidget(copy)
                row.addWidget(self.regenerate_button)
            else:
                self.edit_button = link_button("Edit", self.box, "Edit and resend (the old version is kept)")
                self.edit_button.clicked.connect(lambda: self.action.emit("edit", self.message))
                row.addWidget(self.edit_button)
            delete = link_button("Delete", self.box, "Delete this message and everything after it")
            delete.clicked.connect(lambda: self.action.emit("delete_branch", self.message))
            row.addWidget(delete)
            row.addStretch(1)
            layout.addLayout(row)
        self.update_message(message)

    def set_text(self, text: str) -> None:
        text, more = clipped(text)
        if more:
            self.footer.setText(more)
            self.footer.show()
        if self.message.role == "user":
            html = markdown.plain_html(text)
            self.label.setText(html)
            # A right-aligned bubble gets only its size hint, which for wrapped rich text is
            # narrow: ask for the text's natural width, up to a readable maximum.
            self.label.ensurePolished()  # the stylesheet's font size applies from here on
            doc = QTextDocument()
            doc.setDefaultFont(self.label.font())
            doc.setHtml(html)
            self.label.setMinimumWidth(min(int(doc.idealWidth()) + 4, USER_MAX_WIDTH))
            return
        self._wanted = text
        finished = self.message.status != STREAMING
        hit = markdown.cached(text)
        if hit is None and len(text) <= SYNC_CHARS:
            hit = markdown.render(text, finished)
        if hit is not None:
            self._show(hit)
        elif not self._rendering:
            if not self._shown:
                self._show((markdown.plain_block(text), []))   # readable at once; formatted when ready
            self._rendering = True
            _background().request(self, text, finished)
        # else: the render in flight comes back to rendered(), which asks again for the newest text

    def rendered(self, text: str, result: tuple[str, list[str]]) -> None:
        start = time.perf_counter()
        self._show(result)
        if self.label.isVisible():   # lay it out now, at its real width, to know what it cost
            self.label.heightForWidth(self.label.width())
        if text == self._wanted:
            self._rendering = False
        else:   # more text came meanwhile: render it, after a pause that keeps layout's share small
            spent_ms = (time.perf_counter() - start) * 1000
            QTimer.singleShot(int(spent_ms / RENDER_SHARE), self, self._render_newest)

    def _render_newest(self) -> None:
        self._rendering = False
        self.set_text(self._wanted)

    def _show(self, result: tuple[str, list[str]]) -> None:
        body, self.code_blocks = result
        self._shown = True
        if body != self.label.text():   # a long plain text comes back from the pool unchanged
            self.label.setText(body)

    def update_message(self, message: Message) -> None:
        super().update_message(message)
        m = message
        if m.status == STREAMING and not m.content:
            waiting = m.meta.get("waiting")
            self.label.setText("<i>Waiting for the model to load…</i>" if waiting else "<i>Thinking…</i>")
        else:
            self.set_text(m.content)
        dropped = m.meta.get("dropped")
        footer = " · ".join(part for part in (
            {STOPPED: "Stopped", ERROR: "⚠ Could not answer"}.get(m.status, ""),
            clipped(m.content)[1],
            f"{dropped} older messages were left out to fit the model's context" if dropped else "",
            passages_note(m.meta)) if part)
        if m.meta.get("sources") and self.sources is None:
            # Made only for replies that used the user's files: a long chat builds many bubbles.
            self.sources = SourceList(self.box)
            box_layout = self.box.layout()
            box_layout.insertWidget(box_layout.indexOf(self.footer) + 1, self.sources)
        if self.sources is not None:
            self.sources.set_sources(m.meta.get("sources"))
        self.footer.setText(footer)
        self.footer.setVisible(bool(footer))
        if self.regenerate_button is not None:
            self.regenerate_button.setVisible(m.status in (DONE, STOPPED, ERROR))
        if self.switcher is None and m.branch[1] > 1 and self._actions is not None:
            # Made only when needed: most messages have no other versions, and a long chat
            # builds many bubbles.
            self.switcher = BranchSwitcher(self)
            self._actions.insertWidget(0, self.switcher)
        if self.switcher is not None:
            self.switcher.show_branch(m.branch)

    def _on_link(self, url: str) -> None:
        if url.startswith("copy:"):
            index = int(url[5:])
            if 0 <= index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])
        else:
            open_link(url)
