"""chatapp's icon (resources/icons, package data) as a QIcon for the application, its windows and the taskbar."""
from __future__ import annotations

from importlib.resources import files

from PySide6.QtGui import QIcon

from ..desktop.menu_entry import APP_ID, ICON_SIZES


def app_icon() -> QIcon:
    """Every rendered size, so each panel and title bar gets crisp pixels rather than a scaled picture."""
    folder = files("chatapp.resources") / "icons"
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addFile(str(folder / f"{APP_ID}-{size}.png"))
    return icon
