"""Attaching files in the real app (fake chat engine): chips, indexing on the worker, sources under the reply."""
from __future__ import annotations

from dataclasses import replace

from chatapp.engines.fake import FakeChatEngine
from chatapp.settings import Settings
from chatapp.ui.attachments import AttachmentBubble
from chatapp.ui.sources import PassageDialog

from .gui_drops import drop_files
from .pdf_maker import write_pdf


def attachment_chips(parts):
    bubbles = [w for w in parts.window.view.widgets.values() if isinstance(w, AttachmentBubble)]
    return [t for b in bubbles for t in b.chip_texts()]


def indexed(parts) -> bool:
    docs = parts.session.documents.index
    return not docs.pending()


def test_attach_then_ask_cites_the_right_page(make_app, qtbot, tmp_path):
    pages = [f"Page {i}: notes about the harbour, the ferry timetable and the weather." for i in range(1, 13)]
    pages[6] = "Page 7: the spare key to the boathouse is kept under the blue flowerpot."
    pdf = write_pdf(tmp_path / "house notes.pdf", pages * 4)   # 48 pages: too big to go in whole
    engine = FakeChatEngine(["The key is under the blue flowerpot [1]."], n_ctx=2048)   # 48 pages do not fit
    parts = make_app(engine)
    s = parts.session
    assert s.submit(f'/attach "{pdf}"')
    qtbot.waitUntil(lambda: indexed(parts), timeout=30000)
    qtbot.waitUntil(lambda: "48 pages" in " ".join(attachment_chips(parts)), timeout=30000)
    assert attachment_chips(parts)[0].startswith("house notes.pdf · ")
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        s.submit("Where is the spare key to the boathouse?")
    prompt = engine.received[-1][-1]["content"]
    assert "[1] house notes.pdf, page 7:" in prompt and "blue flowerpot" in prompt
    assert prompt.endswith("Question: Where is the spare key to the boathouse?")
    # What the user typed is saved as typed; only the model saw the passages.
    user = [m for m in parts.storage.messages(s.current.id) if m.role == "user" and m.kind == "text"][-1]
    assert user.content == "Where is the spare key to the boathouse?"
    reply = parts.storage.messages(s.current.id)[-1]
    qtbot.waitUntil(lambda: "sources" in parts.storage.message(reply.id).meta, timeout=30000)
    sources = parts.storage.message(reply.id).meta["sources"]
    assert sources[0]["location"] == "page 7" and sources[0]["name"] == "house notes.pdf"
    bubble = parts.window.view.widgets[reply.id]
    qtbot.waitUntil(lambda: bubble.sources.isVisible(), timeout=30000)
    assert "[1] house notes.pdf, page 7" in bubble.sources.text()
    assert f"{len(sources)} passage" in bubble.footer.text()
    bubble.sources.linkActivated.emit("source:0")
    dialog = bubble.sources.dialog
    assert isinstance(dialog, PassageDialog) and "blue flowerpot" in dialog.text.toPlainText()
    dialog.close()
    # ...and the next, unrelated question gets no padding.
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        s.submit("zebra quantum xylophone")
    assert engine.received[-1][-1]["content"] == "zebra quantum xylophone"
    last = parts.storage.messages(s.current.id)[-1]
    assert "sources" not in last.meta and "passage" not in parts.window.view.widgets[last.id].footer.text()


