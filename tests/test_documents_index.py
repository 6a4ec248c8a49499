"""The document index in the app's SQLite file: one transaction per document, BM25 search, cascades, kill -9."""
import random
import sqlite3
from pathlib import Path

import pytest

from chatapp.documents.chunking import chunk_sections
from chatapp.documents.context import rrf, select_sources, question_with_sources
from chatapp.documents.extract import Cancelled, extract
from chatapp.documents.index import DocumentIndex, fts_query
from chatapp.storage import Storage

from .killed_child import run_and_kill
from .pdf_maker import write_pdf


@pytest.fixture
def db(tmp_path):
    storage = Storage(tmp_path / "chatapp.sqlite3")
    yield storage
    storage.close()


def test_migration_adds_tables_and_keeps_working_after_reopen(db, tmp_path):
    names = {r[0] for r in db._db.execute("SELECT name FROM sqlite_master")}
    assert {"documents", "chunks", "chunks_fts", "conversation_library"} <= names
    version = db.schema_version
    db.close()
    again = Storage(tmp_path / "chatapp.sqlite3")
    assert again.schema_version == version
    again.close()


def test_attach_index_search_and_cascade(db, tmp_path):
    conv = db.create_conversation("c")
    other = db.create_conversation("other")
    (tmp_path / "a.md").write_text("# Garden\n\nTomatoes need six hours of sun.\n\nBasil likes warmth.\n")
    (tmp_path / "b.md").write_text("Bicycles need their chains oiled every month.\n")
    index = DocumentIndex(db.path)
    a = index.add_attachment(conv.id, tmp_path / "a.md")
    b = index.add_attachment(other.id, tmp_path / "b.md")
    assert index.pending() == [a.id, b.id]
    assert index.index_document(a.id).status == "ready"
    assert index.index_document(b.id).status == "ready"
    hits = index.search("How many hours of sun do tomatoes need?", conv.id)
    assert hits and hits[0].name == "a.md" and "six hours" in hits[0].text
    assert hits[0].location() == "lines 1-5"
    assert index.search("chains oiled", conv.id) == []            # another conversation's file
    assert index.search("the of and", conv.id) == []              # only stopwords: nothing relevant
    db.delete_conversation(conv.id)
    assert index.document(a.id) is None
    assert db._db.execute("SELECT COUNT(*) FROM chunks WHERE document_id=?", (a.id,)).fetchone()[0] == 0
    assert index.search("tomatoes", None, library=True) == []
    db._db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    index.close()


@pytest.mark.parametrize("text", ['"unbalanced', "NEAR(a b)", "col:umn * AND OR NOT", "-x ^y", "'); DROP TABLE chunks; --"])
def test_user_text_is_never_fts_syntax(db, tmp_path, text):
    conv = db.create_conversation("c")
    (tmp_path / "a.txt").write_text("near column drop table unbalanced")
    index = DocumentIndex(db.path)
    index.index_document(index.add_attachment(conv.id, tmp_path / "a.txt").id)
    index.search(text, conv.id)   # no sqlite3.OperationalError
    assert all(part.startswith('"') for part in fts_query(text).split(" OR ") if part)


def test_bad_file_is_recorded_with_its_reason_and_others_are_unaffected(db, tmp_path):
    conv = db.create_conversation("c")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "good.txt").write_text("The lighthouse keeper's name was Amos.")
    index = DocumentIndex(db.path)
    bad = index.add_attachment(conv.id, tmp_path / "empty.txt")
    good = index.add_attachment(conv.id, tmp_path / "good.txt")
    gone = index.add_attachment(conv.id, tmp_path / "gone.txt")
    assert index.index_document(bad.id).error == "The file is empty (0 bytes)."
    assert index.index_document(gone.id).error == "The file is gone (moved or deleted)."
    assert index.index_document(good.id).status == "ready"
    assert index.search("lighthouse keeper", conv.id)[0].document_id == good.id


