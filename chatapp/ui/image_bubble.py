"""The picture bubble: progress, live preview, the picture itself and its actions."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from ..conversation import CANCELLED, DONE, ERROR, QUEUED, RENDERING, Message
from .bubble_actions import PICTURE
from .bubble_base import THUMB, MessageWidget, PictureLabel, link_button  # noqa: F401
from .thumbnails import device_pixmap, loader


def scaled_for_display(image: QImage, longest: int = THUMB, dpr: float = 1.0) -> QPixmap:
    """Keep the aspect ratio; small native pictures are upscaled smoothly; dpr device pixels per logical one."""
    side = round(longest * dpr)
    size = QSize(image.width(), image.height()).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio)
    return device_pixmap(image.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.SmoothTransformation), dpr)


def caption_text(m: Message) -> str:
    """The prompt, after the picture's number in this chat ("#3", what --init #3 names) and its source."""
    text = m.meta.get("request", {}).get("prompt", m.content)
    number, source = m.meta.get("number"), m.meta.get("edited_from")
    if source:
        text += f"  (edited from #{source})"
    return f"#{number}  {text}" if number else text


class ImageBubble(MessageWidget):
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
        self._wanted: tuple[str, int] | None = None   # the picture file (and device px) shown or on its way
        self._shown: tuple[str, int] | None = None    # the one shown (or found unreadable): not a preview
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
        self.add_action_buttons(PICTURE, self, self.actions_row)   # Save as…, Copy image, Re-run...: bubble_actions
        self.actions_row.addStretch(1)
        layout.addLayout(self.actions_row)
        self.update_message(message)

    def update_message(self, message: Message) -> None:
        super().update_message(message)
        m = message
        rendering = m.status in (QUEUED, RENDERING)
        self.progress.setVisible(rendering)
        self.cancel_button.setVisible(rendering)
        self.cancel_button.setEnabled(True)
        self.status.setVisible(rendering or m.status in (ERROR, CANCELLED))
        self.show_action_buttons(m)
        note = m.meta.get("note", "") if m.status == DONE else ""
        self.hint.setText(note)
        self.hint.setVisible(bool(note))
        self.caption.setText(caption_text(m))
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
            self.picture.setToolTip(m.meta.get("parameters", ""))
            self._show_picture(m.image_path)
            self.picture.show()
        elif m.status not in (QUEUED, RENDERING):
            self.picture.setVisible(m.status == DONE)

    def _show_picture(self, path: str) -> None:
        """The finished picture, decoded and scaled on the thread pool: a 1024 px PNG takes ~20 ms to decode, and
        a chat opening builds three bubbles an event-loop turn. Until it comes the live preview (or "…") stays."""
        side = round(THUMB * self.devicePixelRatioF())
        if self._wanted == (path, side):
            return
        self._wanted = (path, side)
        hit = loader().cached(path, side)
        if hit is not None:
            self._put_picture(*hit)
            return
        if self.picture.pixmap() is None or self.picture.pixmap().isNull():
            self.picture.setText("…")
        loader().ready.connect(self._picture_ready)
        loader().load(path, side)

    def _picture_ready(self, path: str, side: int, fill: bool, image: QImage, why: str) -> None:
        if (path, side) == self._wanted and not fill:
            loader().ready.disconnect(self._picture_ready)
            self._put_picture(image, why)

    def _put_picture(self, image: QImage, why: str) -> None:
        self._shown = self._wanted
        if image.isNull():
            self.picture.setText(f"The picture file is missing or damaged ({why}).")
        else:
            self.picture.setPixmap(device_pixmap(image, self.devicePixelRatioF()))

    def picture_loaded(self) -> bool:
        """The finished picture is shown (or said to be unreadable), not the live preview or a placeholder."""
        return self._shown is not None and self._shown == self._wanted

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
