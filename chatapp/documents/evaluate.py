"""Retrieval quality on a question set: recall@k and MRR (used by a test and by `python -m bench.retrieval`)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .index import DocumentIndex


@dataclass
class Quality:
    questions: int
    recall_at_k: float
    mrr: float
    k: int
    misses: list[str]


def load_questions(folder: Path) -> list[dict]:
    return json.loads((folder / "questions.json").read_text(encoding="utf-8"))


def index_folder(db_path: Path, folder: Path) -> DocumentIndex:
    """Index every file of folder as the library of a fresh database (the app's own migrations)."""
    from ..storage import Storage
    Storage(db_path).close()
    index = DocumentIndex(db_path)
    index.sync_library(folder)
    for doc_id in index.pending():
        index.index_document(doc_id)
    return index


def evaluate(index: DocumentIndex, questions: list[dict], k: int = 5, search=None) -> Quality:
    """A hit is correct when it comes from the question's document and contains its answer phrase.

    search(question, k) -> hits; BM25 (index.search over the library) unless given."""
    found, reciprocal, misses = 0, 0.0, []
    for item in questions:
        hits = search(item["q"], k) if search else index.search(item["q"], None, library=True, limit=k)
        rank = next((i for i, h in enumerate(hits, 1) if h.name == item["doc"] and item["answer"] in h.text), None)
        if rank is None:
            misses.append(item["q"])
        else:
            found += 1
            reciprocal += 1 / rank
    n = len(questions)
    return Quality(n, found / n, reciprocal / n, k, misses)
