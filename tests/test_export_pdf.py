"""The PDF export (store/pdf.py, one registry line): read back with pypdf, text, picture and code colours are in it."""
from __future__ import annotations

import os
import re

import pypdf

from chatapp.store.export import export

from .test_export_import import fill
from .test_store_cli import chatapp

PYGMENTS_STRING = (0x40 / 255, 0x70 / 255, 0xA0 / 255)   # "friendly" style's colour for a string: 'hi'


def read_back(path):
    reader = pypdf.PdfReader(path)
    # Without white space: Qt places words (and kerned letters) apart, pypdf guesses tabs and spaces between them.
    text = "".join("".join(page.extract_text() for page in reader.pages).split())
    pictures = [x.get_object() for page in reader.pages
                for x in (page["/Resources"].get("/XObject") or {}).values()]
    colours = {tuple(float(v) for v in m) for page in reader.pages
               for m in re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) scn", page.get_contents().get_data())}
    return reader, text, pictures, colours


def test_a_conversation_with_a_picture_and_code_becomes_a_pdf(tmp_path, qapp):
    s = fill(tmp_path / "a")
    conv = next(c for c in s.conversations() if c.title.startswith("Trees"))
    out = tmp_path / "out" / "chat.pdf"
    summary = export(s, [conv.id], "pdf", out)
    assert (summary.conversations, summary.messages, summary.pictures) == (1, 4, 1)
    assert not (tmp_path / "out" / "chat.pdf.part").exists()
    reader, text, pictures, colours = read_back(out)
    assert reader.metadata.title == "Trees <b>and</b> code" and reader.metadata.creator == "chatapp"
    for said in ("Trees <b>and</b> code", "Show me <script>alert(1)</script> code", "Here you go:",
                 "print('hi')", "a red circle", "Seed: 1", "branch 1 of 2"):
        assert "".join(said.split()) in text, said
    assert "Asecondanswer" not in text                     # the shown branch only, as the HTML export
    assert [(p["/Subtype"], p["/Width"], p["/Height"]) for p in pictures] == [("/Image", 32, 32)]
    assert any(all(abs(a - b) < 0.01 for a, b in zip(c, PYGMENTS_STRING)) for c in colours), colours


def test_chatapp_export_writes_a_pdf_without_a_window(tmp_path):
    fill(tmp_path / "a").close()
    out = tmp_path / "all.pdf"
    no_display = {k: "" for k in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    r = chatapp("export", "--data-dir", tmp_path / "a", "--all", "--format", "pdf", "--out", out, env_extra=no_display)
    assert r.returncode == 0 and r.stdout.startswith("Exported 2 conversations (6 messages, 1 picture)"), r.stderr
    reader, text, pictures, _ = read_back(out)
    assert "Secondchat" in text and "hithere" in text and len(pictures) == 1
    assert reader.metadata.title == "2 conversations"
    help_text = chatapp("export", "--help").stdout
    assert "pdf: the branch shown, printable" in help_text and os.path.getsize(out) > 0


def test_the_window_offers_pdf_and_writes_it_off_the_gui_thread(make_app, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    parts = make_app()
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("a chat to print")
    offered, notices = [], []
    target = tmp_path / "chat.pdf"

    def save_as(*args, **_kw):
        offered.append(args[3])
        return str(target), ""
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    monkeypatch.setattr(parts.window.view, "add_notice", notices.append)
    parts.window.export_chats([parts.session.current.id])
    qtbot.waitUntil(lambda: len(notices) == 1, timeout=30000)
    assert "PDF document (*.pdf)" in offered[0].split(";;")
    assert notices == ["Exported 1 conversation (2 messages, 0 pictures) to chat.pdf."]
    assert "achattoprint" in read_back(target)[1]
