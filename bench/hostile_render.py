"""Hostile model output and pastes: the event loop's longest stall and p99 while they stream in,
when their conversation is reopened, and for a 200,000-character paste without spaces; and many at
once (issue 28): reopening a chat of 15 hostile replies, deep nesting, 100,000 short lines.

The reference column is the raw libraries doing what the view did before its budget: markdown-it
+ Pygments to HTML and a Qt rich-text label laying it out, on the GUI thread, same payload, same
run. "GUI-thread CPU" is that thread's own CPU time in the longest gap: on a machine shared with
other jobs, a wall-clock gap also counts time spent waiting for a core.
"""
from __future__ import annotations

import tempfile
import time

from .common import LoopProbe, Row, qapp, wait_until

BAR_MS = 100


def payloads(quick: bool) -> dict[str, str]:
    rows = 4 if quick else 8   # 300 x 8: the 16 KB table the outside test found
    table = ("| " + " | ".join(f"c{i}" for i in range(300)) + " |\n" + "|" + "---|" * 300 + "\n" +
             "".join("| " + " | ".join(str(r) for _ in range(300)) + " |\n" for r in range(rows)))
    fences = "".join(f"```python\nx = {i}\n```\n" for i in range(300 if quick else 2000))
    nested = "".join("  " * i + f"- level {i}\n" for i in range(40)) + "\nEverything after the list.\n"
    brackets = "[ " * (2000 if quick else 10000)
    return {"300-column table": table, "code fences": fences, "40-level list": nested, "brackets": brackets}


