"""Extraction and chunking: every supported kind gives text with locations; every bad file gets a clear reason."""
import io
import os
import zipfile
from pathlib import Path

import pytest

from chatapp.documents import extract as ex
from chatapp.documents.chunking import OVERLAP_CHARS, TARGET_CHARS, chunk_sections
from chatapp.documents.extract import DocumentError, Section, extract

from .pdf_maker import write_pdf


def test_pdf_pages_keep_their_numbers(tmp_path):
    pages = [f"Page {i} talks about topic{i}." for i in range(1, 6)]
    doc = extract(write_pdf(tmp_path / "a.pdf", pages))
    assert doc.kind == "pdf" and doc.pages == 5
    assert [s.page for s in doc.sections] == [1, 2, 3, 4, 5]
    assert "topic3" in doc.sections[2].text
    chunks = chunk_sections(doc.sections)
    assert [c.location() for c in chunks] == [f"page {i}" for i in range(1, 6)]


def test_text_and_code_chunks_carry_line_ranges(tmp_path):
    lines = [f"def f{i}(x):\n    return x + {i}\n" for i in range(200)]
    p = tmp_path / "m.py"
    p.write_text("".join(lines))
    doc = extract(p)
    assert doc.kind == "code"
    chunks = chunk_sections(doc.sections)
    assert len(chunks) > 5
    assert chunks[0].line_start == 1
    for c in chunks:
        assert len(c.text) <= TARGET_CHARS
        first = c.text.splitlines()[0]
        # the first line of the chunk is the file's line number line_start
        assert p.read_text().splitlines()[c.line_start - 1] == first
    # neighbours overlap (a cut sentence is whole in one of them), and cover the whole file
    assert chunks[1].line_start <= chunks[0].line_end
    assert chunks[-1].line_end == 400


def test_long_lines_are_cut_at_sentences(tmp_path):
    text = " ".join(f"Sentence number {i} is here." for i in range(400))   # one line, ~11 kB
    chunks = chunk_sections([Section(text)])
    assert all(len(c.text) <= TARGET_CHARS for c in chunks)
    assert all(c.line_start == 1 == c.line_end for c in chunks)
    assert "Sentence number 399 is here." in chunks[-1].text
    assert OVERLAP_CHARS < TARGET_CHARS


def test_html_drops_scripts_and_keeps_blocks(tmp_path):
    p = tmp_path / "p.html"
    p.write_text("<html><head><title>Title here</title><style>p{color:red}</style></head><body>"
                 "<h1>Heading</h1><p>First &amp; para</p><script>alert('x')</script><p>Second</p></body></html>")
    doc = extract(p)
    text = doc.sections[0].text
    assert "Title here" in text and "First & para\n" in text and "Second" in text
    assert "alert" not in text and "color" not in text


def test_docx_paragraphs_and_tables(tmp_path):
    import docx
    d = docx.Document()
    d.add_paragraph("The warranty lasts 36 months.")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Colour"
    table.rows[0].cells[1].text = "Teal"
    d.save(tmp_path / "w.docx")
    text = extract(tmp_path / "w.docx").sections[0].text
    assert "36 months" in text and "Colour | Teal" in text


def test_legacy_encoding_is_read(tmp_path):
    p = tmp_path / "old.txt"
    p.write_bytes("Café crème à la carte, naïve façade.".encode("cp1252"))
    assert "Café crème" in extract(p).sections[0].text


def _docx_bomb(path: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * (20 * 1024 * 1024))
    path.write_bytes(buf.getvalue())
    return path


def _encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter
    plain = write_pdf(path.with_name("plain.pdf"), ["secret text"])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt(user_password="hunter2", owner_password="owner", algorithm="RC4-128")
    with open(path, "wb") as f:
        writer.write(f)
    return path


def _make(kind: str, tmp: Path) -> Path:
    if kind == "empty":
        (tmp / "e.txt").write_bytes(b"")
        return tmp / "e.txt"
    if kind == "huge":
        p = tmp / "huge.txt"
        with open(p, "wb") as f:
            f.truncate(500 * 1024 * 1024)   # sparse: 500 MB on paper, nothing on disk
        return p
    if kind == "binary":
        (tmp / "b.txt").write_bytes(os.urandom(4096) + b"\0" * 10)
        return tmp / "b.txt"
    if kind == "image_only":
        return write_pdf(tmp / "scan.pdf", ["", "", ""])
    if kind == "encrypted":
        return _encrypted_pdf(tmp / "locked.pdf")
    if kind == "bomb":
        return _docx_bomb(tmp / "bomb.docx")
    if kind == "damaged_pdf":
        p = write_pdf(tmp / "cut.pdf", ["some words"] * 3)
        p.write_bytes(b"%PDF-1.4\n" + os.urandom(300))
        return p
    if kind == "damaged_docx":
        (tmp / "bad.docx").write_bytes(b"PK\x03\x04 not really a zip")
        return tmp / "bad.docx"
    if kind == "not_pdf":
        (tmp / "fake.pdf").write_text("hello")
        return tmp / "fake.pdf"
    if kind == "vanished":
        return tmp / "never-was.md"
    if kind == "folder":
        (tmp / "dir.txt").mkdir()
        return tmp / "dir.txt"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, words", [
    ("empty", "empty"), ("huge", "500 MB"), ("binary", "binary"), ("image_only", "no text layer"),
    ("encrypted", "password-protected"), ("bomb", "zip bomb"), ("damaged_pdf", "damaged"),
    ("damaged_docx", "damaged"), ("not_pdf", "not a PDF"), ("vanished", "gone"), ("folder", "folder"),
])
def test_bad_files_get_a_clear_reason(tmp_path, kind, words):
    with pytest.raises(DocumentError) as info:
        extract(_make(kind, tmp_path))
    assert words in str(info.value)


def test_unreadable_file(tmp_path, monkeypatch):
    p = tmp_path / "secret.txt"
    p.write_text("x")
    real_open = open

    def deny(path, *a, **k):
        if str(path) == str(p):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)
    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(DocumentError, match="not allowed"):
        extract(p)


def test_extraction_stops_when_asked(tmp_path):
    p = write_pdf(tmp_path / "long.pdf", ["words"] * 10)
    with pytest.raises(ex.Cancelled):
        extract(p, should_stop=lambda: True)
