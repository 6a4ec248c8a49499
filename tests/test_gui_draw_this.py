""""Draw this" in the window: a drawing request to a model that cannot call tools gets a chip with the prompt filled
in, and a click draws it as /image does; ordinary messages, the tricky ones and tool-capable models get none."""
from dataclasses import replace

from PySide6.QtCore import Qt

from chatapp.conversation import DONE
from chatapp.engines.base import ChatCapabilities
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine

from .conftest import close_app


class NoToolsChat(FakeChatEngine):
    """Like the embedded SmolLM2: its template takes no tools."""
    capabilities = ChatCapabilities()


class SizedImages(FakeImageEngine):
    """Names its own size once loaded, as the diffusion engine does (ModelInfo.details: width, height)."""

    def load(self):
        info = super().load()
        return replace(info, details={**info.details, **self.defaults})


def send(parts, qtbot, text):
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        assert parts.session.submit(text)
    return [m for m in parts.storage.messages(parts.session.current.id) if m.role == "user"][-1]


def chip(parts, message):
    return parts.window.view.widgets[message.id].action_buttons["draw_this"]


def test_a_drawing_request_shows_the_chip_and_a_click_draws_the_picture(make_app, qtbot):
    parts = make_app(NoToolsChat(["I cannot draw, but here is an idea."]), SizedImages(size=32))
    asked = send(parts, qtbot, "draw me a lighthouse at dusk")
    assert asked.meta["draw_this"] == {"prompt": "a lighthouse at dusk"}
    button = chip(parts, asked)
    qtbot.waitUntil(button.isVisible, timeout=30000)
    assert button.text() == "Draw this: a lighthouse at dusk"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    messages = parts.storage.messages(parts.session.current.id)
    command = messages[-2]   # the click asks as /image does: the command, then its picture under it
    assert (command.role, command.content) == ("user", "/image a lighthouse at dusk")
    qtbot.waitUntil(lambda: parts.storage.message(messages[-1].id).status == DONE, timeout=30000)
    picture = parts.storage.message(messages[-1].id)
    assert (picture.kind, picture.parent_id, picture.meta["request"]["prompt"]) == \
        ("image", command.id, "a lighthouse at dusk")
    assert picture.image_path and picture.meta["number"] == 1
    # A shape asked in words becomes a size from the (now loaded) image model: 32x32 wide is 48x32.
    wide = send(parts, qtbot, "paint a cat in watercolour, wide")
    qtbot.waitUntil(chip(parts, wide).isVisible, timeout=30000)
    assert chip(parts, wide).text() == "Draw this: a cat in watercolour (wide)"
    qtbot.mouseClick(chip(parts, wide), Qt.MouseButton.LeftButton)
    last = parts.storage.messages(parts.session.current.id)[-1]
    qtbot.waitUntil(lambda: parts.storage.message(last.id).status == DONE, timeout=30000)
    request = parts.storage.message(last.id).meta["request"]
    assert (request["prompt"], request["width"], request["height"]) == ("a cat in watercolour", 48, 32)
    # The suggestion is kept with the message: after a restart the chip is there again.
    close_app(parts)
    again = make_app(NoToolsChat(), load=False)
    again.session.open_conversation(asked.conversation_id)
    assert not chip(again, asked).isHidden() and chip(again, asked).text() == "Draw this: a lighthouse at dusk"


def test_ordinary_and_tricky_messages_show_no_chip(make_app, qtbot):
    parts = make_app(NoToolsChat())
    for text in ("How do I draw a circle in Python with turtle?", "Write a poem about the sea",
                 "Draw a conclusion from these results", "What is the capital of France?"):
        message = send(parts, qtbot, text)
        assert "draw_this" not in message.meta
        assert chip(parts, message).isHidden()
    assert not [m for m in parts.storage.messages(parts.session.current.id) if m.kind == "image"]


def test_a_model_that_calls_tools_draws_by_itself_so_no_chip(make_app, qtbot):
    parts = make_app(FakeChatEngine())   # capabilities.tools: it gets the picture tools instead
    assert parts.session.chat_capabilities.tools
    message = send(parts, qtbot, "draw me a lighthouse at dusk")
    assert "draw_this" not in message.meta and chip(parts, message).isHidden()


def test_a_server_that_stops_offering_tools_brings_the_chip_back(make_app, qtbot):
    # A remote engine whose server refused tools reports tools=False from then on (engines/openai_chat.py):
    # the session reads the engine's capabilities each time, so the next drawing request gets the chip.
    engine = FakeChatEngine()
    parts = make_app(engine)
    assert parts.session.chat_capabilities.tools
    engine.capabilities = ChatCapabilities()   # what the remote engine does after the server's refusal
    message = send(parts, qtbot, "draw me a lighthouse at dusk")
    assert message.meta.get("draw_this") == {"prompt": "a lighthouse at dusk"}
