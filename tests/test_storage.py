"""Real SQLite: schema migrations, messages in order, paging, crash markers, clear errors."""
import sqlite3

import pytest

from chatapp.storage import MIGRATIONS, Storage, StorageError


def test_fresh_database_is_migrated_and_in_wal(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    assert s.schema_version == len(MIGRATIONS)
    assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.integrity_ok()


def test_migration_is_applied_once_and_kept(tmp_path):
    path = tmp_path / "db.sqlite3"
    s = Storage(path)
    c = s.create_conversation("kept")
    s.close()
    again = Storage(path)
    assert again.schema_version == len(MIGRATIONS)
    assert [x.title for x in again.conversations()] == ["kept"] and again.conversation(c.id)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    db.close()
    with pytest.raises(StorageError, match="newer chatapp"):
        Storage(path)


def test_messages_order_paging_and_cascade(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    c = s.create_conversation("t")
    ids = [s.add_message(c.id, "user", f"m{i}").id for i in range(10)]
    assert [m.content for m in s.messages(c.id, limit=3)] == ["m7", "m8", "m9"]
    assert [m.content for m in s.messages(c.id, limit=3, before_id=ids[7])] == ["m4", "m5", "m6"]
    assert s.count_messages(c.id) == 10
    s.delete_conversation(c.id)
    assert s.messages(c.id) == [] and s.conversation(c.id) is None


def test_newest_conversation_first(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    a, b = s.create_conversation("a"), s.create_conversation("b")
    s.add_message(a.id, "user", "bump a")
    assert [c.title for c in s.conversations()] == ["a", "b"]
    assert b.id > a.id


def test_interrupted_replies_become_stopped(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    c = s.create_conversation("t")
    m = s.add_message(c.id, "assistant", "half", status="streaming")
    img = s.add_message(c.id, "assistant", "p", kind="image", status="rendering")
    assert s.mark_interrupted() == 2
    assert s.message(m.id).status == "stopped" and s.message(img.id).status == "cancelled"


def test_locked_database_gives_a_clear_error(tmp_path):
    path = tmp_path / "db.sqlite3"
    s = Storage(path)
    c = s.create_conversation("t")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    s._db.execute("PRAGMA busy_timeout=100")
    with pytest.raises(StorageError, match="locked"):
        s.add_message(c.id, "user", "hello")
    other.execute("ROLLBACK")
    assert s.add_message(c.id, "user", "hello").content == "hello"


def test_search_finds_titles_and_message_text_and_follows_changes(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    a, b = s.create_conversation("Gardening"), s.create_conversation("Cooking")
    s.add_message(a.id, "user", "How do I grow tomatoes?")
    m = s.add_message(b.id, "assistant", "Boil the pasta for nine minutes.")
    assert [c.title for c in s.search_conversations("tomato")] == ["Gardening"]       # prefix match
    assert [c.title for c in s.search_conversations("cook")] == ["Cooking"]          # title
    assert s.search_conversations('pasta" OR content:*') == []                         # no FTS syntax
    s.update_message(m.id, content="Bake the bread.")
    assert s.search_conversations("pasta") == [] and [c.title for c in s.search_conversations("bread")] == ["Cooking"]
    s.delete_conversation(a.id)                                                          # cascade keeps FTS in step
    assert s.search_conversations("tomatoes") == []
    assert len(s.search_conversations("")) == 1


def test_version_1_database_is_migrated_with_its_messages_searchable(tmp_path):
    path = tmp_path / "db.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "\nPRAGMA user_version=1;")
    db.execute("INSERT INTO conversations(title, created_at, updated_at) VALUES ('old', 0, 0)")
    db.execute("INSERT INTO messages(conversation_id, role, content, created_at) VALUES (1, 'user', 'ancient scrolls', 0)")
    db.commit()
    db.close()
    s = Storage(path)
    assert s.schema_version == len(MIGRATIONS)
    assert [c.title for c in s.search_conversations("scroll")] == ["old"]
