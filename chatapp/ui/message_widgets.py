"""One widget per message: text bubbles (markdown) and image bubbles (progress, preview, picture, actions)."""
from __future__ import annotations

import time
import weakref

import shiboken6
from PySide6.QtCore import QObject, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage, QKeyEvent, QPixmap, QTextDocument
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy,
                               QVBoxLayout, QWidget)

from ..conversation import CANCELLED, DONE, ERROR, QUEUED, RENDERING, STOPPED, STREAMING, Message
from ..workers import PoolCalls
from . import markdown
from .sources import SourceList, passages_note

SAFE_SCHEMES = ("http", "https")
THUMB = 320  # longest side of an inline picture, in pixels
USER_MAX_WIDTH = 560
# Laying out a 1 MB paste takes seconds on the GUI thread; past this many characters the bubble
# shows the start and says how much more there is (the whole text is still saved and sent).
DISPLAY_LIMIT = 20_000
# Markdown of up to this many characters is rendered on the spot (a few ms, ~35 ms for the worst
# input known); longer text is rendered on the thread pool, as parsing 20,000 hostile characters
# can take half a second. Only the (budgeted) layout of the result happens on the GUI thread.
SYNC_CHARS = 2_000
RENDER_SHARE = 0.15   # while a long reply streams, its layout takes at most ~15% of the GUI thread


def clipped(text: str) -> tuple[str, str]:
    if len(text) <= DISPLAY_LIMIT:
        return text, ""
    return text[:DISPLAY_LIMIT], f"… {len(text) - DISPLAY_LIMIT:,} more characters not shown (all of it was kept)"


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
        self._size_hint = None
        super().setText(text)

    fills_width = False   # a bubble whose text takes the column's whole width (replies, notices)

    def sizeHint(self) -> QSize:
        # Every layout pass asks, and for rich text QLabel lays the whole text out again, twice,
        # each time. A label that fills the width only needs its height at its width (cached).
        hint = self.__dict__.get("_size_hint")
        if hint is None:
            if self.fills_width and self.width() > 0:
                hint = QSize(self.width(), self.heightForWidth(self.width()))
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
        # The layout asks heightForWidth() for the real height instead.
        return QSize(super().minimumSizeHint().width(), 0)


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


class MessageWidget(QFrame):
    """Base: knows its Message; the view updates it in place."""
    action = Signal(str, object)   # action name, Message

    def __init__(self, message: Message, parent=None):
        super().__init__(parent)
        self.message = message

    def update_message(self, message: Message) -> None:
        # Updates from the worker side do not know the message's place among its siblings.
        if message.branch == (1, 1) and self.message.id == message.id:
            message.branch = self.message.branch
        self.message = message


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


def scaled_for_display(image: QImage, longest: int = THUMB, dpr: float = 1.0) -> QPixmap:
    """Keep the aspect ratio; small native pictures are upscaled smoothly; dpr device pixels per logical one."""
    side = round(longest * dpr)
    size = QSize(image.width(), image.height()).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio)
    pixmap = QPixmap.fromImage(image.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
    pixmap.setDevicePixelRatio(dpr)   # high-DPI screens get every device pixel, laid out at the logical size
    return pixmap


class ImageBubble(MessageWidget):
    ACTIONS = (("Save as…", "save"), ("Copy image", "copy_image"), ("Copy prompt", "copy_prompt"),
               ("Re-run", "rerun"), ("Vary seed", "vary_seed"))

    def __init__(self, message: Message, parent=None):
        super().__init__(message, parent)
        self.setObjectName("imageBubble")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        self.caption = QLabel(self)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.caption.setWordWrap(True)
        self.caption.setObjectName("imageCaption")
        layout.addWidget(self.caption)
        self.picture = PictureLabel(self)
        self.picture.activated.connect(lambda: self.action.emit("open", self.message))
        layout.addWidget(self.picture)
        row = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.status = QLabel(self)
        self.status.setObjectName("messageFooter")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(lambda: self.action.emit("cancel", self.message))
        row.addWidget(self.progress, 1)
        row.addWidget(self.status)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        # Below the bar: the expected total and faster settings while rendering; afterwards the
        # picture's note (prompt cut short, batch cancelled).
        self.hint = QLabel(self)
        self.hint.setObjectName("messageFooter")
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.hint.setWordWrap(True)
        self.hint.hide()
        layout.addWidget(self.hint)
        self.actions_row = QHBoxLayout()
        self.action_buttons: dict[str, QPushButton] = {}
        for text, name in self.ACTIONS:
            b = QPushButton(text, self)
            b.setObjectName("linkButton")
            b.clicked.connect(lambda _=False, n=name: self.action.emit(n, self.message))
            self.actions_row.addWidget(b)
            self.action_buttons[name] = b
        self.actions_row.addStretch(1)
        layout.addLayout(self.actions_row)
        self.update_message(message)

    def _show_actions(self, status: str) -> None:
        for name, button in self.action_buttons.items():
            # A cancelled picture can still be asked for again.
            button.setVisible(status == DONE or (status == CANCELLED and name == "rerun"))

    def update_message(self, message: Message) -> None:
        super().update_message(message)
        m = message
        rendering = m.status in (QUEUED, RENDERING)
        self.progress.setVisible(rendering)
        self.cancel_button.setVisible(rendering)
        self.cancel_button.setEnabled(True)
        self.status.setVisible(rendering or m.status in (ERROR, CANCELLED))
        self._show_actions(m.status)
        note = m.meta.get("note", "") if m.status == DONE else ""
        self.hint.setText(note)
        self.hint.setVisible(bool(note))
        req = m.meta.get("request", {})
        self.caption.setText(req.get("prompt", m.content))
        if m.status == QUEUED:
            self.status.setText("Queued")
            self.progress.setRange(0, 1)   # still, not busy: nothing is happening to it yet
            self.progress.setValue(0)
        elif m.status == RENDERING:
            self.status.setText("Starting…")
            self.progress.setRange(0, 0)
        elif m.status == ERROR:
            self.status.setText(f"⚠ {m.content}")
            self.status.setWordWrap(True)
            self.picture.hide()
        elif m.status == CANCELLED:
            self.status.setText("Cancelled")
        if m.status == DONE and m.image_path:
            image = QImage(m.image_path)
            if image.isNull():
                self.picture.setText("The picture file is missing or damaged.")
            else:
                self.picture.setPixmap(scaled_for_display(image, dpr=self.devicePixelRatioF()))
                self.picture.setToolTip(m.meta.get("parameters", ""))
            self.picture.show()
        elif m.status not in (QUEUED, RENDERING):
            self.picture.setVisible(m.status == DONE)

    def set_progress(self, status) -> None:
        """Show an ImageStatus: its text, a bar (busy when there is no fraction), preview and hint."""
        if self.message.status not in (QUEUED, RENDERING):
            return
        if status.fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(status.fraction * 1000))
        self.status.setText(status.text)
        self.cancel_button.setEnabled(status.cancellable)
        if status.hint:
            self.hint.setText(status.hint)
            self.hint.show()
        preview = status.preview
        if preview is not None and not preview.isNull():
            self.picture.setPixmap(scaled_for_display(preview, dpr=self.devicePixelRatioF()))
            self.picture.show()
