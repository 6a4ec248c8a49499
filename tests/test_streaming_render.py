"""A streaming reply re-renders only its unfinished last block; the finished reply is one label again."""
from chatapp.conversation import DONE, STREAMING, Message
from chatapp.ui.conversation_view import ConversationView
from chatapp.ui.markdown import StreamSplit

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
    texts_seen: dict[int, set] = {}
    for i in range(1, len(REPLY) + 1):
        bubble.set_text(REPLY[:i])
        for chunk in bubble._chunks:
            texts_seen.setdefault(id(chunk), set()).add(chunk.text())
    assert len(bubble._chunks) >= 5
    assert all(len(seen) == 1 for seen in texts_seen.values())   # set once, never redone
    shown = view.text_of(1)
    for words in ("Intro paragraph", "two", "return", "indented code", "still the same one", "continued item",
                  "Last words"):
        assert words in shown
    bubble.update_message(Message(id=1, conversation_id=1, role="assistant", content=REPLY, status=DONE))
    assert bubble.tail is None and not bubble._chunks and bubble.label.isVisibleTo(view)
    assert "Last words" in view.text_of(1) and "<ol>" in bubble.label.text()
