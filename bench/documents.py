"""Documents: background indexing (throughput, event-loop stalls, database growth) and retrieval at 100,000 chunks."""
from __future__ import annotations

import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from .common import LoopProbe, Row, median, qapp, wait_until

SYLLABLES = ["ka", "lo", "mi", "ten", "ra", "su", "vel", "dor", "an", "is", "pe", "tro", "gal", "en", "ur", "sy"]


def vocabulary(n: int, rng: random.Random) -> list[str]:
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def prose(rng: random.Random, vocab: list[str], weights: list[float], n_chars: int) -> str:
    """Zipf-distributed words in sentences and paragraphs, about n_chars long."""
    words = rng.choices(vocab, weights, k=n_chars // 6)
    out, line = [], []
    for i, w in enumerate(words, 1):
        line.append(w)
        if i % 14 == 0:
            out.append(" ".join(line).capitalize() + ".")
            line = []
            if i % 70 == 0:
                out.append("\n\n")
    return " ".join(out)


def make_library(folder: Path, n_files: int, total_mb: float, seed: int = 7) -> float:
    """n_files files (Markdown, text, Python, a few PDFs) of total_mb MB of text; returns MB written."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.pdf_maker import write_pdf
    rng = random.Random(seed)
    vocab = vocabulary(20_000, rng)
    weights = [1 / (i + 1) for i in range(len(vocab))]
    per_file = int(total_mb * 1024 * 1024 / n_files)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        text = prose(rng, vocab, weights, per_file)
        if i % 20 == 0:   # 5 % PDFs, one page per ~3 kB
            pages = [text[j:j + 3000] for j in range(0, len(text), 3000)]
            write_pdf(folder / f"report{i:04}.pdf", pages)
        elif i % 20 == 1:
            (folder / f"module{i:04}.py").write_text("\n".join(f"def f{j}():\n    return '{line}'"
                                                              for j, line in enumerate(text.split(". "))))
        else:
            (folder / f"note{i:04}.{'md' if i % 2 else 'txt'}").write_text(text)
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def _db_mb(db: Path) -> float:
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return sum(Path(str(db) + s).stat().st_size for s in ("", "-wal") if Path(str(db) + s).exists()) / 2**20


class _StatusBar:
    """A status-bar label and progress bar fed by the worker's progress signal, like ui/attachments.py."""

    def __init__(self):
        from PySide6.QtCore import QObject, Slot
        from PySide6.QtWidgets import QLabel, QProgressBar

        class Receiver(QObject):   # a GUI-thread QObject, so Qt queues the worker's signals to it
            def __init__(self, owner):
                super().__init__()
                self.owner = owner

            @Slot(int, int, str)
            def on_progress(self, done, total, name):
                self.owner.updates += 1
                self.owner.bar.setRange(0, max(total, 1))
                self.owner.bar.setValue(done)
                self.owner.label.setText(f"· indexing {done + 1}/{total}: {name}")

        self.updates = 0
        self.label, self.bar = QLabel(), QProgressBar()
        self.receiver = Receiver(self)
        self.on_progress = self.receiver.on_progress

    def close(self) -> None:
        self.label.deleteLater()
        self.bar.deleteLater()


def indexing(n_files: int = 1000, total_mb: float = 50.0) -> list[Row]:
    from chatapp.documents.index import DocumentIndex
    from chatapp.storage import Storage
    from chatapp.workers import DocumentWorker
    qapp()   # the worker thread needs a QApplication
    sys.setswitchinterval(0.001)   # as the app sets it
    work = Path(tempfile.mkdtemp(prefix="chatapp-docbench-"))
    try:
        lib = work / "library"
        mb = make_library(lib, n_files, total_mb)
        for p in lib.iterdir():            # warm the page cache so both runs read from memory
            p.read_bytes()
        # Raw: the same index code called in a plain loop, no thread, no event loop.
        raw_db = work / "raw.sqlite3"
        Storage(raw_db).close()
        t = time.perf_counter()
        raw = DocumentIndex(raw_db)
        raw.sync_library(lib)
        for doc_id in raw.pending():
            raw.index_document(doc_id)
        raw_s = time.perf_counter() - t
        text_mb = raw._db.execute("SELECT SUM(chars) FROM documents").fetchone()[0] / 2**20
        raw.close()
        # The event loop with nothing to do, same run: what this (shared) machine does to a 5 ms timer.
        idle, idle_s = LoopProbe(), min(20.0, raw_s)
        idle.start()
        t = time.perf_counter()
        wait_until(lambda: time.perf_counter() - t >= idle_s)
        idle.stop()
        idle_longest, idle_p99 = idle.summary_ms()
        idle_over = sum(x > 0.05 for x in idle.stalls) / idle_s * 60   # stalls over 50 ms a minute
        # chatapp: the DocumentWorker in the background while a 5 ms timer probes the GUI thread.
        db = work / "chatapp.sqlite3"
        Storage(db).close()
        empty_mb = _db_mb(db)
        worker = DocumentWorker(db)
        done = []
        worker.finished.connect(lambda ok: done.append(ok))
        status = _StatusBar()   # the GUI-thread side, as in the app: a label and a bar per progress signal
        worker.progress.connect(status.on_progress)
        probe = LoopProbe()
        probe.start()
        t = time.perf_counter()
        worker.request_index(str(lib))
        wait_until(lambda: bool(done), timeout=1800)
        app_s = time.perf_counter() - t
        probe.stop()
        worker.shutdown(5000)
        longest, p99 = probe.summary_ms()
        over = sum(x > 0.05 for x in probe.stalls) / app_s * 60
        status.close()
        growth = (_db_mb(db) - empty_mb) / text_mb
        return [
            Row(f"Index {n_files:,} files / {mb:.0f} MB in the background", app_s, "s", raw_s, app_s / raw_s,
                "", None, f"{mb / app_s:.1f} MB/s; raw = same code in a plain loop"),
            Row("…event loop's longest stall meanwhile", longest, "ms", idle_longest, longest / idle_longest,
                "<= 50 ms", longest <= 50, f"p99 {p99:.1f} ms; reference = the idle event loop for "
                f"{idle_s:.0f} s, same run (p99 {idle_p99:.1f} ms); stalls over 50 ms: {over:.1f}/min "
                f"(idle {idle_over:.1f}/min); {status.updates} progress updates "
                f"({status.updates / app_s:.1f}/s) shown on the GUI thread"),
            Row("Database growth per MB of text", growth, "MB", None, None, "", None,
                f"{text_mb:.1f} MB of extracted text; chunks + FTS5 index, overlap included"),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def retrieval(n_chunks: int = 100_000, n_queries: int = 60, keep: Path | None = None) -> list[Row]:
    from chatapp.documents.index import DocumentIndex
    from chatapp.storage import Storage
    work = keep or Path(tempfile.mkdtemp(prefix="chatapp-retrbench-"))
    try:
        rng = random.Random(11)
        vocab = vocabulary(20_000, rng)
        weights = [1 / (i + 1) for i in range(len(vocab))]
        db = work / "chatapp.sqlite3"
        if db.exists():   # a kept database from an earlier run (for tuning)
            return _time_queries(db, vocab, n_chunks, n_queries)
        storage = Storage(db)
        storage.create_conversation("bench")
        storage.close()
        con = sqlite3.connect(db, isolation_level=None)
        con.execute("BEGIN")
        per_doc = 100
        for d in range(n_chunks // per_doc):
            cur = con.execute("INSERT INTO documents(conversation_id, path, name, size, status, added_at) "
                              "VALUES (NULL, ?, ?, 0, 'ready', 0)", (f"/lib/doc{d}.md", f"doc{d}.md"))
            con.executemany("INSERT INTO chunks(document_id, seq, text, line_start, line_end) VALUES (?,?,?,?,?)",
                            ((cur.lastrowid, s, prose(rng, vocab, weights, 1000), s * 10 + 1, s * 10 + 12)
                             for s in range(per_doc)))
        con.execute("COMMIT")
        con.close()
        index = DocumentIndex(db)
        index.refresh_common_terms()   # as the worker does after each indexing run
        index.close()
        return _time_queries(db, vocab, n_chunks, n_queries) + _time_hybrid(db, vocab, n_chunks, n_queries)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _time_queries(db: Path, vocab: list[str], n_chunks: int, n_queries: int) -> list[Row]:
    from chatapp.documents.context import retrieve
    from chatapp.documents.index import DocumentIndex, fts_query
    index = DocumentIndex(db)
    conv_id = index._db.execute("SELECT MIN(id) FROM conversations").fetchone()[0]
    # Questions: a few content words of middling frequency and one common one, like real questions.
    rng = random.Random(12)
    queries = [" ".join([rng.choice(vocab[:50])] + rng.sample(vocab[200:8000], rng.randint(2, 5)))
               for _ in range(n_queries)]
    raw = sqlite3.connect(db)
    for q in queries[:5]:   # warm both
        retrieve(index, q, conv_id, library=True)
    app_t, raw_t = [], []
    for q in queries:
        t = time.perf_counter()
        retrieve(index, q, conv_id, library=True)
        app_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw.execute("SELECT rowid, text FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT 24",
                    (fts_query(q),)).fetchall()
        raw_t.append(time.perf_counter() - t)
    app_ms, raw_ms = median(app_t) * 1000, median(raw_t) * 1000
    p95 = sorted(app_t)[int(len(app_t) * 0.95)] * 1000
    index.close()
    raw.close()
    return [Row(f"Retrieve passages among {n_chunks:,} chunks (median)", app_ms, "ms", raw_ms, app_ms / raw_ms,
                "<= 50 ms", p95 <= 50, f"p95 {p95:.1f} ms; raw = bare FTS5 MATCH ... ORDER BY rank, all words")]


def _time_hybrid(db: Path, vocab: list[str], n_chunks: int, n_queries: int, dim: int = 576) -> list[Row]:
    """BM25 + vector ranking (numpy, in-memory cache) + RRF among n_chunks with dim-d vectors (SmolLM2's size).

    The stored vectors are random unit vectors: ranking costs the same whatever they hold, and
    embedding 100,000 chunks with a model would take hours on this machine. Query embedding is
    timed separately with the real engine.
    """
    import numpy as np

    from chatapp.documents import vectors
    from chatapp.documents.context import retrieve
    from chatapp.documents.index import DocumentIndex
    from chatapp.engines.defaults import default_llm_path
    index = DocumentIndex(db)
    con = index._db
    model = vectors.model_id(con, f"bench-random-{dim}", dim)
    rng = np.random.default_rng(5)
    ids = [r[0] for r in con.execute("SELECT id FROM chunks ORDER BY id")]
    before = _db_mb(db)
    con.execute("BEGIN")
    for start in range(0, len(ids), 10_000):
        block = rng.standard_normal((len(ids[start:start + 10_000]), dim)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        con.executemany("INSERT INTO chunk_vectors(chunk_id, model_id, vector) VALUES (?,?,?)",
                        ((i, model, v.tobytes()) for i, v in zip(ids[start:start + 10_000], block)))
    con.execute("COMMIT")
    growth_kb = (_db_mb(db) - before) * 1024 / len(ids)
    cache = vectors.VectorCache(model, dim)
    t = time.perf_counter()
    cache.refresh(con)
    load_s = time.perf_counter() - t
    conv_id = con.execute("SELECT MIN(id) FROM conversations").fetchone()[0]
    qrng = random.Random(13)
    queries = [" ".join([qrng.choice(vocab[:50])] + qrng.sample(vocab[200:8000], qrng.randint(2, 5)))
               for _ in range(n_queries)]
    qvecs = rng.standard_normal((n_queries, dim)).astype(np.float32)
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
    app_t, raw_t = [], []
    from concurrent.futures import ThreadPoolExecutor
    helper = ThreadPoolExecutor(1)   # as DocumentWorker._beside: numpy beside BM25
    for q, v in zip(queries, qvecs):
        def rank(_q, conv, lib, limit, v=v):
            cache.refresh(con, check_removed=False)   # the check each question pays
            return helper.submit(cache.rank, v, index.scope(conv, library=lib), limit).result
        t = time.perf_counter()
        retrieve(index, q, conv_id, library=True, vector_rank=rank)
        app_t.append(time.perf_counter() - t)
        t = time.perf_counter()   # raw: the bare numpy work (one matrix-vector product, top 8)
        sims = cache.matrix @ v
        np.argpartition(-sims, 7)[:8]
        raw_t.append(time.perf_counter() - t)
    helper.shutdown()
    index.close()
    app_ms, raw_ms = median(app_t) * 1000, median(raw_t) * 1000
    p95 = sorted(app_t)[int(len(app_t) * 0.95)] * 1000
    rows = [Row(f"Hybrid retrieval among {n_chunks:,} chunks, {dim}-d vectors (median)", app_ms, "ms", raw_ms,
                app_ms / raw_ms, "<= 50 ms", p95 <= 50,
                f"p95 {p95:.1f} ms; BM25 beside numpy cosine, then RRF; query vector given; raw = bare numpy matmul + top 8; "
                f"vectors {cache.matrix.nbytes / 2**20:.0f} MB in memory, read in {load_s:.1f} s once; "
                f"+{growth_kb:.2f} kB of database per chunk")]
    gguf = default_llm_path()
    if gguf is not None:
        from chatapp.engines.llama_embed import EmbeddingEngine
        engine = EmbeddingEngine(gguf)
        engine.load()
        engine.embed(["warm up"])
        times = []
        for q in queries[:10]:
            t = time.perf_counter()
            engine.embed([q])
            times.append(time.perf_counter() - t)
        engine.close()
        rows.append(Row("…embedding the question (SmolLM2-135M, embedding mode)", median(times) * 1000, "ms",
                        None, None, "", None, f"{engine.n_threads} threads; a dedicated embedding model of "
                        "similar size costs about the same"))
    return rows


def quality() -> list[Row]:
    from chatapp.documents.evaluate import evaluate, index_folder, load_questions
    data = Path(__file__).resolve().parent.parent / "tests" / "data" / "retrieval"
    work = Path(tempfile.mkdtemp(prefix="chatapp-quality-"))
    try:
        index = index_folder(work / "chatapp.sqlite3", data / "docs")
        q = evaluate(index, load_questions(data), k=5)
        index.close()
        return [Row(f"Retrieval recall@5, BM25 alone ({q.questions} questions)", q.recall_at_k, "", None, None,
                    ">= 0.9", q.recall_at_k >= 0.9, f"MRR {q.mrr:.3f}")]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def quality_hybrid() -> list[Row]:
    """The same questions with SmolLM2 in embedding mode (not an embedding model): hybrid and vectors alone."""
    from chatapp.documents.context import retrieve
    from chatapp.documents.evaluate import evaluate, index_folder, load_questions
    from chatapp.documents.hybrid import Hybrid
    from chatapp.engines.defaults import default_llm_path
    if default_llm_path() is None:
        return []
    data = Path(__file__).resolve().parent.parent / "tests" / "data" / "retrieval"
    work = Path(tempfile.mkdtemp(prefix="chatapp-quality-"))
    try:
        index = index_folder(work / "chatapp.sqlite3", data / "docs")
        hybrid = Hybrid(str(default_llm_path()))
        t = time.perf_counter()
        n = hybrid.fill(index, lambda: False)
        fill_s = time.perf_counter() - t
        questions = load_questions(data)

        def rank(q, conv, lib, limit):
            return hybrid.rank(index, q, conv, lib, limit)
        with_vectors = evaluate(index, questions, 5, lambda q, k: retrieve(index, q, None, limit=k, vector_rank=rank))
        bm25_cut = evaluate(index, questions, 5, lambda q, k: retrieve(index, q, None, limit=k))
        alone = evaluate(index, questions, 5, lambda q, k: index.hits([i for i, _ in rank(q, None, True, k)]))
        hybrid.close()
        index.close()
        return [Row(f"Retrieval recall@5, hybrid with SmolLM2 vectors ({with_vectors.questions} questions)",
                    with_vectors.recall_at_k, "", bm25_cut.recall_at_k, None, "", None,
                    f"MRR {with_vectors.mrr:.3f}; reference = the app's BM25 path alone (MRR {bm25_cut.mrr:.3f}); "
                    f"SmolLM2 vectors alone: recall@5 {alone.recall_at_k:.3f}, MRR {alone.mrr:.3f}; "
                    f"{n} chunks embedded in {fill_s:.0f} s")]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def documents(quick: bool) -> list[Row]:
    return (quality() + ([] if quick else quality_hybrid()) + indexing(40 if quick else 1000, 1.0 if quick else 50.0)
            + retrieval(2_000 if quick else 100_000, 20 if quick else 60))


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for row in documents("--quick" in sys.argv):
        print(row)
