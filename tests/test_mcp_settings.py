"""Issue 23 item 4: MCP servers in Settings (the options schema, the file, --set, the dialog's list editor and its
Test button) and in the app (started after the window shows, tools in TOOLS, changed on save, closed at quit)."""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog

from chatapp.__main__ import parse_args
from chatapp.settings import Settings, check_setting, load_settings
from chatapp.tools import TOOLS, ToolRun

ECHO = str(Path(__file__).parent / "mcp_servers" / "echo_server.py")
STDIO = {"name": "echo", "command": sys.executable, "args": [ECHO]}

GOOD = [[], [STDIO], [{"name": "web", "url": "http://127.0.0.1:8000/mcp", "headers": {"X-Team": "a"}, "timeout": 5}],
        [{**STDIO, "env": {"DEBUG": "1"}, "enabled": False}, {**STDIO, "name": "second"}]]
BAD = [([{"name": "no way", "command": "x"}], "name"),
       ([{"name": "a", "command": "x"}, {"name": "a", "command": "y"}], "named twice"),
       ([{"name": "a"}], "either a command"),
       ([{"name": "a", "command": "x", "url": "http://h/mcp"}], "either a command"),
       ([{"name": "a", "url": "ftp://h/mcp"}], "http(s)"),
       ([{"name": "a", "command": "x", "args": "--flag"}], "args has the wrong type"),
       ([{"name": "a", "command": "x", "timeout": 0}], "timeout"),
       ([{"name": "a", "command": "x", "enabled": "yes"}], "enabled has the wrong type"),
       ([{"name": "a", "command": "x", "colour": "red"}], "unknown field"),
       (["echo"], "not a JSON object")]


@pytest.mark.parametrize("value", GOOD)
def test_good_server_lists_are_kept(value):
    assert check_setting("mcp_servers", value) == (value, None)


@pytest.mark.parametrize("value, words", BAD)
def test_the_settings_file_refuses_a_bad_server_list_and_keeps_the_rest(tmp_path, value, words):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"mcp_servers": value, "top_k": 7}))
    loaded, note = load_settings(path)
    assert loaded.mcp_servers == [] and loaded.top_k == 7
    assert "mcp_servers" in note and words in note


def test_the_command_line_takes_a_server_list_as_json(capsys):
    args = parse_args(["--set", "mcp_servers=" + json.dumps([STDIO])])
    assert args.overrides == [("mcp_servers", [STDIO])]
    with pytest.raises(SystemExit):
        parse_args(["--set", 'mcp_servers=[{"name": "a"}]'])
    assert "either a command" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--set", "mcp_servers=[not json"])
    assert "mcp_servers" in capsys.readouterr().err


def test_the_dialog_adds_edits_tests_and_removes_servers(qtbot, tmp_path):
    from chatapp.ui.settings_dialog import SettingsDialog
    dlg = SettingsDialog(Settings(mcp_servers=[{"name": "web", "url": "http://127.0.0.1:8000/mcp"}]),
                         config_dir=tmp_path)
    qtbot.addWidget(dlg)
    editor = dlg.widget("mcp_servers")
    assert editor.list.count() == 1 and editor.url.text() == "http://127.0.0.1:8000/mcp"
    editor.add.click()
    editor.name.setText("echo")
    editor.command.setText(f"{sys.executable} {ECHO}")
    editor.env.setPlainText("GREETING=hello\nnot a pair")
    editor.test.click()
    qtbot.waitUntil(lambda: "offers" in editor.status.text() or "⚠" in editor.status.text(), timeout=60_000)
    assert "offers 8 tool(s)" in editor.status.text() and "echo" in editor.status.text()
    chosen = dlg.result_settings().mcp_servers
    assert chosen == [{"name": "web", "url": "http://127.0.0.1:8000/mcp"},
                      {"name": "echo", "command": sys.executable, "args": [ECHO], "env": {"GREETING": "hello"}}]
    editor.list.setCurrentRow(0)
    editor.remove.click()
    assert dlg.result_settings().mcp_servers == [chosen[1]]


def test_the_dialog_says_what_is_wrong_with_a_server_and_stays_open(qtbot, tmp_path):
    from chatapp.ui.settings_dialog import SettingsDialog
    dlg = SettingsDialog(Settings(), config_dir=tmp_path)
    qtbot.addWidget(dlg)
    editor = dlg.widget("mcp_servers")
    editor.add.click()                    # a server with neither a command nor a URL
    dlg.accept()
    assert dlg.result() != QDialog.DialogCode.Accepted and "mcp_servers" in dlg.problem.text()
    editor.test.click()
    assert "command or a URL" in editor.status.text()
    editor.command.setText("my-server --stdio")
    dlg.accept()
    assert dlg.result() == QDialog.DialogCode.Accepted


def test_a_key_typed_for_a_server_is_kept_in_secrets(qtbot, tmp_path, monkeypatch):
    from chatapp.backends import secrets
    from chatapp.ui.settings_dialog import SettingsDialog
    monkeypatch.setattr(secrets, "_keychain", False)     # the owner-only file, not this machine's keychain
    dlg = SettingsDialog(Settings(mcp_servers=[{"name": "web", "url": "http://127.0.0.1:8000/mcp"}]),
                         config_dir=tmp_path)
    qtbot.addWidget(dlg)
    dlg.widget("mcp_servers").key.setText("sk-test")
    dlg.accept()
    assert secrets.get_key("mcp_web", tmp_path) == "sk-test"


def _pid(session_tools) -> int:
    run = ToolRun("call-1", 1, lambda: False, lambda text, fraction: None, None)
    return int(session_tools["echo__pid"].run({}, run).content)


def test_the_app_starts_servers_after_the_window_and_closes_them_at_quit(make_app, qtbot, monkeypatch):
    threads, register = [], TOOLS.register
    monkeypatch.setattr(TOOLS, "register", lambda *a, **k: (threads.append(threading.current_thread()),
                                                             register(*a, **k))[1])
    parts = make_app(settings=Settings(mcp_servers=[STDIO]))
    qtbot.waitUntil(lambda: "echo__echo" in TOOLS, timeout=60_000)
    assert TOOLS["echo__echo"].source == "mcp:echo"
    assert set(threads) == {threading.main_thread()}    # TOOLS changes where it is read: the GUI thread
    pid = _pid(TOOLS)
    assert parts.session.shutdown()
    assert "echo__echo" not in TOOLS
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_saving_settings_changes_the_servers(make_app, qtbot):
    parts = make_app(settings=Settings())
    assert not [n for n in TOOLS if n.startswith("echo__")]     # nothing configured: nothing started
    with qtbot.waitSignal(parts.session.notice, timeout=60_000,
                          check_params_cb=lambda text: "could not start" in text) as told:
        parts.session.apply_settings(Settings(mcp_servers=[{"name": "broken", "command": "/no/such/server"}]))
    assert "'broken' could not start: the command '/no/such/server' was not found" in told.args[0]
    parts.session.apply_settings(Settings(mcp_servers=[STDIO]))
    qtbot.waitUntil(lambda: "echo__echo" in TOOLS, timeout=60_000)
    pid = _pid(TOOLS)
    parts.session.apply_settings(Settings(mcp_servers=[]))
    qtbot.waitUntil(lambda: "echo__echo" not in TOOLS, timeout=30_000)
    qtbot.waitUntil(lambda: not os.path.exists(f"/proc/{pid}"), timeout=30_000)
