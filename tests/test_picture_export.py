"""Issue 24 item 6: the pictures a user gave travel through export and import (real SQLite, real files)."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

from PIL import Image

from chatapp import branches
from chatapp.conversation import not_included_note
from chatapp.pictures import intake
from chatapp.pictures.incoming import chat_folder
from chatapp.settings import resolve_paths
from chatapp.storage import Storage
from chatapp.store.export import export
from chatapp.store.ingest import import_file

DATA = Path(__file__).parent / "data"


def chat_with_pictures(data_dir: Path):
    """A chat whose question carries a PNG screenshot and a JPEG photo, stored as the session stores them."""
    paths = resolve_paths(str(data_dir))
    s = Storage(paths.database)
    c = s.create_conversation("Look at these")
    folder = chat_folder(paths.images, c.id)
    given = []
    for name, fmt, colour in (("screen.png", "PNG", (10, 200, 10)), ("photo.jpg", "JPEG", (200, 10, 10))):
        out = io.BytesIO()
        Image.new("RGB", (120, 90), colour).save(out, fmt)
        picture = intake.decode(out.getvalue(), name)
        path = intake.store(picture, folder)
        given.append({"path": str(path), "name": name, "width": 120, "height": 90, "source": "file"})
    q = s.add_message(c.id, "user", "What differs?", meta={"pictures": given})
    s.add_message(c.id, "assistant", "The colour.")
    return s, paths, c, q


def test_json_round_trip_restores_the_pictures_into_the_new_data_folder(tmp_path):
    s, paths, c, q = chat_with_pictures(tmp_path / "a")
    out = tmp_path / "chats.json"
    summary = export(s, None, "json", out)
    assert summary.pictures == 2
    record = json.loads(out.read_text())["conversations"][0]["messages"][0]
    assert [(p["name"], p["mime"]) for p in record["pictures"]] == [("screen.png", "image/png"), ("photo.jpg", "image/jpeg")]
    assert base64.b64decode(record["pictures"][0]["base64"]) == Path(q.meta["pictures"][0]["path"]).read_bytes()
    other = resolve_paths(str(tmp_path / "b"))
    t = Storage(other.database)
    got = import_file(t, out, other.images)
    assert (got.conversations, got.pictures) == (1, 2)
    (conv,) = t.conversations()
    question = t.branch(conv.id)[0]
    restored = question.meta["pictures"]
    assert [(p["name"], p["width"], p["height"], p["source"]) for p in restored] == \
        [("screen.png", 120, 90, "file"), ("photo.jpg", 120, 90, "file")]
    for before, after in zip(q.meta["pictures"], restored):
        assert Path(after["path"]).parent == chat_folder(other.images, conv.id)
        assert Path(after["path"]).read_bytes() == Path(before["path"]).read_bytes()
    assert not list((other.images / "user" / "importing").glob("*"))   # nothing left staged
    assert not_included_note(question.meta) == ""
    # A seeing model is sent both, from the new folder.
    sent = branches.history(t, conv, "", question.id, vision=True)[-1]["content"]
    assert [p.get("path") for p in sent[1:]] == [p["path"] for p in restored]


def test_a_picture_gone_before_the_export_is_noted_on_import(tmp_path):
    s, paths, c, q = chat_with_pictures(tmp_path / "a")
    Path(q.meta["pictures"][1]["path"]).unlink()   # deleted outside the app
    out = tmp_path / "chats.json"
    export(s, None, "json", out)
    other = resolve_paths(str(tmp_path / "b"))
    t = Storage(other.database)
    import_file(t, out, other.images)
    question = t.branch(t.conversations()[0].id)[0]
    assert [p["name"] for p in question.meta["pictures"]] == ["screen.png"]
    assert not_included_note(question.meta) == "1 picture was not included in the export"


def test_a_damaged_picture_in_the_file_names_its_conversation_and_writes_nothing(tmp_path):
    s, paths, c, q = chat_with_pictures(tmp_path / "a")
    out = tmp_path / "chats.json"
    export(s, None, "json", out)
    doc = json.loads(out.read_text())
    doc["conversations"][0]["messages"][0]["pictures"][0]["base64"] = base64.b64encode(b"\x89PNG\r\n\x1a\nnot really").decode()
    out.write_text(json.dumps(doc))
    other = resolve_paths(str(tmp_path / "b"))
    t = Storage(other.database)
    try:
        import_file(t, out, other.images)
        raise AssertionError("a damaged picture was imported")
    except Exception as exc:   # BadFile: the only conversation could not be read
        assert "picture 1 is damaged" in str(exc) and "Look at these" in str(exc)
    assert t.conversations() == [] and not (other.images / "user").exists()


def test_markdown_and_html_show_the_pictures_with_their_names(tmp_path):
    s, paths, c, q = chat_with_pictures(tmp_path / "a")
    md = tmp_path / "chat.md"
    assert export(s, [c.id], "md", md).pictures == 2
    text = md.read_text()
    links = re.findall(r"!\[([^\]]*)\]\(chat_files/([^)]+)\)", text)
    assert [name for name, _ in links] == ["screen.png", "photo.jpg"] and "*screen.png*" in text
    for (_, file), entry in zip(links, q.meta["pictures"]):
        assert (tmp_path / "chat_files" / file).read_bytes() == Path(entry["path"]).read_bytes()
    page = tmp_path / "chat.html"
    assert export(s, [c.id], "html", page).pictures == 2
    html = page.read_text()
    assert html.count('<figure class="given">') == 2 and "<figcaption>photo.jpg</figcaption>" in html
    assert 'src="data:image/jpeg;base64,' in html and 'src="data:image/png;base64,' in html


def test_a_chatgpt_question_with_a_picture_stays_a_note_and_sends_no_picture(tmp_path):
    # ChatGPT's export only points to the picture: the note is shown, and no model is sent a picture it never had.
    s = Storage(tmp_path / "db.sqlite3")
    import_file(s, DATA / "chatgpt" / "chatgpt-web-search.json", tmp_path / "images")
    conv = next(c for c in s.conversations() if c.title == "The Rhine")
    question = s.branch(conv.id)[2]
    assert question.role == "user" and not_included_note(question.meta) == "1 picture was not included in the export"
    assert "pictures" not in question.meta
    history = branches.history(s, conv, "", question.id, vision=True)
    assert history[-1] == {"role": "user", "content": "Which bridge is this?"}


def test_a_failed_import_removes_the_pictures_it_moved(tmp_path, monkeypatch):
    from chatapp.storage import StorageError
    from chatapp.store import StoreError, ingest
    s, paths, c, q = chat_with_pictures(tmp_path / "a")
    out = tmp_path / "chats.json"
    export(s, None, "json", out)
    real = ingest._insert_messages

    def moved_then_full(*args):
        real(*args)   # the pictures are in the chat's folder now
        assert list((tmp_path / "b" / "images" / "user" / "1").glob("*.*"))
        raise StorageError("The disk is full, so this could not be saved.")
    monkeypatch.setattr(ingest, "_insert_messages", moved_then_full)
    other = resolve_paths(str(tmp_path / "b"))
    t = Storage(other.database)
    try:
        import_file(t, out, other.images)
        raise AssertionError("the import went through")
    except StoreError as exc:
        assert "Nothing was imported" in str(exc)
    assert t.conversations() == [] and [p for p in (other.images / "user").rglob("*") if p.is_file()] == []


def test_the_pdf_carries_the_pictures_too(tmp_path, qapp):   # the app's QApplication, not a bare one of its own
    from pypdf import PdfReader
    s, paths, c, q = chat_with_pictures(tmp_path / "a")
    assert export(s, [c.id], "pdf", tmp_path / "chat.pdf").pictures == 2
    shown = [im.image.size for page in PdfReader(str(tmp_path / "chat.pdf")).pages for im in page.images]
    assert shown == [(120, 90), (120, 90)]
