"""The sources list under a reply that used your files: [n] file, page or lines; a click shows the passage."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout


def passages_note(meta: dict) -> str:
    """The footer's part: how many passages from the user's files went into the prompt."""
    n = len(meta.get("sources") or [])
    return "" if not n else f"{n} passage{'s' if n != 1 else ''} from your files"


class SourceList(QLabel):
    """Plain links (never file: URLs): `source:N` opens the passage in a dialog, inside the app."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("sourceList")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.setOpenExternalLinks(False)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse |
                                     Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        self.linkActivated.connect(self._open)
        self.sources: list[dict] = []
        self.hide()

    def set_sources(self, sources: list[dict] | None) -> None:
        self.sources = list(sources or [])
        if not self.sources:
            self.hide()
            return
        rows = [f"<a href='source:{i}'>[{s['n']}] {html.escape(s['name'])}, {html.escape(s['location'])}</a>"
                for i, s in enumerate(self.sources)]
        self.setText("<b>Sources</b><br>" + "<br>".join(rows))
        self.show()

    def _open(self, link: str) -> None:
        if not link.startswith("source:"):
            return
        index = int(link.split(":", 1)[1])
        if 0 <= index < len(self.sources):
            self.dialog = PassageDialog(self.sources[index], self.window())
            self.dialog.show()


class PassageDialog(QDialog):
    def __init__(self, source: dict, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"[{source['n']}] {source['name']}, {source['location']}")
        layout = QVBoxLayout(self)
        where = QLabel(source.get("path", ""), self)
        where.setTextFormat(Qt.TextFormat.PlainText)
        where.setObjectName("messageFooter")
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QPlainTextEdit(source.get("text", ""), self)
        self.text.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout.addWidget(where)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(640, 420)
