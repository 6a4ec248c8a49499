"""Telling the truth and keeping nothing stray (issue 15): search, storage errors, context, orphan pictures."""
import sqlite3
from pathlib import Path

import pytest

from chatapp.conversation import DONE
from chatapp.engines.base import ContextOverflow
from chatapp.engines.context import fit_messages
from chatapp.engines.fake import FakeImageEngine
from chatapp.storage import Storage, StorageError, known


@pytest.fixture
def chats(tmp_path):
    st = Storage(tmp_path / "db.sqlite3")
    fruit = st.create_conversation("Fruit talk")
    st.add_message(fruit.id, "user", "I like apples")
    st.add_message(fruit.id, "assistant", "Bananas are good too")
    other = st.create_conversation("100% sure_thing")
    st.add_message(other.id, "user", "nothing about fruit here")
    yield st, fruit, other
    st.close()


def titles(found):
    return sorted(c.title for c in found)


def test_search_matches_every_word_anywhere_in_the_conversation(chats):
    st, fruit, other = chats
    assert titles(st.search_conversations("apples bananas")) == ["Fruit talk"]   # two different messages
    assert titles(st.search_conversations("talk apples")) == ["Fruit talk"]      # title + message
    assert titles(st.search_conversations("appl")) == ["Fruit talk"]             # prefixes
    assert titles(st.search_conversations("apples nothing")) == []


@pytest.mark.parametrize("query, expected", [("%", ["100% sure_thing"]), ("_", ["100% sure_thing"]),
                                             ("%%%", []), ("a_p", [])])
def test_like_wildcards_are_just_characters(chats, query, expected):
    st, *_ = chats
    assert titles(st.search_conversations(query)) == expected


@pytest.mark.parametrize("query", [" ".join(f"word{i}" for i in range(1000)), "x" * 60_000, "apples\0",
                                   '"unbalanced', "NEAR(a b)", "title:x", "a* OR b", "\x01\x02"])
def test_hostile_queries_are_bounded_and_never_fail(chats, query):
    st, *_ = chats
    st.search_conversations(query)    # no StorageError, whatever was typed


def test_search_errors_do_not_say_could_not_save(chats, monkeypatch):
    st, *_ = chats
    # A damaged index (junk in its pages): the search itself fails, with SQLITE_CORRUPT_VTAB.
    st._db.execute("UPDATE messages_fts_data SET block = x'0102030405060708' WHERE id > 10")
    with pytest.raises(StorageError) as err:
        st.search_conversations("apples")
    assert str(err.value).startswith("Search failed") and "Could not save" not in str(err.value)


def real_error(sql_setup, sql):
    db = sqlite3.connect(":memory:")
    db.executescript(sql_setup)
    try:
        db.execute(sql)
    except sqlite3.Error as exc:
        return exc
    raise AssertionError("no error")


def test_storage_errors_are_classified_by_code_not_text():
    # A read-only database and an unopenable one have messages that share no keyword with ours.
    readonly = real_error("CREATE TABLE t(x); PRAGMA query_only=ON;", "INSERT INTO t VALUES (1)")
    assert "read-only" in str(known(readonly))
    fk = real_error("PRAGMA foreign_keys=ON; CREATE TABLE p(id INTEGER PRIMARY KEY);"
                    "CREATE TABLE c(p INTEGER REFERENCES p(id));", "INSERT INTO c VALUES (5)")
    assert "deleted" in str(known(fk)) and "FOREIGN KEY" not in str(known(fk))
    text_only = sqlite3.OperationalError("database is locked, disk is full, readonly")   # no code at all
    assert known(text_only) is None   # not "locked by another program": without a code it is a bug, raised


def test_a_data_folder_that_cannot_hold_a_database_is_named(tmp_path):
    with pytest.raises(StorageError) as err:
        Storage(Path("/proc/chatapp.sqlite3"))      # SQLITE_CANTOPEN, as for a read-only folder
    assert "could not be opened" in str(err.value) and "Could not save" not in str(err.value)


def words(text):
    return len(text.split())


def test_a_system_prompt_longer_than_the_context_is_named():
    msgs = [{"role": "system", "content": "rule " * 3000}, {"role": "user", "content": "hi there"}]
    with pytest.raises(ContextOverflow) as err:
        fit_messages(msgs, words, 2048, 512)
    assert str(err.value).startswith("The system prompt is about 3008 tokens")
    assert "This message is about" not in str(err.value)


def test_a_message_and_system_prompt_that_only_fail_together_say_so():
    msgs = [{"role": "system", "content": "rule " * 900}, {"role": "user", "content": "word " * 900}]
    with pytest.raises(ContextOverflow, match="do not fit together"):
        fit_messages(msgs, words, 2048, 512)


def test_a_picture_finishing_as_its_chat_is_deleted_leaves_no_file(make_app, qtbot):
    parts = make_app(image_engine=FakeImageEngine(step_delay=0.05, default_steps=10))
    s, seen = parts.session, []
    s.notice.connect(seen.append)
    s.submit("/image a red circle --n 2")
    qtbot.waitUntil(lambda: any(j.started for j in s.images.jobs.values()), timeout=30000)
    cid = s.current.id
    parts.storage.delete_conversation(cid)     # gone under the running job (as from a second window)
    qtbot.waitUntil(lambda: not s.images.jobs, timeout=30000)
    assert not list(parts.paths.images.glob("*.png"))
    assert not any("FOREIGN KEY" in n or "Could not save" in n for n in seen)


def test_a_finished_picture_is_kept(make_app, qtbot):
    parts = make_app(image_engine=FakeImageEngine())
    parts.session.submit("/image a red circle --n 2")
    qtbot.waitUntil(lambda: not parts.session.images.jobs, timeout=30000)
    images = [m for m in parts.storage.messages(parts.session.current.id) if m.kind == "image"]
    assert [m.status for m in images] == [DONE, DONE] and all(Path(m.image_path).exists() for m in images)
