"""Documents other software made (issue 25): real files from public test suites (tests/data/documents/README.md),
each with the text a user must find in it, and CJK words found inside unspaced text."""
from pathlib import Path

import pytest

from chatapp.documents.extract import DocumentError, extract
from chatapp.documents.index import DocumentIndex
from chatapp.storage import Storage

from .pdf_maker import write_pdf

DATA = Path(__file__).parent / "data" / "documents"


def text_of(name: str) -> str:
    return "\n".join(s.text for s in extract(DATA / name).sections)


# --- PDF ----------------------------------------------------------------------------------------
def test_pdf_ligatures_are_plain_letters():
    text = text_of("crazyones-pdfa.pdf")          # Ghostscript PDF/A: "misﬁts", "diﬀerently"
    assert "The misfits." in text and "things differently" in text
    assert not any("\ufb00" <= ch <= "\ufb06" for ch in text)
    assert "columns filled" in text_of("multicolumn.pdf")   # pdfTeX: "ﬁlled"


def test_pdf_words_hyphenated_at_line_ends_are_whole():
    text = text_of("multicolumn.pdf")              # pdfTeX two columns: "adip-\niscing"
    assert "adip-\n" not in text and "consectetuer adipiscing" in text


@pytest.mark.parametrize("name", [
    "libre-office-link-missing-page-root.pdf",   # pypdf raises (was: "damaged (PdfReadError)")
    "libre-office-link-broken-page-tree.pdf",    # pypdf finds no text (was: "no text layer")
])
def test_pdf_pypdf_cannot_read_is_not_called_damaged_or_a_scan(name):
    # A LibreOffice PDF whose page tree points at a missing object: pdfminer.six finds the page
    # among the file's objects and reads it all the same.
    doc = extract(DATA / name)
    assert "This is a link to an awesome blog." in doc.sections[0].text


def test_pdf_with_a_little_text_is_not_a_scan(tmp_path):
    doc = extract(write_pdf(tmp_path / "slip.pdf", ["Invoice 42"]))
    assert "Invoice 42" in doc.sections[0].text


@pytest.mark.parametrize("name, words", [
    ("imagemagick-CCITTFaxDecode.pdf", "no text layer"),        # a fax image, no text at all
    ("libreoffice-writer-password.pdf", "password-protected"),  # opens with "openpassword" only
])
def test_pdf_that_really_cannot_be_read_says_why(name, words):
    with pytest.raises(DocumentError, match=words):
        extract(DATA / name)


# --- Word ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mammoth-footnotes.docx", "mammoth-endnotes.docx"])
def test_word_notes_are_read(name):
    text = text_of(name)
    assert "A tachyon walks into a bar." in text and "Fin." in text and "↑" not in text


def test_word_text_box_only_document_is_not_empty():
    assert text_of("mammoth-text-box.docx").strip() == "Datum plane"   # once, not twice


def test_word_headers_and_footers_are_read():
    text = text_of("python-docx-hdr-header-footer.docx")
    assert "Header for section-1" in text and "Footer for section 1" in text


def test_word_tables_stay_in_place_and_nested_tables_are_read():
    assert text_of("mammoth-tables.docx") == "Above\n\nTop left | Top right\n\nBottom left | Bottom right\n\nBelow"
    body = extract(DATA / "python-docx-blk-paras-and-tables.docx").sections[0].text
    assert body.index("Lorem ipsum") < body.index("Text before Table Between Text after") < body.index("Donec")


def test_word_merged_cells_are_not_repeated():
    rows = text_of("python-docx-tbl-cell-access.docx").split("\n\n")
    assert rows[:6] == ["1 | 2 | 3", "4 | 5 | 6", "7 | 8 | 9", "1 | 2 | 3", "4 | 6", "7 | 8 | 9"]


def test_word_strict_ooxml_is_read():
    assert text_of("mammoth-strict-format.docx") == "Test"


# --- HTML ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("chardet-windows-1251-declared.html", "МОСКВА, 9 янв - РИА Новости."),   # <meta charset=windows-1251>
    ("chardet-windows-1251.html", "российского газа в Европу"),               # no declaration: detected
    ("chardet-gb2312.html", "搜狐在线国庆免费大酬宾"),                          # GB2312, no declaration
])
def test_html_in_legacy_encodings_is_read(name, expected):
    assert expected in text_of(name)


def test_html_with_a_wrong_charset_label_is_read(tmp_path):
    page = (DATA / "chardet-gb2312.html").read_bytes()   # GB2312 bytes, labelled UTF-8 here
    (tmp_path / "mislabelled.html").write_bytes(b'<meta charset="utf-8">\n' + page)
    assert "搜狐在线国庆免费大酬宾" in extract(tmp_path / "mislabelled.html").sections[0].text


def test_text_file_in_a_legacy_encoding_is_read():
    assert "В гимназии он не был в числе первых учеников" in text_of("chardet-windows-1251.txt")


def test_html_hidden_text_is_not_indexed():
    text = text_of("readability-visibility-hidden.html")
    assert "Tempor incididunt ut labore" in text and "sed do eiusmod" not in text   # visibility:hidden
    assert text_of("readability-hidden-nodes.html").endswith("Third header")      # <p hidden> after it


