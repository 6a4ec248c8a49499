"""Issue 22 item 6: known SQLite errors (locked, full, read-only, corrupt) become the notice the window
shows; a bug (an SQL typo, a constraint only a bug breaks, misuse) raises. Real SQLite files, no mocks."""
import sqlite3

import numpy as np
import pytest

from chatapp.documents import vectors
from chatapp.documents.index import DocumentIndex
from chatapp.message_log import MessageLog
from chatapp.storage import ChatDeleted, CorruptDatabase, DiskFull, Storage, StorageError


@pytest.fixture
def chat(tmp_path, qtbot):
    """A real database file with one chat, its MessageLog, and the notices it emitted."""
    storage = Storage(tmp_path / "chatapp.sqlite3")
    conv = storage.create_conversation("Fruit")
    storage.add_message(conv.id, "user", "apples and pears")
    log, seen = MessageLog(storage), []
    log.notice.connect(seen.append)
    yield storage, conv, log, seen
    storage.close()


def lock(path):
    """Another connection (another chatapp, a backup tool) holding the write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


def cap(db: sqlite3.Connection) -> None:
    """No page beyond those the file has now: SQLite reports SQLITE_FULL as on a full disk."""
    db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")


def damage_search_index(db: sqlite3.Connection) -> None:
    """Overwrite the FTS5 index's pages with junk: SQLite itself then reports SQLITE_CORRUPT_VTAB."""
    db.execute("UPDATE messages_fts_data SET block = x'0102030405060708' WHERE id > 10")


def test_read_only_gives_the_notice(chat):
    storage, conv, log, seen = chat
    storage._db.execute("PRAGMA query_only=ON")   # SQLITE_READONLY for every write (root ignores a file mode)
    assert log.add(conv.id, "user", "not saved") is None
    assert seen == ["The data folder is read-only, so nothing new can be saved."]


def test_locked_by_another_connection_gives_the_notice(chat):
    storage, conv, log, seen = chat
    storage._db.execute("PRAGMA busy_timeout=50")
    other = lock(storage.path)
    assert log.add(conv.id, "user", "waits for the lock") is None
    other.execute("ROLLBACK")
    assert len(seen) == 1 and "locked by another program" in seen[0]
    assert log.add(conv.id, "user", "saved now") is not None


def test_a_full_disk_gives_the_notice(chat):
    storage, conv, log, seen = chat
    cap(storage._db)
    assert log.add(conv.id, "user", "x" * 200_000) is None
    assert len(seen) == 1 and seen[0].startswith("The disk holding your chats is full")
    assert not storage._db.in_transaction


def test_a_damaged_file_gives_the_notice(chat):
    storage, conv, log, seen = chat
    damage_search_index(storage._db)
    assert log.guard(storage.search_conversations, "pears") is None
    assert seen == ["Search failed: The database file is damaged."]


def test_a_file_that_is_not_a_database_is_called_damaged(tmp_path):
    path = tmp_path / "chatapp.sqlite3"
    Storage(path).close()
    path.write_bytes(b"this is not an SQLite file at all " * 200)   # SQLITE_NOTADB
    with pytest.raises(CorruptDatabase):
        Storage(path)


def test_an_sql_typo_raises_instead_of_becoming_a_notice(chat):
    storage, _conv, log, seen = chat
    with pytest.raises(sqlite3.OperationalError, match="syntax error"):
        log.guard(storage._run, "SELEC * FROM messages")
    assert seen == []


def test_a_constraint_only_a_bug_breaks_raises(chat):
    storage, conv, log, seen = chat
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        log.add(conv.id, None, "a message without a role")   # messages.role is NOT NULL
    assert seen == []


def test_misusing_a_closed_connection_raises(chat):
    storage, _conv, log, seen = chat
    storage.close()
    with pytest.raises(sqlite3.ProgrammingError):
        log.guard(storage.conversations)
    assert seen == []


def test_writing_into_a_deleted_chat_is_known(chat):
    storage, conv, log, seen = chat
    storage.delete_conversation(conv.id)
    with pytest.raises(ChatDeleted):   # the foreign key: another window deleted the chat meanwhile
        storage.add_message(conv.id, "user", "too late")


# --- DocumentIndex follows the same rule --------------------------------------------------------------

@pytest.fixture
def index(chat, tmp_path):
    storage, conv, _log, _seen = chat
    doc = tmp_path / "notes.txt"
    doc.write_text("The harvest starts in September. " * 50)
    idx = DocumentIndex(storage.path)
    row = idx.add_attachment(conv.id, doc)
    idx.index_document(row.id)
    yield idx, conv, row
    idx.close()


def test_index_locked_is_a_storage_error(index, chat):
    idx, conv, _row = index
    idx._db.execute("PRAGMA busy_timeout=50")
    other = lock(chat[0].path)
    with pytest.raises(StorageError, match="locked by another program"):
        idx.set_library_enabled(conv.id, False)
    other.execute("ROLLBACK")
    idx.set_library_enabled(conv.id, False)
    assert idx.library_enabled(conv.id) is False


def test_index_read_only_and_full_are_storage_errors(index, tmp_path):
    idx, conv, _row = index
    idx._db.execute("PRAGMA query_only=ON")
    with pytest.raises(StorageError, match="read-only"):
        idx.add_attachment(conv.id, tmp_path / "more.txt")
    idx._db.execute("PRAGMA query_only=OFF")
    cap(idx._db)
    (tmp_path / "big.txt").write_text("Ferries and harbours. " * 20_000)
    row = idx.add_attachment(conv.id, tmp_path / "big.txt")
    with pytest.raises(DiskFull, match="the disk holding your chats is full"):
        idx.index_document(row.id)
    assert idx.document(row.id).status == "pending"


def test_index_damaged_is_corrupt(index):
    idx, conv, _row = index
    idx._db.execute("UPDATE chunks_fts_data SET block = x'0102030405060708' WHERE id > 10")
    with pytest.raises(CorruptDatabase):
        idx.search("harvest", conv.id)


def test_index_bug_raises_as_the_sqlite_error(index):
    idx, _conv, _row = index
    model = vectors.model_id(idx._db, "empty-vectors", 4)
    # A vector of no bytes breaks the table's CHECK: only a bug in the embedding code could do that.
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        vectors.fill(idx._db, model, lambda texts: np.zeros((len(texts), 0), np.float32))


# --- the documents part: the index's known errors reach the window as its notices ---------------------

@pytest.mark.parametrize("problem, words", [
    ("PRAGMA query_only=ON", "The files could not be attached: The data folder is read-only"),
    ("full", "The disk holding your chats is full, so the files were not attached"),
])
def test_attach_on_a_read_only_or_full_index_gives_the_notice(make_app, tmp_path, problem, words):
    parts = make_app()
    seen = []
    parts.session.notice.connect(seen.append)
    files = [tmp_path / f"{n:02} {'notes on the harvest ' * 9}.txt" for n in range(40)]   # rows that need pages
    for f in files:
        f.write_text("The harvest starts in September.")
    db = parts.session.documents.index._db     # the index's own connection; the chat's still writes
    cap(db) if problem == "full" else db.execute(problem)
    assert not parts.session.submit("/attach " + " ".join(f'"{f}"' for f in files))
    assert seen and seen[-1].startswith(words)
