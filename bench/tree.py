"""Trees: open a 2,000-message conversation with branches and switch between them, through the real window."""
from __future__ import annotations

import tempfile
import time

from .common import Row, median, qapp

N = 2_000
TRUNK = 200          # shared start, then BRANCHES edits of the message after it, each with a long continuation
BRANCHES = 4


def _fill(storage, n: int) -> tuple[int, list[int]]:
    """A conversation of n messages: a trunk, then BRANCHES sibling edits, each going on for the rest."""
    conv = storage.create_conversation("A tree of two thousand messages")
    text = ("Here is a **paragraph** with `code`, a [link](https://example.org) and some words to wrap "
            "across lines in the view. ") * 2
    db, now = storage._db, time.time()
    per_branch = (n - TRUNK) // BRANCHES
    firsts: list[int] = []
    with db:
        parent = None
        for i in range(TRUNK):
            parent = db.execute(
                "INSERT INTO messages(conversation_id, role, content, created_at, parent_id) VALUES (?,?,?,?,?)",
                (conv.id, "user" if i % 2 == 0 else "assistant", f"{i}: {text}", now + i, parent)).lastrowid
        fork = parent
        for b in range(BRANCHES):
            parent = fork
            for i in range(per_branch):
                parent = db.execute(
                    "INSERT INTO messages(conversation_id, role, content, created_at, parent_id) VALUES (?,?,?,?,?)",
                    (conv.id, "user" if i % 2 == 0 else "assistant", f"branch {b}, {i}: {text}", now + TRUNK + i,
                     parent)).lastrowid
                if i == 0:
                    firsts.append(parent)
        db.execute("UPDATE conversations SET current_leaf=? WHERE id=?", (storage.newest_leaf_under(firsts[0]), conv.id))
    return conv.id, firsts


def _shown(app, view, leaf: int) -> None:
    """Until the window shows the branch ending at leaf, laid out, at the bottom (GUI thread only: no workers run)."""
    bar = view.verticalScrollBar()
    while not (leaf in view.widgets and view._settled and bar.maximum() > 0 and bar.value() == bar.maximum()):
        app.processEvents()


def tree(n: int = N, repeats: int = 15) -> list[Row]:
    from chatapp.app import build
    from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
    from chatapp.session import OPEN_PAGE
    from chatapp.settings import Settings, resolve_paths
    app = qapp()
    parts = build(resolve_paths(tempfile.mkdtemp(prefix="chatapp-tree-")), Settings(),
                  llm_engine_factory=FakeChatEngine, image_engine_factory=FakeImageEngine, open_last=False)
    storage, session, view = parts.storage, parts.session, parts.window.view
    conv_id, firsts = _fill(storage, n)
    from .scale import _fill as fill_flat
    flat_id = fill_flat(storage, n)   # the reference: the same number of messages as one branch
    leaves = [storage.newest_leaf_under(f) for f in firsts]
    parts.window.resize(1180, 800)
    parts.window.show()
    app.processEvents()
    opens, switches, raw, flats, open_cpu, switch_cpu = [], [], [], [], [], []
    for r in range(repeats):
        session.new_conversation()
        app.processEvents()
        t = time.perf_counter()
        session.open_conversation(flat_id)
        _shown(app, view, storage.conversation(flat_id).current_leaf)
        flats.append(time.perf_counter() - t)
        session.new_conversation()
        app.processEvents()
        t, c = time.perf_counter(), time.process_time()
        session.open_conversation(conv_id)
        _shown(app, view, storage.conversation(conv_id).current_leaf)
        opens.append(time.perf_counter() - t)
        open_cpu.append(time.process_time() - c)
        # Next branch at the fork near the root: every message on the page changes.
        current = storage.conversation(conv_id).current_leaf
        b = leaves.index(current)
        step = 1 if b < BRANCHES - 1 else -(BRANCHES - 1)
        first = storage.message(firsts[b])
        t, c = time.perf_counter(), time.process_time()
        session.switch_branch(first, step)
        _shown(app, view, leaves[b + step])
        switches.append(time.perf_counter() - t)
        switch_cpu.append(time.process_time() - c)
        # SQLite alone: the recursive query for the same page of the branch.
        t = time.perf_counter()
        storage.branch(conv_id, leaves[b + step], limit=OPEN_PAGE)
        raw.append(time.perf_counter() - t)
    session.shutdown()
    o, s, f, q = (median(x) * 1000 for x in (opens, switches, flats, raw))
    # Reference: opening a flat conversation of the same size through the same window, same run
    # (the widgets for a page of messages dominate both; the tree should cost no more).
    return [Row(f"Open a {n:,}-message tree ({BRANCHES} branches, newest {OPEN_PAGE} shown)", o, "ms", f, o / f, "<= 100 ms",
                o <= 100, f"median of {repeats}; CPU {median(open_cpu) * 1000:.0f} ms; ref = a flat {n:,}-message chat; "
                f"the branch query alone {q:.1f} ms"),
            Row("Switch branch in it (fork near the root: the whole page changes)", s, "ms", f, s / f, "<= 100 ms",
                s <= 100, f"median of {repeats}; CPU {median(switch_cpu) * 1000:.0f} ms; session.switch_branch + layout")]


def _chatgpt_file(path, chats: int, per_chat: int) -> None:
    import json
    convs = []
    for c in range(chats):
        mapping, parent = {"root": {"id": "root", "message": None, "parent": None, "children": []}}, "root"
        for i in range(per_chat):
            key = f"{c}-{i}"
            mapping[key] = {"id": key, "parent": parent, "children": [], "message": {
                "id": key, "author": {"role": "user" if i % 2 == 0 else "assistant"}, "create_time": 1.7e9 + c * 100 + i,
                "content": {"content_type": "text", "parts": [f"message {i}: " + "some words of a reply " * 10]},
                "metadata": {}, "recipient": "all"}}
            parent = key
        convs.append({"title": f"chat {c}", "create_time": 1.7e9 + c * 100, "mapping": mapping, "current_node": parent,
                      "conversation_id": f"bench-{c}"})
    path.write_text(json.dumps(convs))


def import_speed(chats: int = 200, per_chat: int = 50) -> list[Row]:
    """Import a ChatGPT export (one transaction) against SQLite inserting the same rows, FTS triggers included."""
    from pathlib import Path

    from chatapp.storage import Storage
    from chatapp.store.ingest import import_file
    folder = Path(tempfile.mkdtemp(prefix="chatapp-import-"))
    _chatgpt_file(folder / "conversations.json", chats, per_chat)
    storage = Storage(folder / "a.sqlite3")
    t = time.perf_counter()
    summary = import_file(storage, folder / "conversations.json", folder / "images")
    took = time.perf_counter() - t
    raw_db = Storage(folder / "b.sqlite3")
    conv = raw_db.create_conversation("raw")
    rows = [(conv.id, "user", f"message {i}: " + "some words of a reply " * 10, 1.0) for i in range(chats * per_chat)]
    t = time.perf_counter()
    with raw_db._transaction():
        raw_db._db.executemany("INSERT INTO messages(conversation_id, role, content, created_at) VALUES (?,?,?,?)", rows)
    raw = time.perf_counter() - t
    return [Row(f"Import a ChatGPT export: {summary.messages:,} messages in {summary.conversations} chats", took, "s", raw,
                took / raw, "", None, "read + check + one transaction; raw = SQLite inserting the same rows")]
