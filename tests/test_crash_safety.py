"""SIGKILL the real app at random moments, 20 times: the database stays whole and nothing saved is lost."""
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chatapp.storage import Storage

ROOT = Path(__file__).resolve().parent.parent


def run_and_kill(data_dir: Path, seed: int, after: float) -> list[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "tests.crash_child", str(data_dir), str(seed)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    # The random moment is counted from the first save, not from start-up: on a slow, busy
    # machine start-up alone can take longer than `after`, and a kill before any save proves little.
    deadline = time.monotonic() + 120
    while not any(line.startswith("SAVED") for line in lines) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    reader.join(5)
    # The kill can cut the last line short: keep only whole lines.
    return [line.split() for line in lines if line.endswith("\n")]


@pytest.mark.parametrize("seed", range(20))
def test_kill_at_a_random_moment_loses_nothing(tmp_path, seed, qtbot):
    data = tmp_path / "data"
    rng = random.Random(seed)
    events = []
    for round_ in range(2):   # kill it, start it again on the same data, kill it again
        events += run_and_kill(data, seed * 10 + round_, rng.uniform(0.3, 1.5))
    deleted = {int(e[1]) for e in events if e[0] == "DELETED"}
    storage = Storage(data / "chatapp.sqlite3")
    assert storage.integrity_ok()
    # A deletion the kill interrupted (DELETING printed, DELETED not) may have happened or not,
    # but never by halves: the conversation is either whole or gone with every message.
    for cid in {int(e[1]) for e in events if e[0] == "DELETING"} - deleted:
        if storage.conversation(cid) is None:
            assert storage.count_messages(cid) == 0, f"conversation {cid} half deleted"
            deleted.add(cid)
    saved = [e for e in events if e[0] == "SAVED"]
    assert any(e[1] == "msg" for e in saved), "the child never got to save anything"
    for e in saved:
        if int(e[3] if e[1] != "title" else e[2]) in deleted:
            continue
        if e[1] == "msg":
            assert storage.message(int(e[2])) is not None, e
        elif e[1] == "final":
            m = storage.message(int(e[2]))
            assert m is not None and m.status == e[4] and len(m.content) == int(e[5]), (e, m)
    # Each conversation's title is its last confirmed rename, or a rename after it that the kill
    # interrupted (RENAMING printed, its SAVED not).
    allowed: dict[int, set[str]] = {}
    for e in events:
        if e[0] == "RENAMING" and len(e) == 4:
            allowed.setdefault(int(e[1]), {e[3]}).add(e[2])
        elif e[0] == "SAVED" and e[1] == "title":
            allowed[int(e[2])] = {e[3]}
    for cid, titles in allowed.items():
        if cid not in deleted:
            assert storage.conversation(cid).title.replace(" ", "_") in titles, (cid, titles)
    # The tree is whole: every parent exists in the same conversation, every shown leaf exists.
    db = storage._db
    assert db.execute("SELECT COUNT(*) FROM messages m WHERE m.parent_id IS NOT NULL AND NOT EXISTS "
                      "(SELECT 1 FROM messages p WHERE p.id = m.parent_id AND p.conversation_id = m.conversation_id)"
                      ).fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM conversations c WHERE c.current_leaf IS NOT NULL AND NOT EXISTS "
                      "(SELECT 1 FROM messages m WHERE m.id = c.current_leaf AND m.conversation_id = c.id)"
                      ).fetchone()[0] == 0
    storage.close()
    # ...and the app starts again and shows the newest conversation.
    from chatapp.app import build
    from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
    from chatapp.settings import Settings, resolve_paths
    parts = build(resolve_paths(str(data)), Settings(), llm_engine_factory=FakeChatEngine,
                  image_engine_factory=FakeImageEngine)
    qtbot.addWidget(parts.window)
    try:
        newest = parts.storage.conversations()[0]
        assert parts.session.current.id == newest.id
        shown = set(parts.window.view.widgets)
        from chatapp.session import OPEN_PAGE
        expected = {m.id for m in parts.storage.branch(newest.id, limit=OPEN_PAGE)}
        assert shown == expected
        assert all(m.status not in ("streaming", "rendering", "queued")
                   for m in parts.storage.messages(newest.id))
    finally:
        parts.session.shutdown()
        parts.storage.close()
