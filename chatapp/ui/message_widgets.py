"""One widget per message: text bubbles (markdown) and image bubbles (progress, preview, picture, actions)."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage, QKeyEvent, QPixmap, QTextDocument
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy,
                               QVBoxLayout, QWidget)

from ..conversation import CANCELLED, DONE, ERROR, QUEUED, RENDERING, STOPPED, STREAMING, Message
from . import markdown

SAFE_SCHEMES = ("http", "https")
THUMB = 320  # longest side of an inline picture, in pixels
USER_MAX_WIDTH = 560
# Laying out a 1 MB paste takes seconds on the GUI thread; past this many characters the bubble
# shows the start and says how much more there is (the whole text is still saved and sent).
DISPLAY_LIMIT = 20_000


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
        super().setText(text)

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


class MessageWidget(QFrame):
    """Base: knows its Message; the view updates it in place."""
    action = Signal(str, object)   # action name, Message

    def __init__(self, message: Message, parent=None):
        super().__init__(parent)
        self.message = message

    def update_message(self, message: Message) -> None:
        self.message = message


class TextBubble(MessageWidget):
    def __init__(self, message: Message, parent=None):
        super().__init__(message, parent)
        self.code_blocks: list[str] = []
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
        self.label.linkActivated.connect(self._on_link)
        layout.addWidget(self.label)
        self.footer = QLabel(self.box)
        self.footer.setObjectName("messageFooter")
        self.footer.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.footer)
        self.regenerate_button = None
        if message.role == "assistant":
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            copy = QPushButton("Copy", self.box)
            copy.setObjectName("linkButton")
            copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.message.content))
            self.regenerate_button = QPushButton("Regenerate", self.box)
            self.regenerate_button.setObjectName("linkButton")
            self.regenerate_button.clicked.connect(lambda: self.action.emit("regenerate", self.message))
            row.addWidget(copy)
            row.addWidget(self.regenerate_button)
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
        body, self.code_blocks = markdown.render(text)
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
            f"{dropped} older messages were left out to fit the model's context" if dropped else "") if part)
        self.footer.setText(footer)
        self.footer.setVisible(bool(footer))
        if self.regenerate_button is not None:
            self.regenerate_button.setVisible(m.status in (DONE, STOPPED, ERROR))

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
        self.actions_row = QHBoxLayout()
        for text, name in self.ACTIONS:
            b = QPushButton(text, self)
            b.setObjectName("linkButton")
            b.clicked.connect(lambda _=False, n=name: self.action.emit(n, self.message))
            self.actions_row.addWidget(b)
        self.actions_row.addStretch(1)
        layout.addLayout(self.actions_row)
        self.update_message(message)

    def _show_actions(self, visible: bool) -> None:
        for i in range(self.actions_row.count()):
            w = self.actions_row.itemAt(i).widget()
            if w:
                w.setVisible(visible)

    def update_message(self, message: Message) -> None:
        super().update_message(message)
        m = message
        rendering = m.status in (QUEUED, RENDERING)
        self.progress.setVisible(rendering)
        self.cancel_button.setVisible(rendering)
        self.status.setVisible(rendering or m.status in (ERROR, CANCELLED))
        self._show_actions(m.status == DONE)
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

    def set_progress(self, step: int, total: int, seconds_left: float, preview: QImage | None) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.status.setText(f"Step {step}/{total} · {seconds_left:.0f} s left")
        if preview is not None and not preview.isNull():
            self.picture.setPixmap(scaled_for_display(preview, dpr=self.devicePixelRatioF()))
            self.picture.show()
