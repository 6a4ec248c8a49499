"""Issue 23 item 4: an MCP tool's fault reaches the conversation as a card, in the window, and the app goes on: a real
MCP server (tests/mcp_servers/echo_server.py over stdio) whose tool crashes mid-call, or hangs until the server's
timeout or the user's Stop; the card says what happened, the reply goes on after it (not after Stop), and the next
call of the same server works. Only the chat model is scripted (it calls the tools)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from chatapp.conversation import CANCELLED, DONE, ERROR
from chatapp.engines.events import ToolCallDelta
from chatapp.engines.fake import FakeChatEngine
from chatapp.settings import Settings
from chatapp.tools.base import TOOLS

ECHO = str(Path(__file__).parent / "mcp_servers" / "echo_server.py")


def call(name: str, arguments: dict, call_id: str = "call_1") -> list:
    """A scripted reply that calls one tool, its arguments streamed in two pieces as an engine would."""
    text = json.dumps(arguments)
    return [ToolCallDelta(0, call_id, name, text[:5]), ToolCallDelta(0, arguments=text[5:])]


def branch(parts):
    return parts.storage.branch(parts.session.current.id)


def cards(parts, name: str):
    return [m for m in branch(parts) if m.kind == "tool" and m.meta["name"] == name]


def finished_reply(parts, text: str):
    return next((m for m in branch(parts) if m.role == "assistant" and m.kind == "text" and m.content == text
                 and m.status == DONE), None)


@pytest.fixture
def echo_app(make_app, qtbot):
    """app(*replies, timeout=...): the window with the echo server configured and its tools listed."""
    def app(*replies, timeout: float = 60):
        chat = FakeChatEngine(list(replies))
        server = {"name": "echo", "command": sys.executable, "args": [ECHO], "timeout": timeout}
        parts = make_app(chat, settings=Settings(mcp_servers=[server]))
        qtbot.waitUntil(lambda: "echo__echo" in TOOLS, timeout=60_000)
        return parts, chat
    return app


def ask_and_allow(parts, qtbot, text: str):
    """Send a message; the model calls an MCP tool (they ask first): press the card's Allow once. Its widget."""
    assert parts.session.submit(text)

    def asking():
        return next((m for m in branch(parts) if m.kind == "tool" and m.meta["state"] == "asking"), None)
    qtbot.waitUntil(lambda: asking() is not None, timeout=30_000)
    widget = parts.window.view.widgets[asking().id]
    qtbot.mouseClick(widget.action_buttons["tool_allow_once"], Qt.MouseButton.LeftButton)
    return widget


def the_next_call_works(parts, chat, qtbot, before: int):
    widget = ask_and_allow(parts, qtbot, "say hi")
    qtbot.waitUntil(lambda: finished_reply(parts, "Echoed.") is not None, timeout=60_000)
    card = cards(parts, "echo__echo")[-1]
    assert (card.status, card.meta["state"], card.content) == (DONE, "done", "echo: hi")
    assert widget.state.text() == "Done"
    told = [m for m in chat.received[before] if m["role"] == "tool"]
    assert told[-1]["content"] == "echo: hi"


def assert_failed_card(parts, chat, card, words: str, sent: int):
    assert (card.status, card.meta["state"]) == (ERROR, "failed") and words in card.content
    widget = parts.window.view.widgets[card.id]
    assert widget.state.text() == "⚠ Failed" and words in widget.result.text()
    assert widget.body.isVisible() and not widget.progress.isVisible()   # open on its note, no longer running
    told = [m for m in chat.received[sent] if m["role"] == "tool"]   # the model read the note before it went on
    assert len(told) == 1 and words in told[0]["content"]


def test_a_tool_whose_server_crashes_mid_call_fails_its_card_and_the_reply_goes_on(echo_app, qtbot):
    parts, chat = echo_app(call("echo__crash", {}), "The server crashed.",
                           call("echo__echo", {"text": "hi"}, "call_2"), "Echoed.")
    ask_and_allow(parts, qtbot, "crash it")
    qtbot.waitUntil(lambda: finished_reply(parts, "The server crashed.") is not None, timeout=60_000)
    card = cards(parts, "echo__crash")[0]
    assert_failed_card(parts, chat, card, "The MCP server 'echo' stopped during the call (it crashed", 1)
    assert finished_reply(parts, "The server crashed.").parent_id == card.id   # the reply went on under the card
    assert not parts.window.composer.busy
    the_next_call_works(parts, chat, qtbot, 3)   # the server starts again on its next call


def test_a_hung_tool_fails_its_card_at_the_servers_timeout_and_the_reply_goes_on(echo_app, qtbot):
    parts, chat = echo_app(call("echo__slow", {"seconds": 600}), "It hung.",
                           call("echo__echo", {"text": "hi"}, "call_2"), "Echoed.", timeout=1)
    lines = []
    parts.session.tool_progress.connect(lambda card_id, text, fraction: lines.append(text))
    ask_and_allow(parts, qtbot, "wait a while")
    qtbot.waitUntil(lambda: finished_reply(parts, "It hung.") is not None, timeout=60_000)
    card = cards(parts, "echo__slow")[0]
    assert "started" in lines   # it was running (the server said so) when it hung
    assert_failed_card(parts, chat, card, "The MCP server 'echo' did not answer within 1 s; the call was cancelled.", 1)
    assert finished_reply(parts, "It hung.").parent_id == card.id
    the_next_call_works(parts, chat, qtbot, 3)


def test_stop_ends_a_hung_tool_its_card_says_cancelled_and_the_next_call_works(echo_app, qtbot):
    parts, chat = echo_app(call("echo__slow", {"seconds": 600}), call("echo__echo", {"text": "hi"}, "call_2"),
                           "Echoed.")
    widget = ask_and_allow(parts, qtbot, "wait a while")
    # The server's own progress reaches the card: the call is in the server's hands, hung there.
    qtbot.waitUntil(lambda: widget.progress_text.text() == "started", timeout=60_000)
    assert widget.progress.isVisible() and widget.state.text() == "Running…" and parts.window.composer.busy
    qtbot.mouseClick(parts.window.composer.button, Qt.MouseButton.LeftButton)   # Stop
    card = cards(parts, "echo__slow")[0]
    assert (card.status, card.meta["state"], card.content) == \
        (CANCELLED, "cancelled", "Stopped by the user before it finished.")
    assert widget.state.text() == "Cancelled" and widget.result.text() == card.content
    assert not widget.progress.isVisible()
    qtbot.waitUntil(lambda: not parts.window.composer.busy, timeout=10_000)
    assert len(chat.received) == 1   # Stop: the reply does not go on (the model is not asked again)
    assert [m.role for m in branch(parts)] == ["user", "assistant", "tool"]
    the_next_call_works(parts, chat, qtbot, 2)
