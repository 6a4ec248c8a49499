"""Hostile model output and pastes (issue 15): layout stays bounded, and everything written stays visible."""
import pytest
from PySide6.QtCore import QMimeData
from PySide6.QtGui import QTextOption

from chatapp.engines.fake import FakeChatEngine
from chatapp.ui import markdown
from chatapp.ui.message_widgets import clipped


def table(cols, rows):
    return ("| " + " | ".join(f"c{i}" for i in range(cols)) + " |\n" + "|" + "---|" * cols + "\n" +
            "".join("| " + " | ".join(f"r{r}" for _ in range(cols)) + " |\n" for r in range(rows)))


def nested(depth):
    return "".join("  " * i + f"- level {i}\n" for i in range(depth)) + "\nThe last words after the list.\n"


HOSTILE = {
    "wide table": table(300, 8),        # 16 KB, as found
    "many code fences": "".join(f"```python\nx = {i}\n```\n" for i in range(2000)),
    "deep list": nested(40),
    "long run": "x" * 5000 + " tail",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_markdown_falls_back_to_plain_text_with_everything_in_it(name):
    text = HOSTILE[name]
    html, _ = markdown.render(text)
    assert "Shown as plain text" in html
    assert html.count("<td") < markdown.LAYOUT_BUDGET and "<li" not in html
    last_line = text.strip().splitlines()[-1]
    assert last_line.replace("`", "").strip() in html.replace("&quot;", '"')


@pytest.mark.parametrize("depth", [10, 12, 20])
def test_lists_nested_ten_and_more_levels_lose_nothing(depth):
    html, _ = markdown.render(nested(depth))
    assert f"level {depth - 1}" in html and "The last words after the list." in html


def test_ordinary_markdown_is_still_formatted():
    html, blocks = markdown.render(table(6, 10) + "\n```python\nprint('hi')\n```\n\n- a\n  - b\n")
    assert "<table" in html and "<li>" in html and blocks == ["print('hi')"] and "plain text" not in html


def test_finished_renders_are_cached_and_streaming_ones_are_not():
    text = "some **text** that is unique 9f2c"
    first = markdown.render(text)
    assert markdown.cached(text) is first and markdown.render(text) is first
    markdown.render(text + " more", remember=False)
    assert markdown.cached(text + " more") is None


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_reply_streams_and_reopens_with_all_of_it_visible(make_app, qtbot, name):
    text = HOSTILE[name]
    parts = make_app(FakeChatEngine([text], token_delay=0.0002))
    s, view = parts.session, parts.window.view
    with qtbot.waitSignal(s.reply_finished, timeout=120000):
        s.submit("go")
    reply = parts.storage.messages(s.current.id)[-1]
    assert reply.content == text
    shown, _more = clipped(text)        # past 20,000 characters the bubble says how much more was kept
    tail = shown.strip().splitlines()[-2 if _more else -1].replace("`", "").strip()
    qtbot.waitUntil(lambda: tail in view.text_of(reply.id) and not view.widgets[reply.id]._rendering, timeout=30000)
    conv = s.current.id
    s.new_conversation()
    s.open_conversation(conv)
    qtbot.waitUntil(lambda: reply.id in view.widgets and tail in view.text_of(reply.id), timeout=30000)
    # Long texts render on the thread pool: the bubble is readable at once, its note comes with the render.
    qtbot.waitUntil(lambda: "Shown as plain text" in view.text_of(reply.id), timeout=30000)


def test_a_long_paste_without_spaces_wraps_anywhere(make_app, qtbot):
    parts = make_app(FakeChatEngine(["ok"]))
    editor = parts.window.composer.editor
    assert editor.wordWrapMode() == QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere
    mime = QMimeData()
    mime.setText("y" * 200_000)
    editor.insertFromMimeData(mime)
    # Word-boundary wrapping of one 200,000-character run took 1.4 s, and again on every key.
    assert editor.wordWrapMode() == QTextOption.WrapMode.WrapAnywhere
    qtbot.waitUntil(lambda: not editor.pasting, timeout=30000)   # a big paste goes in by slices
    assert editor.toPlainText() == "y" * 200_000
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.window._submit(editor.toPlainText())
    assert parts.storage.messages(parts.session.current.id)[0].content == "y" * 200_000
    assert editor.wordWrapMode() == QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere   # cleared: words again
