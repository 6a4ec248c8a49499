"""The app's look: light and dark stylesheets, palettes and code colours; follows the system unless forced."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from . import markdown

RESOURCES = Path(str(files("chatapp.resources")))   # package data: resources/ in the source tree
STYLESHEETS = {"light": RESOURCES / "style.qss", "dark": RESOURCES / "style-dark.qss"}
THEMES = ("system", "light", "dark")

# Fusion's own light palette is fine; its dark one is derived badly from a light base, so set ours.
DARK_COLOURS = {
    QPalette.ColorRole.Window: "#1f2023", QPalette.ColorRole.WindowText: "#e6e7ea",
    QPalette.ColorRole.Base: "#18191c", QPalette.ColorRole.AlternateBase: "#232428",
    QPalette.ColorRole.Text: "#e6e7ea", QPalette.ColorRole.Button: "#2b2d31",
    QPalette.ColorRole.ButtonText: "#e6e7ea", QPalette.ColorRole.Highlight: "#6366f1",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2b2d31",
    QPalette.ColorRole.ToolTipText: "#e6e7ea", QPalette.ColorRole.PlaceholderText: "#8b8f98",
    QPalette.ColorRole.Link: "#8ab4f8", QPalette.ColorRole.BrightText: "#ffffff",
    QPalette.ColorRole.Mid: "#3a3c42", QPalette.ColorRole.Dark: "#111214", QPalette.ColorRole.Light: "#3a3c42",
}


def _dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in DARK_COLOURS.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f78"))
    return palette


def scheme_of(color_scheme) -> str:
    return "dark" if color_scheme == Qt.ColorScheme.Dark else "light"


def system_scheme() -> str:
    hints = QGuiApplication.styleHints()
    return scheme_of(hints.colorScheme()) if hasattr(hints, "colorScheme") else "light"


class Theme(QObject):
    """One per application: applies a scheme and re-applies it when the system's changes (theme "system")."""

    changed = Signal(str)   # "light" | "dark", after it was applied

    def __init__(self, app: QApplication):
        super().__init__(app)
        self.app, self.theme, self.scheme = app, "system", ""
        app.setStyle("Fusion")
        hints = app.styleHints()
        if hasattr(hints, "colorSchemeChanged"):   # Qt 6.5+
            hints.colorSchemeChanged.connect(self._on_system_changed)

    def set_theme(self, theme: str) -> None:
        self.theme = theme if theme in THEMES else "system"
        self._apply(system_scheme() if self.theme == "system" else self.theme)

    def _on_system_changed(self, color_scheme) -> None:
        if self.theme == "system":
            self._apply(scheme_of(color_scheme))

    def _apply(self, scheme: str) -> None:
        if scheme == self.scheme:
            return
        self.scheme = scheme
        markdown.set_code_scheme(scheme)
        self.app.setPalette(_dark_palette() if scheme == "dark" else self.app.style().standardPalette())
        sheet = STYLESHEETS[scheme]
        self.app.setStyleSheet(sheet.read_text(encoding="utf-8") if sheet.is_file() else "")
        self.changed.emit(scheme)


def theme() -> Theme | None:
    """The application's Theme (made by apply_style)."""
    app = QApplication.instance()
    return app.findChild(Theme) if app is not None else None


def apply_style(name: str = "system") -> Theme | None:
    app = QApplication.instance()
    if app is None:
        return None
    current = theme() or Theme(app)
    current.set_theme(name)
    return current


def name_controls(root) -> None:
    """Give every focusable control without an accessible name one, from its text, tooltip or placeholder."""
    from PySide6.QtWidgets import QAbstractButton, QLineEdit, QPlainTextEdit, QTabWidget, QWidget
    for w in [root, *root.findChildren(QWidget)]:
        if w.accessibleName() or w.focusPolicy() == Qt.FocusPolicy.NoFocus:
            continue
        text = ""
        if isinstance(w, QAbstractButton):
            text = w.text().replace("&", "")
        elif isinstance(w, (QLineEdit, QPlainTextEdit)):
            text = w.placeholderText()
        elif isinstance(w, QTabWidget):
            text = "Sections: " + ", ".join(w.tabText(i).replace("&&", "&") for i in range(w.count()))
        text = text or w.toolTip() or w.objectName()
        if text:
            w.setAccessibleName(text.strip(" …"))
