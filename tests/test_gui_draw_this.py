""""Draw this" in the window: a drawing request to a model that cannot call tools gets a chip with the prompt filled
in, and a click draws it as /image does; ordinary messages, the tricky ones and tool-capable models get none."""
import threading
from dataclasses import replace

import pytest

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


class StillLoading(FakeChatEngine):
    """A chat model whose load waits until the test lets it finish: messages can be sent while it loads."""

    def __init__(self, replies=None, *, tools: bool, **kwargs):
        super().__init__(replies, **kwargs)
        self.capabilities = ChatCapabilities(tools=tools)
        self.loaded = threading.Event()

    def load(self):
        self.loaded.wait(120)   # a safety net only: the test sets it
        return super().load()


@pytest.mark.parametrize("tools, fails, chip_after", [(False, None, True), (True, None, False),
                                                     (True, "The model file is damaged.", True)])
def test_a_request_sent_while_the_model_loads_gets_the_chip_only_once_its_capabilities_are_known(
        make_app, qtbot, tools, fails, chip_after):
    engine = StillLoading(["Here is an idea."], tools=tools, fail_load=fails)
    parts = make_app(engine, load=False)
    try:
        parts.session.load_models()
        assert parts.session.llm_status == "loading"
        assert parts.session.submit("draw me a lighthouse at dusk")
        asked = next(m for m in parts.storage.messages(parts.session.current.id) if m.role == "user")
        # Nothing yet: a model that calls tools would draw it itself, and which one this is is not known.
        assert "draw_this" not in asked.meta and chip(parts, asked).isHidden()
    finally:
        engine.loaded.set()
    qtbot.waitUntil(lambda: parts.session.llm_status in ("ready", "error"), timeout=60000)
    qtbot.waitUntil(lambda: not parts.window.composer.busy, timeout=30000)
    saved = parts.storage.message(asked.id).meta
    if chip_after:   # it cannot draw (or could not load): the chip comes, with the prompt, and is kept
        qtbot.waitUntil(chip(parts, asked).isVisible, timeout=30000)
        assert saved["draw_this"] == {"prompt": "a lighthouse at dusk"}
        assert chip(parts, asked).text() == "Draw this: a lighthouse at dusk"
    else:   # it drew by itself: no chip, ever
        assert "draw_this" not in saved and chip(parts, asked).isHidden()
        assert engine.params[0].tools   # it was offered the picture tools instead
