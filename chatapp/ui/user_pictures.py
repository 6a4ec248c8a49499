"""The pictures of a user's message (meta["pictures"]): thumbnails under its text, read off the GUI thread; a click
(or Enter) opens one full size in a window of its own, as the assistant's pictures open."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from .thumbnails import Thumb, loader

BUBBLE_THUMB = 120   # px, the long side of a picture in a user's bubble
PER_ROW = 4


def pictures_of(meta: dict) -> list[dict]:
    """The well-formed picture entries of a message's meta (an imported or damaged one may have others)."""
    found = meta.get("pictures") if isinstance(meta, dict) else None
    return [p for p in found if isinstance(p, dict) and isinstance(p.get("path"), str)] \
        if isinstance(found, list) else []


class PictureRow(QWidget):
    """Thumbnails of a message's pictures, right-aligned under the user's text, wrapped PER_ROW to a line."""

    def __init__(self, pictures: list[dict], parent=None):
        super().__init__(parent)
        self.setObjectName("messagePictures")
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 2, 0, 2)
        rows.setSpacing(6)
        self.pictures = pictures
        self.thumbs: list[Thumb] = []
        for start in range(0, len(pictures), PER_ROW):
            line = QHBoxLayout()
            line.setSpacing(6)
            line.addStretch(1)
            for picture in pictures[start:start + PER_ROW]:
                thumb = Thumb(picture["path"], BUBBLE_THUMB, label(picture), self)
                thumb.activated.connect(lambda p=picture: open_picture(self, p))
                line.addWidget(thumb)
                self.thumbs.append(thumb)
            rows.addLayout(line)



def open_picture(widget, picture: dict) -> None:
    """The picture full size in a window of its own, over widget's window."""
    window = widget.window()
    viewer = PictureWindow(picture["path"], label(picture), window)
    viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.viewer = viewer   # as MainWindow.show_picture keeps the assistant's
    viewer.show()


def label(picture: dict) -> str:
    """What the user knows a picture by, and its size when known: "cat.jpg (1024 x 768)"."""
    name = str(picture.get("name") or "picture")
    w, h = picture.get("width"), picture.get("height")
    return f"{name} ({w} x {h})" if isinstance(w, int) and isinstance(h, int) else name


class PictureWindow(QDialog):
    """A user's picture full size, scrolled when larger than the screen; read off the GUI thread."""

    def __init__(self, path: str, title: str, parent=None):
        super().__init__(parent)
        self.path = path
        self.setWindowTitle(title)
        self.picture = QLabel("Loading…", self)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setObjectName("picture")
        area = QScrollArea(self)
        area.setWidget(self.picture)
        area.setWidgetResizable(True)
        area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        QVBoxLayout(self).addWidget(area)
        self.resize(640, 520)
        loader().ready.connect(self._ready)
        loader().load(path, 0)

    def _ready(self, path: str, side: int, fill: bool, image: QImage, why: str) -> None:
        if (path, side, fill) != (self.path, 0, False):
            return
        loader().ready.disconnect(self._ready)
        if image.isNull():
            self.picture.setText(f"The picture cannot be shown: {why}.")
            return
        self.picture.setPixmap(QPixmap.fromImage(image))
        self.resize(min(image.width() + 40, 1000), min(image.height() + 40, 850))