def test_html_main_content_without_navigation():
    text = text_of("readability-mozilla-2.html")
    assert "Learn more about Style Editor" in text and "Get to know the features" in text
    for nav in ("Report Trademark Abuse", "Partner with Us", "Other languages", "Español (de Chile)"):
        assert nav not in text


# --- new kinds ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kind, expected", [
    ("epubjs-alice_without_cover.epub", "epub", ["Alice's Adventures In Wonderland", "Alice in the Room of the Duchess."]),
    ("odfpy-simpletable.odt", "odt", ["Cell 1 | Cell 2", "Cell 3 (bold) | Cell 4 (italic)"]),
    ("odfpy-twolevellist.odt", "odt", ["Item B\nSubitem B.1\nSubitem B.2 (bold)\nItem C"]),
    ("odfpy-headerfooter.odt", "odt", ["Lorem ipsum", "Header\t1\tTest", "Footer\t1\tBottom"]),
    ("python-pptx-test_slides.pptx", "pptx", ["Group test text", "Col head 1 | Col head 2", "Cell text 1 | Cell text 2"]),
    ("openpyxl-comments.xlsx", "xlsx", ["Sheet: Sheet2\nThis sheet has no comments", "This cell is different"]),
    ("openpyxl-concatenate.xlsx", "xlsx", ["Hello, world!"]),
])
def test_new_kinds_are_read(name, kind, expected):
    doc = extract(DATA / name)
    text = "\n".join(s.text for s in doc.sections)
    assert doc.kind == kind
    for piece in expected:
        assert piece in text


def test_odt_entity_bomb_is_refused():
    with pytest.raises(DocumentError, match="damaged"):
        extract(DATA / "odfpy-nasty.odt")   # odfpy's own billion-laughs sample


def test_csv_rows_keep_their_column_names(tmp_path):
    p = tmp_path / "prices.csv"
    p.write_text("item;price;unit\nbasil;2,50;pot\ntomato;0,80;kg\n", encoding="utf-8")
    lines = extract(p).sections[0].text.splitlines()
    assert lines == ["item | price | unit", "item: basil; price: 2,50; unit: pot", "item: tomato; price: 0,80; unit: kg"]


@pytest.mark.parametrize("suffix", [".epub", ".odt", ".pptx", ".xlsx"])
def test_every_zip_format_refuses_a_zip_bomb(tmp_path, suffix):
    import zipfile
    p = tmp_path / f"bomb{suffix}"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/zip")
        z.writestr("content.xml", b"\0" * (20 * 1024 * 1024))
    with pytest.raises(DocumentError, match="zip bomb"):
        extract(p)


def test_registry_feeds_the_file_dialog_and_help():
    from chatapp.commands import help_text
    from chatapp.documents import readers
    for suffix in (".pdf", ".docx", ".epub", ".odt", ".pptx", ".xlsx", ".csv", ".html"):
        assert f"*{suffix}" in readers.file_filter() and readers.reader_for(Path("x" + suffix)) is not None
    assert readers.kinds_label() in help_text() and "EPUB" in readers.kinds_label()


# --- CJK search ---------------------------------------------------------------------------------
def _index(db_path, names):
    storage = Storage(db_path)
    conv = storage.create_conversation("c")
    storage.close()
    index = DocumentIndex(db_path)
    for name in names:
        index.index_document(index.add_attachment(conv.id, DATA / name).id)
    return index, conv.id


@pytest.mark.parametrize("query, name", [
    ("魔力宝贝", "chardet-gb2312.html"),         # a word inside 拨95933上网魔力宝贝免费玩
    ("上网", "chardet-gb2312.html"),             # a two-character word
    ("くやしくて", "readability-hukumusume.html"),  # Japanese, inside a sentence
    ("イヌは何を見ましたか", "readability-hukumusume.html"),   # a whole question, no spaces
])
def test_cjk_words_are_found_inside_unspaced_text(tmp_path, query, name):
    index, conv = _index(tmp_path / "db.sqlite3", ["chardet-gb2312.html", "readability-hukumusume.html",
                                                   "crazyones-pdfa.pdf"])
    hits = index.search(query, conv)
    assert hits and hits[0].name == name
    index.close()


def test_cjk_migration_indexes_an_existing_database(tmp_path, monkeypatch):
    import chatapp.storage as storage_module
    from chatapp.storage.documents_schema import CJK_MIGRATION
    from chatapp.storage.migrations import MIGRATIONS
    before = MIGRATIONS[:MIGRATIONS.index(CJK_MIGRATION)]
    path = tmp_path / "old.sqlite3"
    with monkeypatch.context() as m:
        m.setattr(storage_module, "MIGRATIONS", before)
        storage = Storage(path)
        conv = storage.create_conversation("c")
        storage.close()
        old = DocumentIndex(path)
        old.index_document(old.add_attachment(conv.id, DATA / "chardet-gb2312.html").id)
        old.close()
    Storage(path).close()   # today's schema: the migration runs on the existing chunks
    index = DocumentIndex(path)
    hits = index.search("魔力宝贝", conv.id)
    assert [h.name for h in hits] == ["chardet-gb2312.html"]
    index.close()
