"""Rendering, third round (issue 28 items 3 and 4): opening a chat costs what is on screen, and every
character of a reply is visible however deep its lists and quotes are nested."""
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument, QTextOption

from chatapp.engines.fake import FakeChatEngine
from chatapp.ui import markdown
from chatapp.ui.bubble_base import DISPLAY_LINES, slices
from chatapp.ui.message_widgets import PREVIEW_CHARS, TextBubble

from .test_hardening_view import HOSTILE, nested, table


def quotes(depth):
    return "".join("> " * depth + f"quoted line {i} of {depth}\n" for i in range(3)) + "\nAfter the quotes.\n"


def quoted_list(depth):   # one of my own: a deep list inside deep quotes
    return "".join("> " * 12 + "  " * i + f"- item {i}\n" for i in range(depth))


def settle(qtbot, view):
    qtbot.waitUntil(lambda: not slices().busy() and not view._pending
                    and not any(getattr(b, "_rendering", False) for b in view.widgets.values()), timeout=60000)


# --- item 4: text that is not shown -----------------------------------------------------------
def invisible_text(label) -> list[str]:
    """The text of the label's blocks that its layout puts outside the label or gives no room."""
    doc = QTextDocument()
    doc.setDefaultFont(label.font())
    doc.setDocumentMargin(0)
    option = doc.defaultTextOption()
    option.setWrapMode(QTextOption.WrapMode.WordWrap)     # as QLabel lays out word-wrapped rich text
    doc.setDefaultTextOption(option)
    doc.setHtml(label.text())
    width = label.contentsRect().width()
    doc.setTextWidth(width)
    doc.documentLayout()       # lays it out
    lost = []
    block = doc.begin()
    while block.isValid():
        text, layout = block.text(), block.layout()
        laid = sum(layout.lineAt(i).textLength() for i in range(layout.lineCount()))
        for i in range(layout.lineCount()):
            line = layout.lineAt(i)
            left = layout.position().x() + line.x()
            piece = text[line.textStart():line.textStart() + line.textLength()]
            if piece.strip() and (left < 0 or left + line.naturalTextWidth() > width + 1 or line.width() <= 0):
                lost.append(piece)
        if text.strip() and laid < len(text):
            lost.append(text[laid:])
        block = block.next()
    return lost


LONG_LINE_CODE = "```python\nx = '" + "0123456789" * 30 + "'\n```\n"
URL = "See https://example.org/" + "a" * 150 + " for more.\n"


@pytest.mark.parametrize("window_width", [1180, 800])
@pytest.mark.parametrize("text", [nested(18), nested(25), quotes(20), quotes(30), quoted_list(16), "z" * 5000 + " tail",
                                  LONG_LINE_CODE, URL],
                         ids=["list18", "list25", "quotes20", "quotes30", "list-in-quotes", "long-run", "code-line", "url"])
def test_every_character_of_deep_nesting_is_visible(make_app, qtbot, window_width, text):
    parts = make_app(FakeChatEngine([text], token_delay=0.0002))
    s, w = parts.session, parts.window
    w.resize(window_width, 800)
    with qtbot.waitSignal(s.reply_finished, timeout=60000):
        s.submit("nest")
    reply = parts.storage.messages(s.current.id)[-1]
    conv = s.current.id
    s.new_conversation()
    s.open_conversation(conv)
    settle(qtbot, w.view)
    label = w.view.widgets[reply.id].label
    assert w.view.widgets[reply.id].shown_html() and label.contentsRect().width() > 100
    assert invisible_text(label) == []
    shown = QTextDocument()
    shown.setHtml(label.text())
    for line in text.splitlines():   # ...and nothing was dropped on the way
        words = line.lstrip("> -`").strip()
        assert words in shown.toPlainText().replace("\u200b", "")


def test_indents_are_capped_not_summed():
    lists, _ = markdown.render(nested(25))
    quoted, _ = markdown.render(quotes(30))
    assert "Shown as plain text" not in lists + quoted          # still formatted, just not indented further
    assert lists.count(f"-qt-list-indent: {markdown.LIST_LEVELS_SHOWN}") == 25 - markdown.LIST_LEVELS_SHOWN
    assert quoted.count("margin-left: 0px") == 30 - markdown.QUOTE_LEVELS_SHOWN


# --- item 3: many hostile replies at once ---------------------------------------------------------
def hostile_chat(storage, replies):
    conv = storage.create_conversation("hostile")
    for i, text in enumerate(replies):
        storage.add_message(conv.id, "user", f"question {i}")
        storage.add_message(conv.id, "assistant", text)
    return conv.id


AS_FOUND = (list(HOSTILE.values()) * 4)[:15]                              # 15 hostile replies
OWN = ([table(40, 30), nested(40), "y " * 9000, quotes(30)] * 4)[:15]         # mine: other kinds, tall and short


@pytest.mark.parametrize("replies", [AS_FOUND, OWN], ids=["15-as-found", "15-mine"])
def test_reopening_a_chat_of_hostile_replies_lays_out_only_what_is_near_the_screen(make_app, qtbot, replies):
    parts = make_app(FakeChatEngine())
    s, view = parts.session, parts.window.view
    parts.window.resize(1180, 800)
    conv = hostile_chat(parts.storage, replies)
    for _ in range(2):                      # the first open renders; the second uses the cache
        s.new_conversation()
        s.open_conversation(conv)
        settle(qtbot, view)
        bubbles = [b for b in view._message_widgets() if isinstance(b, TextBubble)]
        assert len(bubbles) == 30 and view.realized_count <= 6
        assert not bubbles[-1].deferred and bubbles[0].deferred            # the newest shown whole, the oldest not
        assert len(bubbles[0].label.text()) < PREVIEW_CHARS + 50
    # Scrolling to the top gives the bubbles there their whole text, and still only those near the screen.
    before = view.realized_count
    view.verticalScrollBar().setValue(0)
    settle(qtbot, view)
    bubbles = [b for b in view._message_widgets() if isinstance(b, TextBubble)]
    assert not bubbles[0].deferred and before < view.realized_count <= before + 8, (before, view.realized_count)
    assert sum(b.deferred for b in bubbles) >= 30 - 14


