"""Attaching files: chips per file in the chat, the paperclip button, dropped files, library progress. Pictures
among them go to the next message's pictures (picture_drop.py), the other files to document indexing."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from ..conversation import Message
from ..documents import readers
from ..documents.extract import human_size
from ..picture_bytes.formats import SUFFIXES as PICTURE_SUFFIXES, looks_like_picture as is_picture
from .message_widgets import USER_MAX_WIDTH, MessageWidget
from .picture_drop import image_of


def chip_text(c: dict) -> str:
    """name · size · pages, or the reason the file could not be read."""
    parts = [c.get("name", "?"), human_size(c.get("size") or 0)]
    if c.get("status") == "ready" and c.get("pages"):
        reader = readers.READERS.get(c.get("kind") or "")   # a presentation's "pages" are its slides
        unit = reader.unit if reader else "page"
        parts.append(f"{c['pages']} {unit}{'' if c['pages'] == 1 else 's'}")
    elif c.get("status") == "pending":
        parts.append("indexing…")
    if c.get("status") == "error":
        return "⚠ " + " · ".join(parts) + f" — {c.get('error') or 'could not be read'}"
    return " · ".join(parts)


class AttachmentBubble(MessageWidget):
    """A user's attachment message: one chip per file, right-aligned like the user's text."""

    def __init__(self, message: Message, parent=None):
        super().__init__(message, parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        self.box = QWidget(self)
        self.box.setMaximumWidth(USER_MAX_WIDTH + 28)
        self.chips_layout = QVBoxLayout(self.box)
        self.chips_layout.setContentsMargins(0, 0, 0, 0)
        self.chips_layout.setSpacing(4)
        row.addWidget(self.box)
        self.chips: list[QLabel] = []
        self.update_message(message)

    def update_message(self, message: Message) -> None:
        super().update_message(message)
        for chip in self.chips:
            self.chips_layout.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for c in message.meta.get("attachments") or [{"name": message.content, "status": "ready"}]:
            chip = QLabel(chip_text(c), self.box)
            failed = c.get("status") == "error"
            chip.setObjectName("attachmentChipError" if failed else "attachmentChip")
            chip.setTextFormat(Qt.TextFormat.PlainText)
            chip.setToolTip(c.get("path") or c.get("name", ""))
            # Only a reason wraps: a right-aligned wrapping label gets a narrow width and a cut-off line.
            chip.setWordWrap(failed)
            self.chips_layout.addWidget(chip, 0, Qt.AlignmentFlag.AlignRight)
            self.chips.append(chip)

    def chip_texts(self) -> list[str]:
        return [c.text() for c in self.chips]


def local_files(mime) -> list[str]:
    """Dropped local files that are not pictures (pictures go to the next message: picture_drop.py)."""
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and not is_picture(u.toLocalFile())]


def picture_files(mime) -> list[str]:
    """The local picture files among dropped ones."""
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and is_picture(u.toLocalFile())]


class _DropFilter(QObject):
    """Files dropped anywhere on the window (composer included) are attached; pictures become the next message's."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            return False
        mime = event.mimeData()
        files, pictures = local_files(mime), picture_files(mime)
        # A picture dragged out of a browser is its address and its pixels, no file: the pixels are taken.
        image = mime.hasImage() and not files and not pictures
        if not (files or pictures or image):
            return False
        event.acceptProposedAction()
        if kind == QEvent.Type.Drop:
            if files:
                self.window.session.attach_files(files)
            if pictures:
                self.window.picture_drop.dropped(pictures)
            if image and (pixels := image_of(mime)) is not None:
                self.window.picture_drop.pasted(pixels, "dropped picture")
        return True


def pick_files(window) -> None:
    """The paperclip: documents and pictures in one dialog; each kind goes its own way."""
    pictures = " ".join("*" + s for s in PICTURE_SUFFIXES)
    documents = readers.file_filter().partition(";;")[0]   # "Documents (*.pdf ...)"
    both = f"Documents and pictures ({documents.partition('(')[2].rstrip(')')} {pictures})"
    paths, _ = QFileDialog.getOpenFileNames(window, "Attach files", str(Path.home()),
                                            f"{both};;Pictures ({pictures});;{documents};;All files (*)")
    attach_paths(window, paths)


def attach_paths(window, paths: list[str]) -> None:
    files = [p for p in paths if not is_picture(p)]
    pictures = [p for p in paths if is_picture(p)]
    if files:
        window.session.attach_files(files)
    if pictures:   # chosen on purpose: no menu, they are the next message's pictures
        window.session.attach_pictures(pictures)


def install(window) -> None:
    """Wire attachments into the main window: paperclip, drops, library progress in the status bar."""
    session = window.session
    clip = QPushButton("Attach", window.composer)   # text, not an emoji: not every system has the font
    clip.setObjectName("attachButton")
    clip.setToolTip(f"Attach files ({readers.kinds_label()}) or pictures to ask about")
    clip.setAccessibleName("Attach files or pictures")
    # Every suffix a reader claims, read when asked: one registry for the dialog, the help and the index.
    clip.clicked.connect(lambda: pick_files(window))
    window.composer.add_leading_button(clip)
    window.attach_button = clip

    window.setAcceptDrops(True)
    window._drop_filter = _DropFilter(window)
    for target in (window, window.composer.editor.viewport(), window.view.viewport()):
        target.setAcceptDrops(True)
        target.installEventFilter(window._drop_filter)

    bar = QProgressBar(window)
    bar.setFixedWidth(140)
    bar.setFixedHeight(8)
    bar.setTextVisible(False)
    label = QLabel("", window)
    label.setObjectName("statusText")
    cancel = QPushButton("Cancel", window)
    cancel.setObjectName("linkButton")
    cancel.clicked.connect(session.cancel_indexing)
    for w in (label, bar, cancel):
        window.statusBar().addWidget(w)
        w.hide()
    window.index_progress = bar

    def on_progress(done: int, total: int, name: str) -> None:
        running = done < total
        for w in (label, bar, cancel):
            w.setVisible(running)
        bar.setRange(0, max(total, 1))
        bar.setValue(done)
        label.setText(f"· indexing {done + 1}/{total}: {name}" if running else "")

    def on_finished(_complete: bool) -> None:
        for w in (label, bar, cancel):
            w.hide()
    session.indexing_progress.connect(on_progress)
    session.indexing_finished.connect(on_finished)
