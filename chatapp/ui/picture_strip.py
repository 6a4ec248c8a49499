"""The composer's pending pictures: a thumbnail each with its remove (x) button, above the message box, and a
note when the chat model cannot see pictures (said before sending, so the answer is no surprise)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .thumbnails import Thumb
from .user_pictures import open_picture

STRIP_THUMB = 56   # px: small enough that the message box keeps its place
REMOVE = 20        # px, the x button


class PendingStrip(QWidget):
    """Shows the session's pending pictures (pending_pictures: dicts with "path" and "name"); hidden when none."""
    remove_requested = Signal(int)   # the index of the picture whose x was pressed

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("pendingPictures")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 4)
        outer.setSpacing(2)
        self.row = QHBoxLayout()
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(8)
        self.row.addStretch(1)
        outer.addLayout(self.row)
        self.note = QLabel(self)
        self.note.setObjectName("messageFooter")
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setWordWrap(True)
        self.note.hide()
        outer.addWidget(self.note)
        self.pictures: list[dict] = []
        self.items: list[QWidget] = []
        self.thumbs: list[Thumb] = []
        self._blind_model = ""   # the chat model's name when it cannot see pictures
        self.hide()

    def set_pictures(self, pictures: list) -> None:
        for item in self.items:
            self.row.removeWidget(item)
            item.deleteLater()
        self.items, self.thumbs = [], []
        self.pictures = [p for p in pictures if isinstance(p, dict) and p.get("path")]
        for index, picture in enumerate(self.pictures):
            self.row.insertWidget(index, self._item(index, picture))
        self.setVisible(bool(self.pictures))
        self._show_note()

    def _item(self, index: int, picture: dict) -> QWidget:
        name = str(picture.get("name") or "picture")
        item = QWidget(self)   # the thumbnail with its x on the top right corner, over the picture's edge
        item.setFixedSize(STRIP_THUMB + REMOVE // 2, STRIP_THUMB + REMOVE // 2)
        thumb = Thumb(str(picture["path"]), STRIP_THUMB, name, item, fill=True)
        thumb.move(0, REMOVE // 2)
        thumb.activated.connect(lambda p=picture: open_picture(self, p))   # a look at it full size before sending
        remove = QPushButton("×", item)
        remove.setObjectName("removePicture")
        remove.setFixedSize(REMOVE, REMOVE)
        remove.move(STRIP_THUMB + REMOVE // 2 - REMOVE, 0)
        remove.setToolTip(f"Remove {name}")
        remove.setAccessibleName(f"Remove picture {name}")
        remove.clicked.connect(lambda _=False, i=index: self.remove_requested.emit(i))
        self.items.append(item)
        self.thumbs.append(thumb)
        return item

    def remove_buttons(self) -> list[QPushButton]:
        return [item.findChild(QPushButton, "removePicture") for item in self.items]

    def set_blind_model(self, name: str) -> None:
        """The chat model's name when it cannot see pictures; "" when it can (or is not known yet)."""
        self._blind_model = name
        self._show_note()

    def _show_note(self) -> None:
        text = (f"{self._blind_model} cannot see pictures: sent, they are kept in the chat but not answered. "
                "Choose a vision model (Settings) to ask about them.") if self._blind_model and self.pictures else ""
        self.note.setText(text)
        self.note.setVisible(bool(text))
