"""Index a library folder until done or killed (for the kill -9 test). Run: python -m tests.index_child DB FOLDER"""
from __future__ import annotations

import sys


def main(db: str, folder: str) -> None:
    from chatapp.documents.index import DocumentIndex
    from chatapp.storage import Storage
    Storage(db).close()               # migrations, as the app would run them
    index = DocumentIndex(db)
    index.sync_library(folder)
    print("RUNNING", flush=True)
    for doc_id in index.pending():
        index.index_document(doc_id)
        print("INDEXED", doc_id, flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