def _raw_stall_ms(text: str) -> float:
    """The raw libraries on the GUI thread, as the view used them before its budget: markdown-it
    with Pygments code blocks straight to HTML, then a QLabel lays it out."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    from chatapp.ui import markdown
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    t = time.perf_counter()
    label.setText(markdown._MD.render(text[:20_000], {}).replace("<table>", markdown.TABLE_OPEN))
    label.resize(740, 400)
    label.show()
    label.heightForWidth(740)
    qapp().processEvents()
    label.close()
    return (time.perf_counter() - t) * 1000


def hostile_render(quick: bool = False) -> list[Row]:
    from chatapp.app import build
    from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
    from chatapp.settings import Settings, resolve_paths
    app = qapp()
    texts = payloads(quick)
    chat = FakeChatEngine(list(texts.values()), token_delay=0.0005)
    paths = resolve_paths(tempfile.mkdtemp(prefix="chatapp-hostile-"))
    parts = build(paths, Settings(),
                  llm_engine_factory=lambda: chat, image_engine_factory=FakeImageEngine, open_last=False)
    w, s = parts.window, parts.session
    w.resize(1180, 800)
    w.show()
    s.load_models()
    wait_until(lambda: s.llm_status == "ready")
    rows = []
    done = []
    s.reply_finished.connect(done.append)
    try:
        for name, text in texts.items():
            s.new_conversation()
            probe = LoopProbe()
            probe.start()
            s.submit(f"show me {name}")
            wait_until(lambda: done and not s.replies.active, timeout=600)
            done.clear()
            conv = s.current.id
            view_settled = lambda: all(not getattr(b, "_rendering", False) for b in w.view.widgets.values())  # noqa: E731
            wait_until(view_settled)
            s.new_conversation()
            app.processEvents()
            s.open_conversation(conv)        # reopen: the cached render, laid out again
            wait_until(view_settled)
            for _ in range(20):
                app.processEvents()
            probe.stop()
            longest, p99 = probe.summary_ms()
            raw = _raw_stall_ms(text)
            rows.append(Row(f"Hostile reply ({name}, {len(text) // 1000} KB): longest stall, streamed + reopened",
                            longest, "ms", raw, round(longest / raw, 3) if raw else None, f"<= {BAR_MS} ms",
                            longest <= BAR_MS, f"p99 {p99:.1f} ms; GUI-thread CPU {probe.cpu_ms():.0f} ms; reference: one raw render on the GUI thread"))
        rows.append(_paste_row(w, app))
        rows.append(_lines_paste_row(w, app))
        rows += _many_at_once_rows(w, s, parts.storage, app, quick)
        rows.append(_start_up_row(paths, parts.storage, app))
    finally:
        s.shutdown()
        parts.storage.close()
    return rows


def _paste_row(w, app) -> Row:
    """A 200,000-character paste with no spaces, then typing after it."""
    from PySide6.QtCore import QMimeData
    text = "x" * 200_000
    probe = LoopProbe()
    probe.start()
    mime = QMimeData()
    mime.setText(text)
    w.composer.editor.insertFromMimeData(mime)
    wait_until(lambda: not w.composer.editor.pasting)   # a big paste goes in over a few event-loop turns
    for _ in range(5):
        w.composer.editor.insertPlainText("y")
        app.processEvents()
    probe.stop()
    longest, p99 = probe.summary_ms()
    w.composer.clear()
    raw = _raw_paste_ms(app, mime)
    return Row("200,000-character paste without spaces, then 5 keys: longest stall", longest, "ms", raw,
               round(longest / raw, 3) if raw else None, f"<= {BAR_MS} ms", longest <= BAR_MS,
               f"p99 {p99:.1f} ms; GUI-thread CPU {probe.cpu_ms():.0f} ms; reference: the paste alone into a plain QPlainTextEdit")


def _raw_paste_ms(app, mime) -> float:
    """The reference: the same paste into a plain QPlainTextEdit, in one call."""
    from PySide6.QtWidgets import QPlainTextEdit
    raw_edit = QPlainTextEdit()
    raw_edit.resize(800, 100)
    raw_edit.show()
    t = time.perf_counter()
    raw_edit.insertFromMimeData(mime)
    app.processEvents()
    raw = (time.perf_counter() - t) * 1000
    raw_edit.close()
    return raw


def _lines_paste_row(w, app) -> Row:
    """100,000 short lines pasted into the message box (issue 28 item 3), then sent as a user would."""
    from PySide6.QtCore import QMimeData
    text = "\n".join(f"line {i}" for i in range(100_000))
    probe = LoopProbe()
    probe.start()
    mime = QMimeData()
    mime.setText(text)
    w.composer.editor.insertFromMimeData(mime)
    wait_until(lambda: not w.composer.editor.pasting)
    sent = []
    w.composer.submitted.connect(sent.append)
    w.composer._send()                     # Enter: saved, shown as the user's bubble, the box cleared
    wait_until(lambda: sent and not w.composer.editor.toPlainText())
    for _ in range(20):
        app.processEvents()
    probe.stop()
    longest, p99 = probe.summary_ms()
    w.composer.submitted.disconnect(sent.append)
    raw = _raw_paste_ms(app, mime)
    return Row("Paste of 100,000 short lines, then send: longest stall", longest, "ms", raw,
               round(longest / raw, 3) if raw else None, f"<= {BAR_MS} ms", longest <= BAR_MS,
               f"p99 {p99:.1f} ms; GUI-thread CPU {probe.cpu_ms():.0f} ms; reference: the paste alone into a plain "
               "QPlainTextEdit in one call")


HOSTILE_CHAT = "a chat of 15 hostile replies"


def _deep_nesting() -> str:
    lists = "".join("  " * i + f"- level {i}\n" for i in range(25))
    quotes = "".join("> " * 30 + f"quoted line {i}\n" for i in range(3))
    return lists + "\n" + quotes + "\nAfter the quotes.\n"


def _timed_open(s, app, conv: int, settled) -> tuple[float, float, float]:
    """Open conv from a running event loop (a probe tick comes first) until the view settles."""
    from PySide6.QtCore import QTimer
    s.new_conversation()
    app.processEvents()
    probe = LoopProbe()
    probe.start()
    QTimer.singleShot(20, lambda: s.open_conversation(conv))
    wait_until(lambda: s.current is not None and s.current.id == conv and settled())
    for _ in range(10):
        app.processEvents()
    probe.stop()
    return (*probe.summary_ms(), probe.cpu_ms())


def _undeferred_open(s, app, conv: int, settled) -> float:
    """The same reopen with every bubble given its whole text at once, as the view did before
    issue 28 (the renders coming back from the pool still go through the slices)."""
    from chatapp.ui.conversation_view import ConversationView
    add = ConversationView.add_message
    ConversationView.add_message = lambda self, m, scroll=True, deferred=False: add(self, m, scroll, False)
    try:
        return _timed_open(s, app, conv, settled)[0]
    finally:
        ConversationView.add_message = add


def _many_at_once_rows(w, s, storage, app, quick: bool) -> list[Row]:
    """Issue 28 items 3 and 4: a chat of 15 hostile replies reopened (the second time from the render
    cache), deep nesting at 800 px, and a paste of 100,000 short lines reopened."""
    from chatapp.ui.bubble_base import slices
    view = w.view

    def settled():
        return not slices().busy() and not view._pending and \
            not any(getattr(b, "_rendering", False) for b in view.widgets.values())
    hostile = (list(payloads(quick).values()) * 4)[:15]
    cases = [(HOSTILE_CHAT, hostile, 1180),
             ("deep nesting (25-level list, 30 nested quotes) x 15", [_deep_nesting()] * 15, 800),
             ("a paste of 100,000 short lines", None, 1180)]
    rows = []
    for name, replies, width in cases:
        w.resize(width, 800)
        conv = storage.create_conversation(name)
        if replies is None:
            lines = "\n".join(f"line {i}" for i in range(100_000))
            storage.add_message(conv.id, "user", lines)
            storage.add_message(conv.id, "assistant", "ok")
        else:
            for i, text in enumerate(replies):
                storage.add_message(conv.id, "user", f"question {i}")
                storage.add_message(conv.id, "assistant", text)
        first = _timed_open(s, app, conv.id, settled)
        again = _timed_open(s, app, conv.id, settled)
        whole, made = view.realized_count, len(view.widgets)
        longest = max(first[0], again[0])
        raw = _undeferred_open(s, app, conv.id, settled)
        rows.append(Row(f"Reopen {name}: longest stall (first open, then cached)", longest, "ms", raw,
                        round(longest / raw, 3) if raw else None, f"<= {BAR_MS} ms", longest <= BAR_MS,
                        f"{first[0]:.0f} / {again[0]:.0f} ms; p99 {max(first[1], again[1]):.1f} ms; GUI-thread CPU "
                        f"{max(first[2], again[2]):.0f} ms; {whole} of {made} bubbles laid out "
                        f"whole at {width} px; reference: the same reopen (cached) with every bubble given its whole text at once, as before"))
    w.resize(1180, 800)
    return rows


def _start_up_row(paths, storage, app) -> Row:
    """Start-up with the chat of 15 hostile replies open last: from showing the window until the
    view settles (building the window itself is the "startup" bench's business)."""
    from PySide6.QtCore import QTimer

    from chatapp.app import build
    from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
    from chatapp.settings import Settings
    from chatapp.ui.bubble_base import slices
    conv = next(c for c in storage.conversations() if c.title == HOSTILE_CHAT)
    storage.touch(conv.id)       # the chat open last
    rows = []
    for undeferred in (False, True):
        from chatapp.ui.conversation_view import ConversationView
        add = ConversationView.add_message
        if undeferred:   # the reference: every bubble given its whole text at once, as before
            ConversationView.add_message = lambda self, m, scroll=True, deferred=False: add(self, m, scroll, False)
        try:
            parts = build(paths, Settings(), llm_engine_factory=FakeChatEngine, image_engine_factory=FakeImageEngine)
        finally:
            ConversationView.add_message = add
        view = parts.window.view
        parts.window.resize(1180, 800)
        probe = LoopProbe()
        probe.start()
        QTimer.singleShot(20, parts.window.show)
        wait_until(lambda: view.isVisible() and not slices().busy() and not view._pending and
                   not any(getattr(b, "_rendering", False) for b in view.widgets.values()))
        for _ in range(10):
            app.processEvents()
        probe.stop()
        rows.append((*probe.summary_ms(), probe.cpu_ms()))
        parts.session.shutdown()
        parts.window.close()
        parts.storage.close()
    (longest, p99, cpu), (raw, _, _) = rows
    return Row("Start-up with a chat of 15 hostile replies open last: longest stall once the window shows", longest,
               "ms", raw, round(longest / raw, 3) if raw else None, f"<= {BAR_MS} ms", longest <= BAR_MS,
               f"p99 {p99:.1f} ms; GUI-thread CPU {cpu:.0f} ms; reference: the same start-up with every bubble "
               "given its whole text at once, as before")
