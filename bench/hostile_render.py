"""Hostile model output and pastes: the event loop's longest stall and p99 while they stream in,
when their conversation is reopened, and for a 200,000-character paste without spaces.

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
    parts = build(resolve_paths(tempfile.mkdtemp(prefix="chatapp-hostile-")), Settings(),
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
            wait_until(lambda: done and not s._replies, timeout=600)
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
    finally:
        s.shutdown()
        parts.storage.close()
    return rows


def _paste_row(w, app) -> Row:
    """A 200,000-character paste with no spaces, then typing after it."""
    from PySide6.QtCore import QMimeData
    from PySide6.QtWidgets import QPlainTextEdit
    text = "x" * 200_000
    probe = LoopProbe()
    probe.start()
    mime = QMimeData()
    mime.setText(text)
    w.composer.editor.insertFromMimeData(mime)
    for _ in range(5):
        w.composer.editor.insertPlainText("y")
        app.processEvents()
    probe.stop()
    longest, p99 = probe.summary_ms()
    w.composer.clear()
    raw_edit = QPlainTextEdit()
    raw_edit.resize(800, 100)
    raw_edit.show()
    t = time.perf_counter()
    raw_edit.insertPlainText(text)
    app.processEvents()
    raw = (time.perf_counter() - t) * 1000
    raw_edit.close()
    return Row("200,000-character paste without spaces, then 5 keys: longest stall", longest, "ms", raw,
               round(longest / raw, 3) if raw else None, f"<= {BAR_MS} ms", longest <= BAR_MS,
               f"p99 {p99:.1f} ms; GUI-thread CPU {probe.cpu_ms():.0f} ms; reference: the paste alone into a plain QPlainTextEdit")
