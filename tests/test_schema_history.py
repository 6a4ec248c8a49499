"""The schema's history stays what it was when the documents' steps moved into storage/: a database made
by the code before the move (tests/data/storage, user_version 7: a chat tree, an import key, an indexed
file with CJK text and a vector) opens with its data unchanged and only the later steps (LATER) added, and a new
database gets the very same schema."""
import shutil
import sqlite3
from pathlib import Path

from chatapp.documents.index import DocumentIndex
from chatapp.storage import MIGRATIONS, Storage

MADE_BEFORE = Path(__file__).parent / "data" / "storage" / "made_by_user_version_7.sqlite3"


def schema(path: Path) -> tuple[int, list[tuple]]:
    db = sqlite3.connect(path)
    try:
        return (db.execute("PRAGMA user_version").fetchone()[0],
                db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall())
    finally:
        db.close()


# Steps after the fixture was made: (user_version, what each changes in sqlite_master).
LATER = {8: "conversations gains tools_off"}


def test_a_database_made_before_opens_unchanged(tmp_path):
    path = tmp_path / "chatapp.sqlite3"
    shutil.copy(MADE_BEFORE, path)
    before = schema(path)
    storage = Storage(path)
    assert storage.schema_version == 7 + len(LATER) == len(MIGRATIONS)   # no step ran again, none is missing
    conv, = storage.conversations()
    assert conv.title == "Harbour trip" and conv.system_prompt == "Be brief." and not conv.tools_off
    question, shown = storage.branch(conv.id)
    assert (question.content, shown.content) == ("When do the ferries leave?", "Every hour from pier 3.")
    assert [m.content for m in storage.children(question.id, conv.id)] == ["Every hour from pier 3.", "Hourly, pier 3."]
    assert storage.imported_as("chatgpt", "abc-123") == conv.id
    assert [c.id for c in storage.search_conversations("ferries")] == [conv.id]
    index = DocumentIndex(path)
    assert [h.name for h in index.search("harbour ferries", conv.id)] == ["notes.txt"]
    assert [h.name for h in index.search("量子计算", conv.id)] == ["notes.txt"]   # the trigram index (step 7)
    assert index._db.execute("SELECT COUNT(*) FROM chunk_vectors").fetchone()[0] == 1
    index.close()
    storage.close()
    assert schema(path) == after_later_steps(before)


def after_later_steps(before: tuple[int, list[tuple]]) -> tuple[int, list[tuple]]:
    """The fixture's schema with the steps in LATER applied, as SQLite writes them into sqlite_master."""
    rows = [(t, n, tbl, sql.replace("current_leaf INTEGER", "current_leaf INTEGER, tools_off INTEGER NOT NULL DEFAULT 0")
             if n == "conversations" else sql) for t, n, tbl, sql in before[1]]
    return 7 + len(LATER), rows


def test_a_new_database_gets_the_same_schema_as_before(tmp_path):
    Storage(tmp_path / "new.sqlite3").close()
    assert schema(tmp_path / "new.sqlite3") == after_later_steps(schema(MADE_BEFORE))
