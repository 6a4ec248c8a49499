"""Issue 28 item 7 without root: SQLite's own page limit (PRAGMA max_page_count) makes it report
SQLITE_FULL for real, and /dev/full gives the PNG write a real ENOSPC. tests/test_disk_full.py does
the same on a real full filesystem where mounting one is allowed."""
import errno
import os
import sqlite3
from types import SimpleNamespace

import pytest
from PIL import Image

from chatapp.recipes import png as png_recipe
from chatapp.conversation import DONE, ImageRequest
from chatapp.documents.index import DiskFull as IndexDiskFull
from chatapp.documents.index import DocumentIndex
from chatapp.engines.fake import FakeChatEngine
from chatapp.message_log import SPACE_AGAIN
from chatapp.storage import DiskFull, Storage, StorageError

FULL = "The disk holding your chats is full"


def cap(db: sqlite3.Connection) -> None:
    """No page beyond the ones the database has now: the next write that needs one gets SQLITE_FULL."""
    db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")


def uncap(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA max_page_count=1073741823")


def notices(parts):
    seen = []
    parts.session.notice.connect(seen.append)
    return seen


def test_storage_says_the_disk_is_full_and_writes_again_after(tmp_path):
    st = Storage(tmp_path / "c.sqlite3")
    conv = st.create_conversation("x")
    cap(st._db)
    with pytest.raises(DiskFull, match=FULL):
        st.add_message(conv.id, "user", "y" * 200_000)         # a transaction (add_message uses one)
    with pytest.raises(DiskFull, match=FULL):
        st.rename_conversation(conv.id, "z" * 200_000)         # a single statement
    assert not st._db.in_transaction                           # nothing left half open
    uncap(st._db)
    st.add_message(conv.id, "user", "y" * 200_000)
    assert [len(m.content) for m in st.messages(conv.id)] == [200_000] and st.integrity_ok()


def test_a_reply_finished_while_the_disk_is_full_is_saved_once_there_is_space(make_app, qtbot):
    long_reply = "word " * 50_000
    parts = make_app(chat_engine=FakeChatEngine([long_reply, "short"]))
    seen = notices(parts)
    assert parts.session.submit("hello")
    reply_id = parts.storage.messages(parts.session.current.id)[-1].id
    cap(parts.storage._db)             # the disk fills while the reply streams
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        pass
    assert parts.storage.message(reply_id).status == "streaming"       # the end was refused...
    assert seen.count(seen[0]) == 1 and FULL in seen[0] and "rollback" not in seen[0]   # ...and said once
    parts.session.set_system_prompt(parts.session.current.id, "Be brief. " * 20_000)
    assert seen[-1] == seen[0] and len(seen) == 2          # something the user did is always answered
    typed = "next " * 20_000
    assert not parts.session.submit(typed)                              # a send now says so, text kept
    assert "press Enter again" in seen[-1]
    uncap(parts.storage._db)           # space freed: the next send works, and the reply is written too
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        assert parts.session.submit(typed)
    saved = parts.storage.message(reply_id)
    assert (saved.status, saved.content) == (DONE, long_reply)
    assert SPACE_AGAIN in seen


def test_the_png_write_on_a_full_device_says_so_and_leaves_nothing(tmp_path, monkeypatch):
    """/dev/full: every write fails with ENOSPC, from the kernel itself."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    monkeypatch.setattr(png_recipe.time, "strftime", lambda fmt, *a: "20260101-000000")
    out = tmp_path / "images"
    out.mkdir()
    (out / "20260101-000000-7.part").symlink_to("/dev/full")    # the name save_png writes to first
    result = SimpleNamespace(image=Image.new("RGB", (64, 64), "red"), seed=7,
                             request=ImageRequest(prompt="a red circle", seed=7))
    with pytest.raises(OSError) as caught:
        png_recipe.save_png(result, out)
    assert caught.value.errno == errno.ENOSPC
    assert "the disk holding your chats and pictures is full" in caught.value.strerror
    assert list(out.iterdir()) == []                           # no .part, no .png
    saved = png_recipe.save_png(result, out)                   # "space freed": the next write works
    assert png_recipe.read_parameters(saved.path).startswith("a red circle")


def _index_with_document(tmp_path, text: str):
    st = Storage(tmp_path / "c.sqlite3")
    conv = st.create_conversation("docs")
    st.close()
    doc = tmp_path / "notes.txt"
    doc.write_text(text)
    index = DocumentIndex(tmp_path / "c.sqlite3")
    return index, index.add_attachment(conv.id, doc)


def test_indexing_on_a_full_disk_keeps_the_document_pending_and_finishes_later(tmp_path):
    index, row = _index_with_document(tmp_path, "".join(f"Line {i} about the harvest.\n" for i in range(40_000)))
    cap(index._db)
    with pytest.raises(IndexDiskFull, match="the disk holding your chats is full") as caught:
        index.index_document(row.id)
    assert isinstance(caught.value, StorageError)              # the worker's known-error path takes it
    assert index.document(row.id).status == "pending" and not index._db.in_transaction
    uncap(index._db)
    assert index.index_document(row.id).status == "ready" and index.search("harvest", row.conversation_id)


def test_a_no_space_error_while_reading_a_file_is_not_the_files_fault(tmp_path, monkeypatch):
    from chatapp.documents import index as index_module
    index, row = _index_with_document(tmp_path, "a small file")

    def no_space(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(index_module, "extract", no_space)
    with pytest.raises(IndexDiskFull):
        index.index_document(row.id)
    assert index.document(row.id).status == "pending"           # before: failed for good, "cannot be read"


def test_the_documents_half_says_what_to_do_and_retries_by_itself(make_app, qtbot):
    from chatapp.parts.documents import INDEX_FULL
    parts = make_app()
    seen = notices(parts)
    asked = []
    parts.session.documents.worker.request_index = asked.append
    parts.session.documents._on_failed("Files could not be indexed: the disk holding your chats is full. "
                                       "They will be indexed next time.")
    assert seen == [INDEX_FULL]
    parts.session.documents._rescan_library()                  # the timer's tick, no library folder set
    assert asked == [None]
    parts.session.documents._rescan_library()                  # once only
    assert asked == [None]


def test_a_batch_whose_third_picture_cannot_be_written_leaves_no_files_behind(tmp_path, monkeypatch):
    """Pictures 1-2 of a batch written, picture 3 hits a full disk: no file is left that no message names."""
    import errno
    from types import SimpleNamespace

    from PIL import Image

    from chatapp.recipes import png as png_recipe
    from chatapp.conversation import ImageRequest
    from chatapp.workers.image import ImageWorker
    real, calls = png_recipe.save_png, []

    def save_png(result, folder, *args):
        calls.append(result)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(result, folder, *args)
    monkeypatch.setattr(png_recipe, "save_png", save_png)
    results = [SimpleNamespace(image=Image.new("RGB", (8, 8)), seed=s,
                               request=ImageRequest(prompt="x", steps=1, cfg=1.0, seed=s, width=8, height=8))
               for s in (1, 2, 3)]
    worker = SimpleNamespace(engine=SimpleNamespace(model_name="m", model_hash=""))
    with pytest.raises(OSError):
        ImageWorker._save(worker, results, tmp_path)
    assert len(calls) == 3 and list(tmp_path.iterdir()) == []



def test_a_system_prompt_that_cannot_be_saved_is_not_used_as_if_it_were(make_app, qtbot):
    engine = FakeChatEngine(["one", "two"])
    parts = make_app(engine)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("first")
    seen = notices(parts)
    cid = parts.session.current.id
    cap(parts.storage._db)
    parts.session.set_system_prompt(cid, "Be brief. " * 20_000)   # 200 KB: needs pages the disk does not have
    assert seen and FULL in seen[-1]
    uncap(parts.storage._db)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("second")
    # The model got the prompt the chat really has (the default), not the one that was never saved.
    assert "Be brief." not in engine.received[-1][0]["content"]
    assert parts.storage.conversation(cid).system_prompt is None
