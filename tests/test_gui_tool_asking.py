"""Issue 23: a tool that asks first (an MCP server's, or the built-ins with the setting on): the card asks Allow once /
Always for this tool / Deny, the model reads a denial, Always is saved, Stop cancels a call that asks."""
import pytest
from PySide6.QtCore import Qt

from chatapp.conversation import DONE
from chatapp.engines.fake import FakeChatEngine
from chatapp.settings import load_settings
from chatapp.tools.base import TOOLS, Tool, ToolResult

from .test_gui_tools import SKETCH, branch, call, card_of, finished_reply

PEEK_CALLS = []


def peek(args: dict, run) -> ToolResult:
    PEEK_CALLS.append(args)
    return ToolResult("the secret is 42")


PEEK = Tool("peek", "Read a secret.", {"type": "object", "properties": {}}, peek, source="mcp:test", asks_first=True)


def asking(parts):
    card = next((m for m in branch(parts) if m.kind == "tool"), None) if parts.session.current else None
    return card if card is not None and card.meta["state"] == "asking" else None


@pytest.fixture
def peek_asks(make_app, qtbot):
    """ask(*replies): the app once the model's call of peek (a tool that asks first) asks; the replies follow."""
    PEEK_CALLS.clear()
    with TOOLS.registered("peek", PEEK):
        def ask(*after):
            chat = FakeChatEngine([call("peek", {}), *after])
            parts = make_app(chat)
            parts.session.submit("what is the secret?")
            qtbot.waitUntil(lambda: asking(parts) is not None, timeout=30000)
            return parts, chat
        yield ask


def test_a_tool_that_asks_first_waits_and_deny_tells_the_model(peek_asks, qtbot):
    parts, chat = peek_asks("Fine, I will not look.")
    card = parts.window.view.widgets[asking(parts).id]
    buttons = {name: b for name, b in card.action_buttons.items() if b.isVisible()}
    assert [b.text() for b in buttons.values()] == ["Allow once", "Always for this tool", "Deny", ]
    qtbot.mouseClick(buttons["tool_deny"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: finished_reply(parts, "Fine, I will not look.") is not None, timeout=30000)
    denied = card_of(parts, "peek")
    assert denied.meta["state"] == "denied" and card.state.text() == "Denied" and PEEK_CALLS == []
    told = [m for m in chat.received[1] if m["role"] == "tool"]
    assert len(told) == 1 and "denied" in told[0]["content"]


def test_always_for_this_tool_is_remembered_and_saved(peek_asks, qtbot):
    parts, chat = peek_asks("It is 42.", call("peek", {}, "call_2"), "Still 42.")
    card = parts.window.view.widgets[asking(parts).id]
    qtbot.mouseClick(card.action_buttons["tool_allow_always"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: finished_reply(parts, "It is 42.") is not None, timeout=30000)
    assert PEEK_CALLS == [{}]
    saved, _note = load_settings(parts.paths.settings_file)
    assert len(saved.tools_always) == 1 and saved.tools_always[0].startswith("mcp:test/peek/")
    parts.session.submit("and again?")   # no question this time
    qtbot.waitUntil(lambda: finished_reply(parts, "Still 42.") is not None, timeout=30000)
    assert PEEK_CALLS == [{}, {}]


def test_builtin_tools_ask_first_when_the_setting_says_so(make_app, qtbot):
    from chatapp.settings import Settings
    chat = FakeChatEngine([call("sketch", {"prompt": "a dot"}), "ok"])
    with TOOLS.registered("sketch", SKETCH):
        parts = make_app(chat, settings=Settings(tools_ask_first=True))
        parts.session.submit("draw a dot")
        qtbot.waitUntil(lambda: asking(parts) is not None, timeout=30000)
        assert not any(m.kind == "image" for m in branch(parts))   # nothing drawn before the answer
        parts.session.answer_tool(asking(parts), "once")
        qtbot.waitUntil(lambda: finished_reply(parts, "ok") is not None, timeout=30000)
        assert any(m.kind == "image" and m.status == DONE for m in branch(parts))


def test_stop_while_a_call_asks_cancels_it(peek_asks, qtbot):
    parts, chat = peek_asks("never said")
    parts.session.stop()
    card = card_of(parts, "peek")
    assert card.meta["state"] == "cancelled" and PEEK_CALLS == [] and not parts.window.composer.busy
    assert len(chat.received) == 1