def test_cancel_leaves_the_document_pending(db, tmp_path):
    conv = db.create_conversation("c")
    doc = DocumentIndex(db.path).add_attachment(conv.id, write_pdf(tmp_path / "p.pdf", ["words here"] * 5))
    index = DocumentIndex(db.path)
    with pytest.raises(Cancelled):
        index.index_document(doc.id, should_stop=lambda: True)
    assert index.document(doc.id).status == "pending"
    assert index.index_document(doc.id).status == "ready"


def test_library_sync_adds_changes_and_forgets(db, tmp_path):
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    (lib / "one.txt").write_text("alpha")
    (lib / "sub" / "two.md").write_text("beta")
    (lib / "pic.png").write_bytes(b"\x89PNG")          # not a supported kind: not listed
    (lib / ".hidden.txt").write_text("secret")
    index = DocumentIndex(db.path)
    assert index.sync_library(lib) == 2
    for d in index.pending():
        index.index_document(d)
    assert index.sync_library(lib) == 0
    (lib / "one.txt").write_text("alpha changed")
    (lib / "sub" / "two.md").unlink()
    assert index.sync_library(lib) == 1
    assert [d.name for d in index.documents(None)] == ["one.txt"]


def test_small_attachments_go_in_whole_and_big_ones_by_passage(db, tmp_path):
    conv = db.create_conversation("c")
    (tmp_path / "note.txt").write_text("Meeting moved to Thursday.\nBring the blue folder.\n")
    index = DocumentIndex(db.path)
    index.index_document(index.add_attachment(conv.id, tmp_path / "note.txt").id)
    sources = select_sources(index, "when is the meeting", conv.id, 1500, library=False)
    assert [(s.n, s.location) for s in sources] == [(1, "whole file")]
    assert sources[0].text == "Meeting moved to Thursday.\nBring the blue folder."
    prompt = question_with_sources("when is the meeting", sources)
    assert "[1] note.txt, whole file:\nMeeting moved" in prompt and prompt.endswith("Question: when is the meeting")
    pages = [f"Filler page {i} about gardening, weather and roads." for i in range(1, 41)]
    pages[20] = "The vault combination is 4417, written on page twenty-one."
    index.index_document(index.add_attachment(conv.id, write_pdf(tmp_path / "big.pdf", pages * 3)).id)
    sources = select_sources(index, "What is the vault combination?", conv.id, 300, library=False)
    assert sources and sources[0].location == "page 21" and "4417" in sources[0].text
    assert select_sources(index, "zebra quantum xylophone", conv.id, 300, library=False) == []


def test_hybrid_fusion_helpers():
    assert rrf([1, 2, 3], [3, 1]) [:2] == [1, 3]


def test_chunks_match_a_fresh_chunking(db, tmp_path):
    conv = db.create_conversation("c")
    p = tmp_path / "long.txt"
    p.write_text("\n".join(f"Line {i}: " + "lorem ipsum " * 12 for i in range(300)))
    index = DocumentIndex(db.path)
    doc = index.add_attachment(conv.id, p)
    index.index_document(doc.id)
    index.index_document(doc.id)     # again: replaced, not doubled
    stored = [h.text for h in index.chunks_of(doc.id)]
    assert stored == [c.text for c in chunk_sections(extract(p).sections)]


def _run_and_kill(db: Path, folder: Path, after_docs: int) -> list[str]:
    """Start the indexer, SIGKILL it right after it reports `after_docs` more documents indexed."""
    return run_and_kill("tests.index_child", [str(db), str(folder)], "INDEXED", after_docs)


