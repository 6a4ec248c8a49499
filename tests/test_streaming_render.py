"""A streaming reply re-renders only its unfinished last block; the finished reply is one label again."""
from chatapp.conversation import DONE, STREAMING, Message
from chatapp.ui.conversation_view import ConversationView
from chatapp.ui.markdown import StreamSplit
from chatapp.ui.message_widgets import CHUNK_CHARS

REPLY = ("Intro paragraph.\n\n1. one\n2. two\n\n```python\ndef f():\n\n    return 1\n```\n\n"
         "    indented code\n\nA paragraph.\n  still the same one\n\n- a\n\n  continued item\n\nLast words")


def test_split_points_are_block_starts_outside_fences_and_indents():
    split = StreamSplit()
    cut = split.feed(REPLY)
    assert REPLY[:cut].endswith("continued item\n\n") and REPLY[cut:] == "Last words"
    # Never inside the fence, never before an indented line.
    cuts = set()
    split = StreamSplit()
    for i in range(1, len(REPLY) + 1):
        cuts.add(split.feed(REPLY[:i]))
    assert REPLY.index("\n\n    return") + 2 not in cuts
    assert REPLY.index("    indented") not in cuts and REPLY.index("  continued") not in cuts
    assert REPLY.index("1. one") in cuts and REPLY.index("A paragraph") in cuts


def test_a_closing_fence_ends_a_block_without_a_blank_line():
    fences = "".join(f"```python\nx = {i}\n```\n" for i in range(5)) + "after"
    split = StreamSplit()
    assert fences[split.feed(fences):] == "after"
    assert StreamSplit().feed(fences[:12]) == 0   # inside the first fence: nothing settled
    assert StreamSplit().feed(fences[:21]) == 20   # the next block has begun: the first fence is settled


def test_piece_by_piece_and_all_at_once_agree():
    one = StreamSplit()
    many = StreamSplit()
    for i in range(0, len(REPLY), 3):
        many.feed(REPLY[:i + 3])
    assert one.feed(REPLY) == many.settled


def test_finished_blocks_are_laid_out_once_while_the_tail_streams(qtbot):
    view = ConversationView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    view.add_message(Message(id=1, conversation_id=1, role="assistant", content="", status=STREAMING))
    bubble = view.widgets[1]
    paragraphs = "".join(f"Paragraph {i} " + "with some words " * 20 + "\n\n" for i in range(30))
    reply = REPLY.replace("Last words", paragraphs + "Last words")
    once_full: dict[int, set] = {}   # label -> texts it showed once it held CHUNK_CHARS
    for i in range(1, len(reply) + 1, 5):
        bubble.set_text(reply[:i])
        for chunk in bubble._chunks:
            if len(chunk.wanted) >= CHUNK_CHARS:
                once_full.setdefault(id(chunk), set()).add(chunk.text())
    bubble.set_text(reply)
    assert len(bubble._chunks) >= 4 and len(once_full) >= 3
    assert all(len(seen) == 1 for seen in once_full.values())   # a full label is laid out once, never redone
    shown = view.text_of(1)
    for words in ("Intro paragraph", "two", "return", "indented code", "still the same one", "continued item",
                  "Paragraph 29", "Last words"):
        assert words in shown
    bubble.update_message(Message(id=1, conversation_id=1, role="assistant", content=reply, status=DONE))
    assert bubble.tail is None and not bubble._chunks and bubble.label.isVisibleTo(view)
    qtbot.waitUntil(lambda: "<ol>" in bubble.label.text(), timeout=30000)   # long: formatted on the thread pool
    assert "Last words" in view.text_of(1)


def test_thousands_of_brackets_are_shown_plain_without_parsing(monkeypatch):
    from chatapp.ui import markdown
    text = "[ " * 10_000 + "the end"
    monkeypatch.setattr(markdown._MD, "parse", lambda *a, **k: (_ for _ in ()).throw(AssertionError("parsed")))
    html, blocks = markdown.render(text, remember=False)
    assert "Shown as plain text" in html and "the end" in html and blocks == []
