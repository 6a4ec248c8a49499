"""The Settings dialog as a user sees it: a backend's rows line up with the tab's own, and a note that
arrives after the dialog opened (where API keys are kept) is shown whole, not cut to one line."""
from pathlib import Path

from chatapp import backends
from chatapp.settings import Settings
from chatapp.ui.settings_dialog import SettingsDialog
from tests.remote_servers import isolate_keys


def test_backend_rows_line_up_and_the_key_note_is_shown_whole(qtbot, tmp_path, monkeypatch):
    isolate_keys(monkeypatch)
    settings = backends.choose(Settings(), "chat", "openai", url="http://127.0.0.1:9/v1")
    dialog = SettingsDialog(settings, config_dir=Path(tmp_path))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    server = dialog.forms["chat"]["openai"].remote
    qtbot.waitUntil(lambda: "No system keychain" in server.key_note.text(), timeout=30000)
    note = server.key_note
    # The note needs several lines at the field column's width; it must get them.
    qtbot.waitUntil(lambda: note.height() >= note.heightForWidth(note.width()), timeout=5000)
    assert note.heightForWidth(note.width()) > note.fontMetrics().lineSpacing() * 1.5   # it does wrap
    # The backend's own rows (context length) start their fields where the tab's rows (temperature) do.
    page = dialog.forms["chat"]["openai"]
    ctx = page.widgets["ctx"]
    temperature = dialog.temperature
    assert ctx.mapTo(dialog, ctx.rect().topLeft()).x() == temperature.mapTo(dialog, temperature.rect().topLeft()).x()
    url = server.url
    assert url.mapTo(dialog, url.rect().topLeft()).x() == temperature.mapTo(dialog, temperature.rect().topLeft()).x()
