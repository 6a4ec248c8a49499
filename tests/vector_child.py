"""Fill chunk vectors slowly until done or killed (for the kill -9 test). Run: python -m tests.vector_child DB"""
from __future__ import annotations

import sys


def main(db: str) -> None:
    from chatapp.documents.hybrid import Hybrid
    from chatapp.documents.index import DocumentIndex

    from .test_documents_hybrid import ConceptEngine
    index = DocumentIndex(db)
    engine = ConceptEngine(delay=0.02)
    embed = engine.embed

    def embed_and_report(texts):
        out = embed(texts)
        print("BATCH", flush=True)   # the batch is embedded; its transaction comes next
        return out
    engine.embed = embed_and_report
    Hybrid("concepts", make_engine=lambda: engine).fill(index, lambda: False)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
