"""A long branch in the view: pages load both ways, at most MAX_LOADED bubbles exist, nothing jumps."""
from PySide6.QtCore import QCoreApplication, QEvent

from chatapp.engines.fake import FakeChatEngine
from chatapp.ui.conversation_view import MAX_LOADED


def fill(storage, n):
    conv = storage.create_conversation("long")
    for i in range(n):
        storage.add_message(conv.id, "user" if i % 2 == 0 else "assistant", f"message number {i} " + "word " * (i % 17))
    return conv.id


def settle(qtbot, view):
    qtbot.waitUntil(lambda: not view._pending, timeout=30000)
    for _ in range(3):
        qtbot.wait(1)


def test_scroll_to_the_top_and_back_keeps_few_bubbles_and_the_place(make_app, qtbot):
    parts = make_app(FakeChatEngine())
    s, w = parts.session, parts.window
    w.resize(1100, 700)
    cid = fill(s.storage, 400)
    branch = [m.id for m in s.storage.branch(cid)]
    s.open_conversation(cid)
    view, bar = w.view, w.view.verticalScrollBar()
    qtbot.waitUntil(lambda: view._settled and bar.maximum() > 0, timeout=30000)
    assert view.last_message_id() == branch[-1] and view.has_older
    most = 0
    for _ in range(200):                         # a user dragging the scrollbar to the top, again and again
        if not view.has_older:
            break
        top = view._message_widgets()[0]
        on_screen = top.y()                      # where it sits once scrolled to the top
        bar.setValue(0)
        settle(qtbot, view)
        most = max(most, len(view.widgets))
        # What the user was looking at did not move (older bubbles went on top of it).
        assert abs((top.y() - bar.value()) - on_screen) <= 2, "the view jumped while a page loaded"
    assert view.first_message_id() == branch[0]
    assert most <= MAX_LOADED and view.has_newer
    shown = [wd.message.id for wd in view._message_widgets()]
    assert shown == branch[:len(shown)]          # in branch order, no gaps
    for _ in range(200):                         # ...and back down to the newest message
        if not view.has_newer:
            break
        bar.setValue(bar.maximum())
        settle(qtbot, view)
        assert len(view.widgets) <= MAX_LOADED
    assert view.last_message_id() == branch[-1] and not view.has_newer
    shown = [wd.message.id for wd in view._message_widgets()]
    assert shown == branch[-len(shown):]


def test_sending_while_far_up_brings_back_the_end(make_app, qtbot):
    engine = FakeChatEngine(["the answer"])
    parts = make_app(engine)
    s, w = parts.session, parts.window
    cid = fill(s.storage, 400)
    s.open_conversation(cid)
    view, bar = w.view, w.view.verticalScrollBar()
    qtbot.waitUntil(lambda: view._settled and bar.maximum() > 0, timeout=30000)
    while not view.has_newer:
        bar.setValue(0)
        settle(qtbot, view)
    with qtbot.waitSignal(s.reply_finished, timeout=30000):
        w._submit("a new question")
    qtbot.waitUntil(lambda: "the answer" in [wd.message.content for wd in view._message_widgets()] or
                    "the answer" in view.text_of(view.last_message_id() or -1), timeout=30000)
    assert not view.has_newer
    assert s.storage.message(view.last_message_id()).content == "the answer"


def test_a_bubble_growing_above_the_one_read_does_not_move_it_between_layout_passes(make_app, qtbot):
    # A bubble above grows: the layout requests climb from the column to the scroll area one posted
    # event at a time, and a frame may be drawn between them (a busy machine interleaves them with
    # paints). After each pass the bubble the user reads must be where it was on screen.
    parts = make_app(FakeChatEngine())
    s, w = parts.session, parts.window
    w.resize(1100, 700)
    cid = fill(s.storage, 60)
    s.open_conversation(cid)
    view, bar = w.view, w.view.verticalScrollBar()
    qtbot.waitUntil(lambda: view._settled and bar.maximum() > 0, timeout=30000)
    shown = view._message_widgets()
    reading = shown[len(shown) // 2]
    bar.setValue(reading.y() - 10)
    settle(qtbot, view)
    view._hold_anchor()
    read = view._anchor[0]
    on_screen = read.y() - bar.value()
    above = view._message_widgets()[view._message_widgets().index(read) - 1]
    above.setMinimumHeight(above.height() + 51)
    moved = []
    for _ in range(4):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        moved.append(read.y() - bar.value() - on_screen)
    assert moved == [0, 0, 0, 0], f"the bubble read moved on screen by {moved} px pass after pass"
    assert read.y() > bar.value() + on_screen - 1 and above.height() >= above.minimumHeight()
