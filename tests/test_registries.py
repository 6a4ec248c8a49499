"""The registries are the one place each door is declared: /help, the chat's parser, the attach button and the settings note read them."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog, QLabel

from chatapp import commands
from chatapp.commands import COMMANDS, CommandError, help_text, parse_input
from chatapp.documents import readers


def test_help_lists_every_registered_command_and_only_those_are_parsed():
    text = help_text()
    assert list(COMMANDS) == ["/image", "/attach", "/library", "/loras", "/help"]
    for c in COMMANDS.values():
        assert f"- `{c.usage}`: " in text
    assert f"({readers.kinds_label()})" in text
    with pytest.raises(CommandError, match="Unknown command /echo. Type /help"):
        parse_input("/echo hi")
    # A command added to the registry alone is parsed and shown by /help.
    echo = commands.Command("/echo TEXT", "say TEXT back.", lambda rest, side: ("echo", rest, side),
                            lambda host, request, typed: True)
    with COMMANDS.registered("/echo", echo):
        assert parse_input("/ECHO hi there", 512) == ("echo", "hi there", 512)
        assert "- `/echo TEXT`: say TEXT back." in help_text()
    assert "/echo" not in help_text()


def test_a_registered_command_runs_in_the_real_session_through_its_public_doors(make_app, qtbot):
    # One registration line and its handler: the session carries it out without a line of its own changed.
    parts = make_app()
    said, ran = [], []
    parts.session.notice.connect(said.append)

    def shout(host, request, typed):
        ran.append((request, typed))
        return host.show_help() and host.submit_image(commands.parse_image(f"a {request} circle --seed 1"))

    with COMMANDS.registered("/shout", commands.Command("/shout COLOUR", "draw a circle of COLOUR.",
                                                        lambda rest, _limits: rest.strip().lower(), shout)):
        assert parts.session.submit("/shout RED")
        assert "- `/shout COLOUR`: draw a circle of COLOUR." in said[-1]
    assert ran == [("red", "/shout RED")]
    qtbot.waitUntil(lambda: parts.storage.last_picture(parts.session.current.id) is not None, timeout=30000)
    assert parts.storage.last_picture(parts.session.current.id).meta["request"]["prompt"] == "a red circle"
    assert not parts.session.submit("/shout RED")   # gone with its registration: an unknown command again
    assert said[-1].startswith("Unknown command /shout")


def test_the_attach_button_dialog_help_and_settings_note_name_every_reader(make_app, qtbot, tmp_path, monkeypatch):
    from chatapp.settings import Settings
    from chatapp.ui.settings_dialog import SettingsDialog
    kinds = readers.kinds_label()
    assert all(r.label in kinds for r in readers.READERS.values()) and kinds in help_text()
    parts = make_app(load=False)
    button = parts.window.attach_button
    assert kinds in button.toolTip()
    seen = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: (seen.append(a[3]), ([], ""))[1])
    button.click()
    assert len(seen) == 1 and readers.file_filter().partition(";;")[0] in seen[0].split(";;")   # the documents' own
    assert all(f"*{s}" in seen[0].partition(";;")[0] for r in readers.READERS.values() for s in r.suffixes)
    from chatapp.picture_bytes.formats import SUFFIXES as PICTURE_SUFFIXES   # and the pictures to ask about, in the first choice too
    assert all(f"*{s}" in seen[0].partition(";;")[0] for s in PICTURE_SUFFIXES)
    dialog = SettingsDialog(Settings(), config_dir=tmp_path)
    qtbot.addWidget(dialog)
    notes = [label.text() for label in dialog.findChildren(QLabel) if "is indexed" in label.text()]
    assert len(notes) == 1 and kinds in notes[0]


def test_a_reader_registered_later_is_found_and_forgotten_with_it(tmp_path):
    from chatapp.documents.extract import Extracted, Section, extract
    assert readers.reader_for("notes.rec") is None
    row = readers.Reader("recutils", (".rec",), lambda data, _stop: Extracted("rec", [Section(data.decode())]))
    with readers.READERS.registered("rec", row):
        (tmp_path / "notes.rec").write_text("Name: Ada")
        assert readers.reader_for("NOTES.REC") is row and extract(tmp_path / "notes.rec").kind == "rec"
        assert "*.rec" in readers.file_filter() and "recutils" in help_text()
    assert readers.reader_for("notes.rec") is None and "*.rec" not in readers.file_filter()
