"""Scale: open a conversation of 10,000 messages, then scroll back through it."""
from __future__ import annotations

import tempfile
import time

from .common import LoopProbe, Row, qapp, rss_mb, wait_until

N = 10_000


def _fill(storage, n):
    conv = storage.create_conversation("Ten thousand messages")
    text = ("Here is a **paragraph** with `code`, a [link](https://example.org) and some words to wrap "
            "across lines in the view. ") * 2
    now = time.time()
    rows = [(conv.id, "user" if i % 2 == 0 else "assistant", "text", f"{i}: {text}", "done", None, "{}", now + i)
            for i in range(n)]
    with storage._db:
        storage._db.executemany("INSERT INTO messages(conversation_id, role, kind, content, status, image_path,"
                                " meta, created_at) VALUES (?,?,?,?,?,?,?,?)", rows)
        # One branch, as chatapp writes it: each message's parent is the one before.
        storage._db.execute("UPDATE messages SET parent_id = (SELECT MAX(p.id) FROM messages p WHERE "
                            "p.conversation_id = messages.conversation_id AND p.id < messages.id) WHERE conversation_id=?",
                            (conv.id,))
        storage._db.execute("UPDATE conversations SET current_leaf = (SELECT MAX(id) FROM messages WHERE "
                            "conversation_id=?) WHERE id=?", (conv.id, conv.id))
    return conv.id


def scale(n: int = N) -> list[Row]:
    from chatapp.app import build
    from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
    from chatapp.settings import Settings, resolve_paths
    app = qapp()
    parts = build(resolve_paths(tempfile.mkdtemp(prefix="chatapp-scale-")), Settings(),
                  llm_engine_factory=FakeChatEngine, image_engine_factory=FakeImageEngine, open_last=False)
    conv_id = _fill(parts.storage, n)
    w = parts.window
    w.resize(1180, 800)
    w.show()
    app.processEvents()
    before = rss_mb()
    t0, cpu0 = time.perf_counter(), time.thread_time()
    parts.session.open_conversation(conv_id)   # the page a user gets (session.OPEN_PAGE)
    view = w.view
    # "Shows its last page": the widgets are laid out and the view sits at the bottom.
    wait_until(lambda: view.verticalScrollBar().maximum() > 0 and
               view.verticalScrollBar().value() == view.verticalScrollBar().maximum())
    app.processEvents()
    opened, opened_cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    used = rss_mb() - before
    probe = LoopProbe()
    probe.start()
    bar = view.verticalScrollBar()
    end = time.monotonic() + 6
    while time.monotonic() < end:   # a user dragging the scrollbar up, page after page
        bar.setValue(max(0, bar.value() - 300))
        t = time.perf_counter()
        while time.perf_counter() - t < 0.016:
            app.processEvents()
    probe.stop()
    longest, p99 = probe.summary_ms()
    loaded = len(view.widgets)
    parts.session.shutdown()
    return [Row(f"Open a {n:,}-message conversation (last page shown)", opened * 1000, "ms", None, None,
                "<= 300 ms", opened <= 0.3, f"GUI-thread CPU {opened_cpu * 1000:.0f} ms; {used:.0f} MB more resident"),
            Row("Scrolling back through it: longest stall", longest, "ms", None, None, "<= 50 ms", longest <= 50,
                f"p99 {p99:.1f} ms; GUI-thread CPU in the longest gap {probe.cpu_ms():.0f} ms; "
                f"{loaded} messages loaded after 6 s of scrolling")]
