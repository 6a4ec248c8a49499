"""Looks native: themes follow the system (or Settings), window layout comes back, every control is named."""
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from chatapp.settings import Settings
from chatapp.ui import markdown, style


@pytest.fixture
def system_scheme():
    """Pretend the desktop switched its colour scheme (what Qt 6.5+ signals), and restore after."""
    hints = QGuiApplication.styleHints()
    yield lambda scheme: hints.colorSchemeChanged.emit(scheme)
    style.apply_style("light")
    style.apply_style("system")


def lightness(role) -> int:
    return QApplication.instance().palette().color(role).lightness()


def test_palette_and_code_style_follow_a_dark_system_scheme(qtbot, make_app, system_scheme):
    parts = make_app()
    parts.session.submit("Show me code")
    qtbot.waitUntil(lambda: parts.session.llm_status == "ready" and not parts.session.replies.active, timeout=30_000)
    assert lightness(QPalette.ColorRole.Window) > 128 and markdown.CODE_STYLE == "friendly"
    system_scheme(Qt.ColorScheme.Dark)
    assert lightness(QPalette.ColorRole.Window) < 80 and lightness(QPalette.ColorRole.WindowText) > 180
    assert markdown.CODE_STYLE == "github-dark"
    assert markdown.CODE_BG in markdown.render("```python\nprint(1)\n```")[0]
    assert "dark theme" in QApplication.instance().styleSheet()
    system_scheme(Qt.ColorScheme.Light)
    assert lightness(QPalette.ColorRole.Window) > 128 and markdown.CODE_STYLE == "friendly"


def test_a_forced_theme_ignores_the_system(qtbot, make_app, system_scheme):
    parts = make_app(settings=Settings(theme="dark"))
    assert lightness(QPalette.ColorRole.Base) < 80
    system_scheme(Qt.ColorScheme.Light)
    assert lightness(QPalette.ColorRole.Base) < 80 and markdown.CODE_STYLE == "github-dark"
    parts.window.settings_changed.emit(Settings(theme="light"))
    assert lightness(QPalette.ColorRole.Base) > 128 and markdown.CODE_STYLE == "friendly"


def test_window_size_and_sidebar_width_come_back(qtbot, make_app):
    first = make_app()
    first.window.resize(760, 560)   # within the offscreen screen (800x600), which restoring clamps to
    first.window.splitter.setSizes([300, 460])
    sizes = first.window.splitter.sizes()
    first.window.close()
    second = make_app()
    assert (second.window.width(), second.window.height()) == (760, 560)
    assert second.window.splitter.sizes() == sizes


def focusable(root):
    return [w for w in root.findChildren(QWidget)
            if w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.isVisibleTo(root)]


def test_every_control_has_an_accessible_name(qtbot, make_app):
    from chatapp.ui.settings_dialog import SettingsDialog
    parts = make_app()
    dialog = SettingsDialog(parts.session.settings, parts.window)
    qtbot.addWidget(dialog)
    for root in (parts.window, dialog):
        unnamed = [f"{type(w).__name__}#{w.objectName()}" for w in focusable(root) if not w.accessibleName()]
        assert not unnamed


def test_main_controls_are_reachable_by_tab(qtbot, make_app):
    parts = make_app()
    w = parts.window
    chain, start = [], w.composer.editor
    node = start.nextInFocusChain()
    while node is not start and len(chain) < 500:
        chain.append(node)
        node = node.nextInFocusChain()
    reachable = {id(x) for x in chain if x.focusPolicy() & Qt.FocusPolicy.TabFocus}
    for control in (w.sidebar.new_button, w.sidebar.search, w.sidebar.list, w.composer.button, w.model_label):
        assert id(control) in reachable, control


def test_pictures_use_every_device_pixel():
    from chatapp.ui.message_widgets import THUMB, scaled_for_display
    image = QImage(64, 64, QImage.Format.Format_RGB888)
    pixmap = scaled_for_display(image, dpr=2.0)
    assert pixmap.devicePixelRatio() == 2.0
    assert pixmap.width() == 2 * THUMB and pixmap.deviceIndependentSize().width() == THUMB