def test_small_attachment_goes_in_whole_and_bad_file_gets_a_chip(make_app, qtbot, tmp_path):
    (tmp_path / "todo.md").write_text("- buy oat milk\n- call the plumber on Tuesday\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    engine = FakeChatEngine(["ok"])
    parts = make_app(engine)
    s = parts.session
    assert s.submit(f"/attach {tmp_path / 'todo.md'} {tmp_path / 'empty.txt'} {tmp_path / 'missing.pdf'}")
    qtbot.waitUntil(lambda: indexed(parts), timeout=30000)
    qtbot.waitUntil(lambda: sum(t.startswith("⚠") for t in attachment_chips(parts)) == 2, timeout=30000)
    chips = attachment_chips(parts)
    assert "empty (0 bytes)" in chips[1] and "gone (moved or deleted)" in chips[2]
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        s.submit("hello")
    prompt = engine.received[-1][-1]["content"]
    assert "[1] todo.md, whole file:\n- buy oat milk\n- call the plumber on Tuesday" in prompt
    # The attachment message is not part of what the model reads as history.
    assert not any("Attached:" in m["content"] for m in engine.received[-1])


def test_library_folder_on_and_off(make_app, qtbot, tmp_path):
    lib = tmp_path / "library"
    lib.mkdir()
    (lib / "recipes.md").write_text("Grandma's plum cake needs 700 g of plums and a pinch of cinnamon.")
    (lib / "cars.md").write_text("The van's tyres are changed every October.")
    engine = FakeChatEngine(["a", "b"])
    parts = make_app(engine, settings=replace(Settings(), library_folder=str(lib)))
    s = parts.session
    qtbot.waitUntil(lambda: s.documents.index.library_size() == (2, 0), timeout=30000)
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        s.submit("How many plums go into the plum cake?")
    assert "[1] recipes.md, line 1:" in engine.received[-1][-1]["content"]
    assert s.submit("/library off")
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        s.submit("How many plums go into the plum cake?")
    assert engine.received[-1][-1]["content"] == "How many plums go into the plum cake?"
    # Changing the folder in Settings re-indexes in the background; clearing it forgets the library.
    s.apply_settings(replace(s.settings, library_folder=""), reload_llm=False, reload_image=False)
    qtbot.waitUntil(lambda: s.documents.index.library_size() == (0, 0), timeout=30000)


def test_bad_commands_say_what_to_fix(make_app, qtbot):
    parts = make_app()
    notes = []
    parts.session.notice.connect(notes.append)
    assert not parts.session.submit("/attach")
    assert not parts.session.submit("/library maybe")
    assert parts.session.submit("/library")
    assert "Name the files" in notes[0] and "on or off" in notes[1] and "No library folder" in notes[2]


def test_dropped_files_are_attached(make_app, qtbot, tmp_path):
    (tmp_path / "a.txt").write_text("dropped text")
    parts = make_app()
    drop_files(parts.window.view.viewport(), tmp_path / "a.txt")
    qtbot.waitUntil(lambda: any("a.txt" in t for t in attachment_chips(parts)), timeout=30000)


def test_cancel_leaves_the_rest_pending_and_delete_while_indexing_is_safe(make_app, qtbot, tmp_path):
    lib = tmp_path / "library"
    lib.mkdir()
    for i in range(40):
        write_pdf(lib / f"doc{i}.pdf", [f"page {p} of doc {i} " * 40 for p in range(30)])
    parts = make_app(settings=replace(Settings(), library_folder=str(lib)))
    docs = parts.session.documents
    qtbot.waitUntil(lambda: docs.busy, timeout=30000)
    with qtbot.waitSignal(docs.finished, timeout=30000) as blocker:
        docs.cancel()
    assert blocker.args == [False]
    assert docs.index.library_size()[1] > 0                # the rest is left for later, not lost
    assert not parts.window.index_progress.isVisible()
    # An attachment whose chat is deleted while it is indexed is simply dropped.
    parts.session.submit(f"/attach {lib / 'doc0.pdf'}")
    parts.session.delete_conversation(parts.session.current.id)
    docs.worker.request_index(None)
    qtbot.waitUntil(lambda: not docs.index.pending() or docs.busy, timeout=30000)


def test_a_chip_counts_a_presentations_slides_and_a_pdfs_pages():
    from chatapp.ui.attachments import chip_text
    base = {"name": "deck.pptx", "size": 2048, "status": "ready"}
    assert chip_text({**base, "pages": 12, "kind": "pptx"}) == "deck.pptx · 2 KB · 12 slides"
    assert chip_text({**base, "name": "tides.ipynb", "pages": 8, "kind": "ipynb"}) == "tides.ipynb · 2 KB · 8 cells"
    assert chip_text({**base, "name": "paper.pdf", "pages": 1, "kind": "pdf"}) == "paper.pdf · 2 KB · 1 page"
    assert chip_text({**base, "name": "old.pdf", "pages": 3}) == "old.pdf · 2 KB · 3 pages"   # a chip saved before kinds
