"""Hybrid search: vectors stored per model, filled in batches (kill-safe), fused with BM25; bad models fall back."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from chatapp.documents.context import retrieve
from chatapp.documents.hybrid import Hybrid
from chatapp.documents.index import DocumentIndex
from chatapp.engines.base import EngineError
from chatapp.engines.embed_prompts import NONE
from chatapp.storage import Storage

from .killed_child import run_and_kill

# A toy embedding model: words mapped to concepts, so a paraphrase with no word in common lands
# on the same vector while BM25 sees nothing in common.
CONCEPTS = {"money": "invoice bill payment paid settled pay owe", "animal": "cat cats kitten sleep purr",
            "travel": "ferry boat sail harbour island", "plant": "tomato tomatoes garden grow vegetables"}


class ConceptEngine:
    prompts = NONE   # a model trained without query/passage prompts

    def __init__(self, identity="concepts-v1", fail_on: str | None = None, delay: float = 0.0):
        self.identity, self.dim, self.fail_on, self.delay = identity, len(CONCEPTS), fail_on, delay
        self.embedded = 0
        self.loaded = False

    def load(self):
        self.loaded = True

    def embed(self, texts):
        if self.delay:
            time.sleep(self.delay)
        rows = []
        for t in texts:
            if self.fail_on and self.fail_on in t:
                raise EngineError("the model could not read this text")
            words = set(t.lower().replace(".", " ").replace("?", " ").split())
            v = np.array([len(words & set(ws.split())) for ws in CONCEPTS.values()], np.float32) + 0.01
            rows.append(v / np.linalg.norm(v))
        self.embedded += len(texts)
        return np.stack(rows)

    def close(self):
        self.loaded = False


DOCS = {"invoice.txt": "The invoice must be settled within thirty days of delivery.",
        "cats.txt": "Cats purr and sleep most of the afternoon.",
        "ferry.txt": "The ferry to the island leaves the harbour at nine.",
        "garden.txt": "Tomatoes grow best in a sunny garden."}


@pytest.fixture
def setup(tmp_path):
    storage = Storage(tmp_path / "chatapp.sqlite3")
    conv = storage.create_conversation("c")
    index = DocumentIndex(storage.path)
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text)
        index.index_document(index.add_attachment(conv.id, tmp_path / name).id)
    yield storage, conv, index
    index.close()
    storage.close()


def test_vectors_are_stored_once_and_reloaded_after_a_restart(setup):
    storage, conv, index = setup
    engine = ConceptEngine()
    hybrid = Hybrid("concepts", make_engine=lambda: engine)
    assert hybrid.fill(index, lambda: False) == 4
    rows = index._db.execute("SELECT chunk_id, model_id, vector FROM chunk_vectors").fetchall()
    assert len(rows) == 4 and all(len(r[2]) == 4 * engine.dim for r in rows)
    text = index._db.execute("SELECT text FROM chunks WHERE id=?", (rows[0][0],)).fetchone()[0]
    assert np.allclose(np.frombuffer(rows[0][2], "<f4"), engine.embed([text])[0])
    # A new worker (a restart) with the same model embeds nothing again and ranks from the stored blobs.
    index.close()
    again = DocumentIndex(storage.path)
    engine2 = ConceptEngine()
    hybrid2 = Hybrid("concepts", make_engine=lambda: engine2)
    assert hybrid2.fill(again, lambda: False) == 0 and engine2.embedded == 0
    best = hybrid2.rank(again, "How much do I owe, and when must the bill be paid?", conv.id, False, 3)
    assert again.hits([best[0][0]])[0].name == "invoice.txt"
    again.close()


def test_hybrid_finds_a_paraphrase_bm25_cannot_and_fuses_by_rank(setup):
    storage, conv, index = setup
    hybrid = Hybrid("concepts", make_engine=ConceptEngine)
    hybrid.fill(index, lambda: False)

    def rank(q, c, lib, limit):
        return hybrid.rank(index, q, c, lib, limit)

    question = "When is payment of the bill due?"      # not one word in common with the invoice
    assert retrieve(index, question, conv.id, library=False) == []
    found = retrieve(index, question, conv.id, library=False, vector_rank=rank)
    assert [h.name for h in found] == ["invoice.txt"]  # the other documents are far less alike: left out
    # Fusion: BM25 ranks the ferry first ("nine"), vectors the cats; a chunk in both lists wins (RRF, k=60).
    ids = {h.name: h.chunk_id for d in DOCS for h in index.search(d.split(".")[0], conv.id, library=False)}
    fused = retrieve(index, "cats sleep nine", conv.id, library=False,
                     vector_rank=lambda *a: [(ids["cats.txt"], 0.9), (ids["ferry.txt"], 0.85)])
    bm25 = retrieve(index, "cats sleep nine", conv.id, library=False)
    assert {h.name for h in bm25} == {"cats.txt", "ferry.txt"}
    assert [h.name for h in fused][:2] == ["cats.txt", "ferry.txt"]
    # Scope: another conversation's chunks are never ranked.
    other = storage.create_conversation("other")
    assert hybrid.rank(index, question, other.id, False, 5) == []


def test_a_new_model_rebuilds_every_vector_and_forgets_the_old_one(setup):
    storage, conv, index = setup
    Hybrid("a", make_engine=lambda: ConceptEngine("model-a")).fill(index, lambda: False)
    b = ConceptEngine("model-b")
    hybrid = Hybrid("b", make_engine=lambda: b)
    assert hybrid.fill(index, lambda: False) == 4 and b.embedded == 4
    models = index._db.execute("SELECT identity FROM embedding_models").fetchall()
    assert [m[0] for m in models] == ["model-b"]
    assert tuple(index._db.execute("SELECT COUNT(DISTINCT model_id), COUNT(*) FROM chunk_vectors").fetchone()) == (1, 4)
    # The cache follows the table: a deleted document's vectors leave the ranking, a new one's join it.
    hybrid.rank(index, "bill", conv.id, False, 5)
    index._db.execute("DELETE FROM documents WHERE name='invoice.txt'")
    assert all(index.hits([i])[0].name != "invoice.txt" for i, _ in hybrid.rank(index, "bill", conv.id, False, 5))


def test_a_bad_embedding_model_gives_a_clear_message_and_bm25_goes_on(setup, tmp_path):
    storage, conv, index = setup
    bad = tmp_path / "embed.gguf"
    bad.write_bytes(b"this is not a model at all")
    hybrid = Hybrid(str(bad))     # the real engine's checks
    assert hybrid.fill(index, lambda: False) == 0
    assert "embed.gguf is not a GGUF model file" in hybrid.error and "keywords only" in hybrid.error
    assert hybrid.rank(index, "bill", conv.id, False, 5) == []
    assert [h.name for h in retrieve(index, "ferry harbour", conv.id, library=False,
                                     vector_rank=lambda *a: hybrid.rank(index, *a))] == ["ferry.txt"]
    # A model that fails part-way stops being used, and the vectors it wrote are whole.
    broken = Hybrid("x", make_engine=lambda: ConceptEngine("model-x", fail_on="Tomatoes"))
    broken.fill(index, lambda: False)
    assert "could not read this text" in broken.error
    assert index._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _fill_and_kill(db: Path, after: int) -> list[str]:
    return run_and_kill("tests.vector_child", [str(db)], "BATCH", after)


def test_kill_while_filling_vectors_leaves_whole_vectors_and_resumes(tmp_path):
    storage = Storage(tmp_path / "chatapp.sqlite3")
    conv = storage.create_conversation("c")
    index = DocumentIndex(storage.path)
    for i in range(60):
        (tmp_path / f"d{i}.txt").write_text(f"Note {i}: the ferry, the bill and the garden. " * 3)
        index.index_document(index.add_attachment(conv.id, tmp_path / f"d{i}.txt").id)
    index.close()
    storage.close()
    killed = sum("DONE\n" not in _fill_and_kill(tmp_path / "chatapp.sqlite3", after) for after in (1, 3))
    assert killed == 2, "the child finished before it was killed: the test tested nothing"
    con = sqlite3.connect(tmp_path / "chatapp.sqlite3")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    have = con.execute("SELECT COUNT(*) FROM chunk_vectors").fetchone()[0]
    assert 0 < have < 60
    assert {r[0] for r in con.execute("SELECT length(vector) FROM chunk_vectors")} == {4 * len(CONCEPTS)}
    con.close()
    index = DocumentIndex(tmp_path / "chatapp.sqlite3")
    engine = ConceptEngine()
    assert Hybrid("concepts", make_engine=lambda: engine).fill(index, lambda: False) == 60 - have
    assert index._db.execute("SELECT COUNT(*) FROM chunk_vectors").fetchone()[0] == 60
    index.close()


def test_settings_dialog_keeps_the_embedding_model(qtbot, tmp_path):
    from chatapp.settings import Settings
    from chatapp.ui.settings_dialog import SettingsDialog
    dialog = SettingsDialog(Settings(embedding_model="/models/bge-small.gguf"), config_dir=tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.result_settings().embedding_model == "/models/bge-small.gguf"
    dialog.embedding_model.setText("  ")
    assert dialog.result_settings().embedding_model == ""   # empty: BM25 only


def test_a_question_is_answered_between_vector_batches_while_the_worker_is_busy(make_app, qtbot, tmp_path,
                                                                                 monkeypatch):
    from chatapp.parts import documents
    from chatapp.engines.fake import FakeChatEngine
    from chatapp.settings import Settings
    calls: list[str] = []

    class Recorded(ConceptEngine):
        def embed(self, texts):
            calls.append("query" if len(texts) == 1 and texts[0].endswith("?") else "batch")
            return super().embed(texts)

    monkeypatch.setattr(Hybrid, "_default_engine", lambda self: Recorded(delay=1.0))
    monkeypatch.setattr(documents, "HYBRID_WAIT_MS", 120_000)   # no fallback to BM25 in this test
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "a-invoice.txt").write_text(DOCS["invoice.txt"])        # first in line for a vector
    for i in range(40):
        (lib / f"note{i:02}.txt").write_text(f"Note {i}: cats purr in the harbour garden.")
    engine = FakeChatEngine(["ok"])
    parts = make_app(engine, settings=Settings(library_folder=str(lib), embedding_model="concepts"))
    index = parts.session.documents.index
    count = lambda: index._db.execute("SELECT COUNT(*) FROM chunk_vectors").fetchone()[0]   # noqa: E731
    qtbot.waitUntil(lambda: count() >= 1, timeout=60000)
    s = parts.session
    with qtbot.waitSignal(s.reply_finished, timeout=120000):
        s.submit("When is payment of the bill due?")       # no word in common with the invoice
    prompt = engine.received[-1][-1]["content"]
    assert "[1] a-invoice.txt" in prompt and "settled within thirty days" in prompt
    qtbot.waitUntil(lambda: count() == 41, timeout=120000)
    assert "query" in calls and calls.index("query") < len(calls) - 1 - calls[::-1].index("batch"), calls


def test_a_question_does_not_wait_long_for_a_busy_worker(make_app, qtbot, tmp_path, monkeypatch):
    """The worker is stuck inside a batch: after HYBRID_WAIT_MS the reply goes with BM25's passages."""
    from chatapp.parts import documents
    from chatapp.engines.fake import FakeChatEngine
    from chatapp.settings import Settings
    release = threading.Event()
    calls: list[str] = []

    class Stuck(ConceptEngine):
        def embed(self, texts):
            calls.append("query" if len(texts) == 1 and texts[0].endswith("?") else "batch")
            release.wait(120)   # until the test lets it go (shutdown must not find it stuck)
            return super().embed(texts)

    monkeypatch.setattr(Hybrid, "_default_engine", lambda self: Stuck())
    monkeypatch.setattr(documents, "HYBRID_WAIT_MS", 300)
    lib = tmp_path / "lib"
    lib.mkdir()
    for name, text in DOCS.items():
        (lib / name).write_text(text)
    engine = FakeChatEngine(["ok"])
    parts = make_app(engine, settings=Settings(library_folder=str(lib), embedding_model="concepts"))
    try:
        qtbot.waitUntil(lambda: calls == ["batch"], timeout=60000)     # inside the first vector batch
        s = parts.session
        with qtbot.waitSignal(s.reply_finished, timeout=60000):
            s.submit("When does the ferry leave the harbour?")
        assert calls == ["batch"]                                      # the worker never got to the question
        assert "[1] ferry.txt" in engine.received[-1][-1]["content"]   # BM25 answered it
    finally:
        release.set()
    qtbot.waitUntil(lambda: "query" in calls, timeout=60000)           # the late answer is dropped quietly
