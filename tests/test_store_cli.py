"""`chatapp export` / `chatapp import` in a real process (also while the app holds the database), and the window's menu entries."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QFileDialog

from chatapp.settings import resolve_paths
from chatapp.storage import Storage

from .test_export_import import DATA, fill

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("PySide6", "shiboken6", "torch", "llama_cpp", "diffusers", "transformers")


def chatapp(*args, env_extra=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("CHATAPP_DATA_DIR", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "chatapp", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_export_then_import_on_the_command_line(tmp_path):
    fill(tmp_path / "a").close()
    out = tmp_path / "backup.json"
    r = chatapp("export", "--data-dir", tmp_path / "a", "--all", "--format", "json", "--out", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"Exported 2 conversations (10 messages, 2 pictures) to {out}"
    r = chatapp("import", out, "--data-dir", tmp_path / "b")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Imported 2 conversations (10 messages, 2 pictures) from backup.json."
    r = chatapp("import", out, "--data-dir", tmp_path / "b")
    assert r.returncode == 0 and "0 conversations" in r.stdout and "2 already imported before, skipped" in r.stdout
    b = Storage(resolve_paths(str(tmp_path / "b")).database)
    assert len(b.conversations()) == 2
    cid = b.conversations()[0].id
    r = chatapp("export", "--list", "--data-dir", tmp_path / "b")
    assert r.returncode == 0 and f"{cid}       2 messages  Second chat" in r.stdout, r.stdout
    for fmt in ("md", "html"):
        r = chatapp("export", "--data-dir", tmp_path / "b", "--conversation", cid, "--format", fmt,
                    "--out", tmp_path / f"one.{fmt}")
        assert r.returncode == 0 and r.stdout.startswith("Exported 1 conversation ("), r.stderr
        assert (tmp_path / f"one.{fmt}").stat().st_size > 0


def test_bad_input_exits_2_with_a_message_and_changes_nothing(tmp_path):
    s = fill(tmp_path / "a")
    before = s._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    bad = tmp_path / "cut.json"
    bad.write_text('{"format": "chatapp", "version": 1, "conversations": [{"title": "x", "mess')
    r = chatapp("import", bad, "--data-dir", tmp_path / "a")
    assert r.returncode == 2 and "not valid JSON" in r.stderr and "Nothing was imported" in r.stderr and not r.stdout
    assert s._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == before
    r = chatapp("import", tmp_path / "missing.json", "--data-dir", tmp_path / "a")
    assert r.returncode == 2 and "Could not read missing.json" in r.stderr
    r = chatapp("export", "--data-dir", tmp_path / "a", "--conversation", "999", "--format", "json",
                "--out", tmp_path / "x.json")
    assert r.returncode == 2 and "no conversation with id 999" in r.stderr
    r = chatapp("export", "--data-dir", tmp_path / "empty", "--all", "--format", "json", "--out", tmp_path / "x.json")
    assert r.returncode == 2 and "no chats in" in r.stderr and not (tmp_path / "empty").exists()
    r = chatapp("export", "--data-dir", tmp_path / "a", "--format", "json", "--out", tmp_path / "x.json")
    assert r.returncode == 2 and "--all" in r.stderr      # argparse: one of --all / --conversation


def test_commands_import_no_qt_and_no_ml_library(tmp_path):
    fill(tmp_path / "a").close()
    code = ("import sys; from chatapp.cli import dispatch; rc = dispatch(sys.argv[1:]); "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]; print('HEAVY', bad); sys.exit(rc)")
    for args in (["export", "--data-dir", tmp_path / "a", "--all", "--format", "html", "--out", tmp_path / "x.html"],
                 ["import", DATA / "chatgpt_conversations.json", "--data-dir", tmp_path / "a"]):
        r = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert "HEAVY []" in r.stdout


def test_commands_work_while_another_connection_holds_the_database(tmp_path):
    fill(tmp_path / "a").close()
    db = resolve_paths(str(tmp_path / "a")).database
    other = sqlite3.connect(db, isolation_level=None)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.execute("BEGIN")
    other.execute("SELECT COUNT(*) FROM messages").fetchone()   # a read transaction stays open throughout
    try:
        r = chatapp("import", DATA / "chatgpt_conversations.json", "--data-dir", tmp_path / "a")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "Imported 2 conversations (8 messages, 0 pictures) from chatgpt_conversations.json."
        r = chatapp("export", "--data-dir", tmp_path / "a", "--all", "--format", "json", "--out", tmp_path / "x.json")
        assert r.returncode == 0 and "Exported 4 conversations" in r.stdout, r.stderr
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_command_line_import_while_the_app_runs_then_the_sidebar_shows_it(make_app, qtbot, data_dir):
    parts = make_app()
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("hello from the app")
    r = chatapp("import", DATA / "chatgpt_conversations.json", "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    r = chatapp("export", "--data-dir", data_dir, "--all", "--format", "json", "--out", data_dir.parent / "all.json")
    assert r.returncode == 0, r.stderr
    doc = json.loads((data_dir.parent / "all.json").read_text())
    assert [c["title"] for c in doc["conversations"]] == ["Packing for a hike", "A haiku", "hello from the app"]
    parts.session.submit("still saving")          # the app keeps writing after the import
    parts.session.conversations_changed.emit()
    titles = [parts.window.sidebar.list.item(i).text() for i in range(parts.window.sidebar.list.count())]
    assert {"Packing for a hike", "A haiku", "hello from the app"} <= set(titles)


def test_window_menu_exports_and_imports_off_the_gui_thread(make_app, qtbot, data_dir, tmp_path, monkeypatch):
    parts = make_app()
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("a chat to export")
    w = parts.window
    notices, show = [], type(w.view).add_notice

    def spy(view, text):   # still a method of the view, so the worker's signal is queued to the GUI thread
        assert QThread.currentThread() == QApplication.instance().thread()
        notices.append(text)
        show(view, text)
    monkeypatch.setattr(type(w.view), "add_notice", spy)
    target = tmp_path / "out" / "chat.html"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "HTML page (*.html)"))
    labels = [a.text() for a in w.menuBar().actions()[0].menu().actions()]
    assert {"Export chat…", "Export all chats…", "Import…"} <= set(labels)
    w.export_chats([parts.session.current.id])
    qtbot.waitUntil(lambda: len(notices) == 1, timeout=30000)
    assert notices[-1] == "Exported 1 conversation (2 messages, 0 pictures) to chat.html."
    assert "a chat to export" in target.read_text()
    md = tmp_path / "out" / "chat.md"       # the sidebar's right-click Export…, the format from the name
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(md), "HTML page (*.html)"))
    w.sidebar.export_requested.emit(parts.session.current.id)
    qtbot.waitUntil(lambda: len(notices) == 2, timeout=30000)
    assert notices[-1] == "Exported 1 conversation (2 messages, 0 pictures) to chat.md."
    assert "**You**" in md.read_text()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(DATA / "chatgpt_conversations.json"), ""))
    w.import_chats()
    qtbot.waitUntil(lambda: len(notices) == 3, timeout=30000)
    assert notices[-1].startswith("Imported 2 conversations (8 messages")
    qtbot.waitUntil(lambda: w.sidebar.list.count() == 3, timeout=30000)   # the sidebar refreshed
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    w.import_chats()
    qtbot.waitUntil(lambda: len(notices) == 4, timeout=30000)
    assert "not a chatapp export" in notices[-1] and w.sidebar.list.count() == 3


def test_no_subcommand_still_starts_the_window():
    from chatapp.__main__ import parse_args
    from chatapp.cli import dispatch
    assert dispatch([]) is None and dispatch(["--llm-model", "m.gguf"]) is None
    assert parse_args(["--llm-model", "m.gguf"]).llm_model == "m.gguf"