@pytest.mark.parametrize("seed", range(4))
def test_kill_during_indexing_then_resume(tmp_path, seed):
    rng = random.Random(seed)
    folder = tmp_path / "lib"
    folder.mkdir()
    vocab = [f"w{i}" for i in range(5000)]
    for i in range(150):
        (folder / f"doc{i:03}.txt").write_text(f"Document {i}.\n" + " ".join(rng.choices(vocab, k=3000)))
    db = tmp_path / "chatapp.sqlite3"
    killed_mid_way = 0
    for _ in range(3):
        lines = _run_and_kill(db, folder, rng.randrange(1, 30))
        killed_mid_way += "DONE\n" not in lines
    assert killed_mid_way >= 2, "the indexer finished before it could be killed: the test tested nothing"
    # After the kills: each document is either whole and ready, or pending with no chunk at all.
    Storage(db).close()
    index = DocumentIndex(db)
    for d in index.documents(None):
        stored = [h.text for h in index.chunks_of(d.id)]
        if d.status == "ready":
            assert stored == [c.text for c in chunk_sections(extract(d.path).sections)], d.name
        else:
            assert d.status == "pending" and stored == [], (d.name, len(stored))
    # Restart: resume what is left, then everything is whole.
    index.sync_library(folder)
    for doc_id in index.pending():
        index.index_document(doc_id)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    docs = index.documents(None)
    assert len(docs) == 150 and all(d.status == "ready" for d in docs)
    for d in docs:
        expected = [c.text for c in chunk_sections(extract(d.path).sections)]
        assert [h.text for h in index.chunks_of(d.id)] == expected, d.name
    n_chunks = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    assert con.execute("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH '\"document\"'").fetchone()[0] == 150
    assert n_chunks == sum(len(index.chunks_of(d.id)) for d in docs)
    con.close()


def test_big_index_drops_words_most_chunks_contain(db, tmp_path, monkeypatch):
    import chatapp.documents.index as ix
    monkeypatch.setattr(ix, "PRUNE_FROM", 10)
    conv = db.create_conversation("c")
    index = DocumentIndex(db.path)
    for i in range(30):
        (tmp_path / f"n{i}.txt").write_text(f"Meetings happen weekly. Note {i} mentions item{i}.")
        index.index_document(index.add_attachment(conv.id, tmp_path / f"n{i}.txt").id)
    assert index.refresh_common_terms() >= 2           # "meet", "happen", "weekli", "note", "mention"
    assert index._informative(["meetings", "item7"]) == ["item7"]   # stemmed as the index stems
    assert index._informative(["meetings"]) == ["meetings"]         # never drop every word
    assert index.search("meetings about item7", conv.id)[0].text.endswith("item7.")


def test_scope_filter_finds_a_match_crowded_out_by_other_chats(db, tmp_path):
    mine, other = db.create_conversation("mine"), db.create_conversation("other")
    index = DocumentIndex(db.path)
    crowd = tmp_path / "crowd.txt"
    crowd.write_text("\n\n".join("walrus walrus walrus " * 20 for _ in range(1200)))
    index.index_document(index.add_attachment(other.id, crowd).id)
    (tmp_path / "mine.txt").write_text("One walrus lives in the zoo.")
    index.index_document(index.add_attachment(mine.id, tmp_path / "mine.txt").id)
    hits = index.search("walrus", mine.id, library=False)
    assert [h.name for h in hits] == ["mine.txt"]


def test_big_document_goes_in_batches_invisible_until_ready(db, tmp_path, monkeypatch):
    import chatapp.documents.index as ix
    monkeypatch.setattr(ix, "BATCH_CHARS", 5_000)
    conv = db.create_conversation("c")
    p = tmp_path / "big.txt"
    p.write_text("\n\n".join(f"Paragraph {i} about the narwhal migration, part {i}." * 8 for i in range(200)))
    index = DocumentIndex(db.path)
    doc = index.add_attachment(conv.id, p)
    calls = []

    def stop_after_first_batch():
        calls.append(1)
        return len(calls) > 2      # extraction's check, the check after extraction, then stop
    with pytest.raises(Cancelled):
        index.index_document(doc.id, should_stop=stop_after_first_batch)
    assert index.document(doc.id).status == "pending"
    assert index.chunks_of(doc.id)                      # a first batch was written...
    assert index.search("narwhal migration", conv.id) == []   # ...but nothing pending is ever searched
    assert index.index_document(doc.id).status == "ready"
    assert [h.text for h in index.chunks_of(doc.id)] == [c.text for c in chunk_sections(extract(p).sections)]
    assert index.search("narwhal migration", conv.id)
