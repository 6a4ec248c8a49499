"""Drop files on a widget the way a desktop's drag and drop does (drag enter, then drop)."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication


def drop_on_composer(window, path) -> None:
    drop_files(window.composer.editor.viewport(), path)


def drop_files(target, *paths) -> None:
    """Qt delivers a drop only to a widget that accepted the drag's entry, as in a real drag."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    drop_mime(target, mime)


def drop_mime(target, mime) -> None:
    """Drag whatever mime holds onto target and drop it there (a picture out of a browser: its address and pixels)."""
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)


def dropped_menu(window, qtbot) -> list:
    """The actions of the menu a dropped picture opens, once its recipe has been read off the GUI thread."""
    qtbot.waitUntil(lambda: window.picture_drop.menu is not None, timeout=30000)
    return window.picture_drop.menu.actions()
