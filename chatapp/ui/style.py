"""The app's look: one stylesheet from resources/, applied once."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

STYLESHEET = Path(__file__).resolve().parent.parent.parent / "resources" / "style.qss"


def apply_style() -> None:
    app = QApplication.instance()
    if app is not None and STYLESHEET.is_file() and not app.property("chatapp_styled"):
        app.setStyle("Fusion")
        app.setStyleSheet(STYLESHEET.read_text(encoding="utf-8"))
        app.setProperty("chatapp_styled", True)