def test_rendered_results_are_shown_in_slices_not_all_in_one_frame(make_app, qtbot):
    from chatapp.ui.markdown_label import MarkdownLabel, _background
    make_app(FakeChatEngine())
    labels = [MarkdownLabel() for _ in range(3)]
    renderer = _background()
    for i, label in enumerate(labels):
        qtbot.addWidget(label)
        text = f"**long {i}** " + "word " * 1000
        label.wanted, label.rendering = text, True
        renderer._asked[10_000 + i] = (__import__("weakref").ref(label), text)
        renderer._done(10_000 + i, (f"<b>done {i}</b>", []), None)
    # Coming back from the pool is not showing: that waits for the shared GUI slices.
    assert slices().busy() and not any("done" in label.text() for label in labels)
    qtbot.waitUntil(lambda: all(f"done {i}" in label.text() for i, label in enumerate(labels)), timeout=10000)


def test_start_up_with_a_hostile_chat_open_last_defers_it_until_shown(qtbot, data_dir):
    from chatapp.app import build
    from chatapp.engines.fake import FakeImageEngine
    from chatapp.settings import Settings, resolve_paths
    from chatapp.storage import Storage
    paths = resolve_paths(str(data_dir))
    first = Storage(paths.database)
    hostile_chat(first, AS_FOUND)
    first.close()
    parts = build(paths, Settings(), llm_engine_factory=FakeChatEngine, image_engine_factory=FakeImageEngine)
    qtbot.addWidget(parts.window)
    try:
        view = parts.window.view
        bubbles = [b for b in view.widgets.values() if isinstance(b, TextBubble)]
        assert len(bubbles) == 30 and all(b.deferred for b in bubbles)      # built, nothing laid out yet
        parts.window.resize(1180, 800)
        parts.window.show()
        settle(qtbot, view)
        assert 1 <= view.realized_count <= 6
    finally:
        parts.session.shutdown()
        parts.storage.close()


@pytest.mark.parametrize("lines", [100_000, 5_000], ids=["100k-as-found", "5k-longer-lines"])
def test_a_paste_of_many_short_lines_shows_a_bounded_part_and_says_so(make_app, qtbot, lines):
    parts = make_app(FakeChatEngine(["ok"]))
    s, view = parts.session, parts.window.view
    text = "\n".join(f"line {i} " + "ab " * (i % 7 if lines < 10_000 else 0) for i in range(lines))
    with qtbot.waitSignal(s.reply_finished, timeout=60000):
        s.submit(text)
    conv = s.current.id
    s.new_conversation()
    s.open_conversation(conv)
    settle(qtbot, view)
    user = parts.storage.messages(conv)[0]
    assert user.content == text                                   # all of it kept
    bubble = view.widgets[user.id]
    doc = QTextDocument()
    doc.setHtml(bubble.shown_html())
    assert doc.toPlainText().count("\u2028") + doc.blockCount() <= DISPLAY_LINES + 1
    assert f"{lines - DISPLAY_LINES:,} more lines not shown" in bubble.footer.text()
    # Its width comes from its text, not from QLabel laying the whole text out to find it.
    assert 0 < bubble.label.hint_width and bubble.label.sizeHint().width() == bubble.label.hint_width


@pytest.mark.parametrize("lines", [100_000, 30_000])
def test_a_big_paste_goes_in_by_slices_as_one_undo_step_and_enter_waits_for_it(make_app, qtbot, lines):
    """Issue 28 item 3: 100,000 short lines pasted held the window ~0.6 s in one call. Now no event-loop
    turn inserts more than one slice; Enter meanwhile sends nothing; one Undo takes the paste away."""
    from PySide6.QtCore import QMimeData

    from chatapp.ui.composer import PASTE_SLICE
    parts = make_app()
    editor = parts.window.composer.editor
    editor.insertPlainText("Summarise this: ")
    text = "\n".join(f"line {i}" for i in range(lines))
    mime = QMimeData()
    mime.setText(text)
    editor.insertFromMimeData(mime)
    assert editor.pasting and len(editor.toPlainText()) <= len("Summarise this: ") + PASTE_SLICE
    sent = []
    parts.window.composer.submitted.connect(sent.append)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert sent == []                                   # half a paste is never sent
    qtbot.waitUntil(lambda: not editor.pasting, timeout=30000)
    assert editor.toPlainText() == "Summarise this: " + text and not editor.isReadOnly()
    assert editor.textCursor().position() == len("Summarise this: " + text)
    editor.undo()
    assert editor.toPlainText() == "Summarise this: "


def test_a_view_closed_right_after_a_chat_opened_leaves_no_timer_behind(qtbot):
    """Its settle and page-building timers have the view as context: none fires into a deleted view."""
    from PySide6.QtCore import QCoreApplication, QEvent

    from chatapp.conversation import Message
    from chatapp.ui.conversation_view import ConversationView
    view = ConversationView()
    view.set_messages([Message(n, 1, "user" if n % 2 else "assistant", f"message {n}") for n in range(1, 40)],
                      has_older=True)
    view.prepend_messages([Message(n, 1, "user", f"older {n}") for n in range(100, 140)], has_older=False)
    view.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qtbot.wait(1)   # one turn of the event loop: where the timers would fire (pytest-qt fails on their errors)
