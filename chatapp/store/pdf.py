"""PDF export: the HTML export's page laid out and printed by Qt (QTextDocument into QPdfWriter), pictures and code colours kept."""
from __future__ import annotations

import os
from pathlib import Path

from . import StoreError, Summary
from .export import html_page

MAX_PICTURE_WIDTH = 600   # layout pixels: A4's text width with Qt's 2 cm print margins is about 640


def _gui_app():
    """Qt lays text out only under a QGuiApplication: the window's, else one offscreen (`chatapp export`)."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication
    app = QCoreApplication.instance()
    if app is None:
        return QGuiApplication(["chatapp", "-platform", "offscreen"])
    if not isinstance(app, QGuiApplication):
        raise StoreError("A PDF needs Qt's text layout, which this process started without; export as HTML instead.")
    return app


def _fit_pictures(doc) -> None:
    """A picture wider than the page is scaled down to fit it, keeping its shape."""
    from PySide6.QtGui import QTextCursor
    cursor = QTextCursor(doc)
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            if fmt.isImageFormat() and fmt.toImageFormat().width() > MAX_PICTURE_WIDTH:
                image = fmt.toImageFormat()
                if image.height() > 0:   # unset, it follows the width
                    image.setHeight(image.height() * MAX_PICTURE_WIDTH / image.width())
                image.setWidth(MAX_PICTURE_WIDTH)
                cursor.setPosition(fragment.position())
                cursor.setPosition(fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor)
                cursor.setCharFormat(image)
            it += 1
        block = block.next()


def to_pdf(storage, convs, out: Path) -> Summary:
    """The shown branch of each conversation, as the HTML export shows it, paginated on A4."""
    from PySide6.QtGui import QPageSize, QPdfWriter, QTextDocument
    text, summary = html_page(storage, convs)
    app = _gui_app()   # held while painting
    doc = QTextDocument()
    doc.setHtml(text)
    _fit_pictures(doc)
    tmp = out.with_name(out.name + ".part")
    writer = QPdfWriter(str(tmp))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setResolution(96)   # CSS pixels: the page's px font sizes are device pixels to Qt (1200 dpi: specks)
    writer.setTitle(convs[0].title if len(convs) == 1 else f"{len(convs)} conversations")
    writer.setCreator("chatapp")
    doc.print_(writer)
    del writer, doc, app   # the file is complete once the writer is gone
    if not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"Could not write {out}: Qt could not create the PDF there.")
    os.replace(tmp, out)
    return summary
