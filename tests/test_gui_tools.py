"""Issue 23: the assistant calls tools in the open: a card per call, pictures drawn through the picture part, the
reply going on after the results; Stop, a chat with tools off, a tool that fails, restart (asking first:
test_gui_tool_asking.py)."""
import json
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from chatapp.conversation import CANCELLED, DONE, ERROR, ImageRequest
from chatapp.engines.base import ChatCapabilities
from chatapp.engines.events import ToolCallDelta
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
from chatapp.engines.llama import LlamaChatEngine
from chatapp.recipes.a1111 import parse_parameters
from chatapp.recipes.png import read_parameters
from chatapp.assistant.loop import MAX_ROUNDS, ROUNDS_NOTE
from chatapp.tools.base import TOOLS, Tool, ToolResult
from chatapp.ui.message_widgets import ImageBubble
from chatapp.ui.tool_card import ToolCard

from .conftest import close_app

OBJECT = {"type": "object", "properties": {"prompt": {"type": "string"}, "seed": {"type": "integer"}}}


def call(name: str, arguments: dict, call_id: str = "call_1", index: int = 0) -> list:
    """A scripted reply that calls one tool, its arguments streamed in two pieces as an engine would."""
    text = json.dumps(arguments)
    return [ToolCallDelta(index, call_id, name, text[:5]), ToolCallDelta(index, arguments=text[5:])]


def sketch(args: dict, run) -> ToolResult:
    """A test tool that draws through the session's door, as the built-in picture tool does."""
    drawn = run.services.draw(ImageRequest(prompt=args["prompt"], seed=args.get("seed"), steps=args.get("steps")))
    return ToolResult(f"Drew picture #{drawn.numbers[0]} (seed {drawn.request.seed}).", message_ids=drawn.message_ids)


SKETCH = Tool("sketch", "Draw a picture.", OBJECT, sketch)


def branch(parts):
    return parts.storage.branch(parts.session.current.id)


def card_of(parts, name: str):
    return next(m for m in branch(parts) if m.kind == "tool" and m.meta["name"] == name)


def finished_reply(parts, text: str):
    return next((m for m in branch(parts) if m.role == "assistant" and m.kind == "text" and m.content == text
                 and m.status == DONE), None)


def test_a_draw_picture_call_makes_a_card_the_picture_comes_under_it_and_the_reply_goes_on(make_app, qtbot):
    chat = FakeChatEngine([call("draw_picture", {"prompt": "a red circle", "seed": 3}), "Here is a red circle."])
    parts = make_app(chat, FakeImageEngine())
    assert parts.session.submit("draw me a red circle")
    qtbot.waitUntil(lambda: finished_reply(parts, "Here is a red circle.") is not None, timeout=30000)
    user, asked, card, picture, answer = branch(parts)
    assert {"draw_picture", "edit_picture", "search_documents", "read_recipe"} <= \
        {t["function"]["name"] for t in chat.params[0].tools}
    assert asked.role == "assistant" and asked.meta["tool_calls"] == [
        {"id": "call_1", "type": "function",
         "function": {"name": "draw_picture", "arguments": json.dumps({"prompt": "a red circle", "seed": 3})}}]
    assert (card.role, card.kind, card.status, card.meta["state"], card.meta["tool_call_id"]) == \
        ("tool", "tool", DONE, "done", "call_1")
    assert card.content.startswith("Drew picture #1") and "seed 3" in card.content and card.parent_id == asked.id
    # The picture is an ordinary numbered picture, child of the card, its PNG carrying the recipe.
    assert (picture.kind, picture.status, picture.meta["number"], picture.parent_id) == ("image", DONE, 1, card.id)
    assert picture.meta["tool_call_id"] == "call_1" and card.meta["message_ids"] == [picture.id]
    recipe = parse_parameters(read_parameters(picture.image_path))
    assert (recipe.prompt, recipe.seed) == ("a red circle", 3)
    assert answer.parent_id == picture.id
    # The model saw the call and its result before it went on.
    sent = chat.received[1]
    assert any(m["role"] == "assistant" and m.get("tool_calls") for m in sent)
    assert any(m["role"] == "tool" and m.get("tool_call_id") == "call_1" and "#1" in m["content"] for m in sent)
    view = parts.window.view
    assert isinstance(view.widgets[card.id], ToolCard) and isinstance(view.widgets[picture.id], ImageBubble)
    assert view.widgets[card.id].state.text() == "Done"
    assert not parts.window.composer.busy
    close_app(parts)
    again = make_app(FakeChatEngine(), FakeImageEngine(), load=False)
    back = again.window.view.widgets[card.id]
    assert isinstance(back, ToolCard) and back.state.text() == "Done" and "Drew picture #1" in back.result.text()
    assert json.loads(back.arguments.toPlainText()) == {"prompt": "a red circle", "seed": 3}
    picture_back = again.window.view.widgets[picture.id]
    assert isinstance(picture_back, ImageBubble)
    qtbot.waitUntil(picture_back.picture_loaded, timeout=30000)
    assert not picture_back.picture.pixmap().isNull()


class Recording(FakeImageEngine):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.asked = []

    def generate(self, request, on_progress, should_stop):
        self.asked.append(request)
        return super().generate(request, on_progress, should_stop)


def test_edit_picture_redraws_the_last_picture_as_a_new_numbered_one(make_app, qtbot):
    chat = FakeChatEngine([call("draw_picture", {"prompt": "a red circle", "seed": 3}), "Drawn.",
                           call("edit_picture", {"picture": "last", "prompt": "an orange circle", "strength": 0.5},
                                "call_2"), "More orange now."])
    images = Recording()
    parts = make_app(chat, images)
    parts.session.submit("draw a red circle")
    qtbot.waitUntil(lambda: finished_reply(parts, "Drawn.") is not None, timeout=30000)
    parts.session.submit("make it more orange")
    qtbot.waitUntil(lambda: finished_reply(parts, "More orange now.") is not None, timeout=30000)
    first, second = [m for m in branch(parts) if m.kind == "image"]
    card = card_of(parts, "edit_picture")
    assert card.meta["state"] == "done" and second.parent_id == card.id
    assert (second.meta["number"], second.meta["edited_from"], second.meta["source_id"]) == (2, 1, first.id)
    asked = images.asked[-1]   # what the engine was asked to draw: the first picture, redrawn with its seed
    assert (asked.init, asked.strength, asked.seed, asked.prompt) == (first.image_path, 0.5, 3, "an orange circle")


def answered(make_app, qtbot, script: list, question: str):
    """The app with the fake model scripted, once it answered question with the script's last reply."""
    chat = FakeChatEngine(script)
    parts = make_app(chat)
    parts.session.submit(question)
    qtbot.waitUntil(lambda: finished_reply(parts, script[-1]) is not None, timeout=30000)
    return parts, chat


def test_search_documents_reads_the_chats_files(make_app, qtbot):
    parts, _ = answered(make_app, qtbot, [call("search_documents", {"query": "lighthouse keeper"}), "Nothing found."],
                        "what do my files say about the lighthouse keeper?")
    card = card_of(parts, "search_documents")
    assert card.meta["state"] == "done" and "Nothing in" in card.content and "lighthouse keeper" in card.content


def test_a_call_through_the_session_door_draws_under_its_card(make_app, qtbot):
    chat = FakeChatEngine([call("sketch", {"prompt": "a red circle", "seed": 3}), "Here is a red circle."])
    with TOOLS.registered("sketch", SKETCH):
        parts = make_app(chat, FakeImageEngine())
        assert parts.session.submit("draw me a red circle")
        qtbot.waitUntil(lambda: finished_reply(parts, "Here is a red circle.") is not None, timeout=30000)
        user, asked, card, picture, answer = branch(parts)
        assert card.content == "Drew picture #1 (seed 3)." and card.parent_id == asked.id
        assert (picture.parent_id, picture.meta["number"], answer.parent_id) == (card.id, 1, picture.id)


@pytest.fixture
def drawing(make_app, qtbot):
    """The app (and its fake model) while a tool's slow picture renders; the model's next reply is never asked for."""
    chat = FakeChatEngine([call("sketch", {"prompt": "a slow square", "steps": 100}), "never said"])
    with TOOLS.registered("sketch", SKETCH):
        parts = make_app(chat, FakeImageEngine(step_delay=0.2))
        parts.session.submit("draw a slow square")
        qtbot.waitUntil(lambda: any(m.kind == "image" and m.status == "rendering" for m in branch(parts)), timeout=30000)
        yield parts, chat


def test_stop_while_the_tool_draws_cancels_the_call_and_the_reply(drawing, qtbot):
    parts, chat = drawing
    assert parts.window.composer.busy   # the reply is not over while its tool runs
    qtbot.mouseClick(parts.window.composer.button, Qt.MouseButton.LeftButton)   # Stop
    card = card_of(parts, "sketch")
    assert (card.status, card.meta["state"]) == (CANCELLED, "cancelled")
    assert parts.window.view.widgets[card.id].state.text() == "Cancelled"
    qtbot.waitUntil(lambda: next(m for m in branch(parts) if m.kind == "image").status == CANCELLED, timeout=30000)
    qtbot.waitUntil(lambda: not parts.window.composer.busy, timeout=5000)
    assert len(chat.received) == 1 and finished_reply(parts, "never said") is None


def test_a_chat_with_tools_off_offers_none(make_app, qtbot):
    chat = FakeChatEngine(["first", "second"])
    with TOOLS.registered("sketch", SKETCH):
        parts = make_app(chat)
        button = parts.window.tools_button
        assert button.isChecked()
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)   # off, before the chat exists
        parts.session.submit("hello")
        qtbot.waitUntil(lambda: finished_reply(parts, "first") is not None, timeout=30000)
        assert chat.params[0].tools == ()
        assert parts.storage.conversation(parts.session.current.id).tools_off   # the chat's own switch
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)   # on again
        parts.session.submit("hello again")
        qtbot.waitUntil(lambda: finished_reply(parts, "second") is not None, timeout=30000)
        assert "sketch" in [t["function"]["name"] for t in chat.params[1].tools]


class WordsOnly(FakeChatEngine):
    capabilities = ChatCapabilities(tools=False)


def test_a_model_that_cannot_call_tools_is_offered_none(make_app, qtbot):
    chat = WordsOnly(["plain words"])
    with TOOLS.registered("sketch", SKETCH):
        parts = make_app(chat)
        parts.session.submit("draw a cat")
        qtbot.waitUntil(lambda: finished_reply(parts, "plain words") is not None, timeout=30000)
        assert chat.params[0].tools == ()


def boom(args: dict, run) -> ToolResult:
    raise RuntimeError("kaput")


def test_a_tool_that_raises_fails_its_card_and_the_reply_goes_on(make_app, qtbot):
    chat = FakeChatEngine([call("boom", {}), "That tool broke.", "still here"])
    with TOOLS.registered("boom", Tool("boom", "Breaks.", {"type": "object", "properties": {}}, boom)):
        parts = make_app(chat)
        parts.session.submit("try the tool")
        qtbot.waitUntil(lambda: finished_reply(parts, "That tool broke.") is not None, timeout=30000)
        card = card_of(parts, "boom")
        assert (card.status, card.meta["state"]) == (ERROR, "failed")
        assert "boom failed" in card.content and "kaput" in card.content
        widget = parts.window.view.widgets[card.id]
        assert widget.state.text() == "⚠ Failed" and "kaput" in widget.result.text() and widget.body.isVisible()
        parts.session.submit("are you there?")   # the app goes on as usual
        qtbot.waitUntil(lambda: finished_reply(parts, "still here") is not None, timeout=30000)


def test_a_made_up_tool_name_is_a_failed_card_the_model_reads(make_app, qtbot):
    parts, _ = answered(make_app, qtbot, [call("teleport", {"to": "mars"}), "Sorry, I cannot."], "go to mars")
    card = card_of(parts, "teleport")
    assert card.meta["state"] == "failed" and "no tool called 'teleport'" in card.content


def echo(args: dict, run) -> ToolResult:
    return ToolResult("echo")


def test_rounds_of_calls_are_capped_with_a_note(make_app, qtbot):
    rounds = [call("echo", {}, f"call_{n}") for n in range(MAX_ROUNDS)]
    chat = FakeChatEngine([*rounds, "done at last"])
    notices = []
    with TOOLS.registered("echo", Tool("echo", "Echo.", {"type": "object", "properties": {}}, echo)):
        parts = make_app(chat)
        parts.session.notice.connect(notices.append)
        parts.session.submit("loop please")
        qtbot.waitUntil(lambda: finished_reply(parts, "done at last") is not None, timeout=60000)
        assert [p.tool_choice for p in chat.params] == ["auto"] * MAX_ROUNDS + ["none"]
        assert all(p.tools for p in chat.params)   # still offered: the history holds calls
        assert ROUNDS_NOTE in notices
        assert len([m for m in branch(parts) if m.kind == "tool"]) == MAX_ROUNDS


def test_run_again_with_edited_arguments_draws_beside_the_first(make_app, qtbot):
    chat = FakeChatEngine([call("sketch", {"prompt": "a red circle", "seed": 3}), "A red circle.", "A blue one."])
    with TOOLS.registered("sketch", SKETCH):
        parts = make_app(chat, FakeImageEngine())
        parts.session.submit("draw a red circle")
        qtbot.waitUntil(lambda: finished_reply(parts, "A red circle.") is not None, timeout=30000)
        first = card_of(parts, "sketch")
        widget = parts.window.view.widgets[first.id]
        assert not widget.arguments.isReadOnly()
        widget.arguments.setPlainText('{"prompt": "a blue circle", "seed": 4}')
        qtbot.mouseClick(widget.action_buttons["tool_run_again"], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: finished_reply(parts, "A blue one.") is not None, timeout=30000)
        again = card_of(parts, "sketch")
        assert again.id != first.id and again.parent_id == first.parent_id and again.meta["edited"]
        assert json.loads(again.meta["arguments"]) == {"prompt": "a blue circle", "seed": 4}
        picture = next(m for m in branch(parts) if m.kind == "image")
        assert picture.parent_id == again.id and picture.meta["number"] == 2
        assert parts.storage.message(first.id) is not None   # the first call is kept on its branch


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_card_reads_in_both_themes(make_app, qtbot, theme):
    from chatapp.settings import Settings
    chat = FakeChatEngine([call("echo", {}), "ok"])
    with TOOLS.registered("echo", Tool("echo", "Echo.", {"type": "object", "properties": {}}, echo)):
        parts = make_app(chat, settings=Settings(theme=theme))
        parts.session.submit("echo")
        qtbot.waitUntil(lambda: finished_reply(parts, "ok") is not None, timeout=30000)
        card = parts.window.view.widgets[card_of(parts, "echo").id]
        card.toggle.click()   # a done card opens on a click
        assert card.body.isVisible()
        image = card.grab().toImage()
        text, back = card.result.palette().color(card.result.foregroundRole()), image.pixelColor(2, image.height() // 2)
        assert abs(text.lightness() - back.lightness()) > 100


def test_turning_tools_off_folds_earlier_calls_into_text(make_app, qtbot):
    with TOOLS.registered("echo", Tool("echo", "Echo.", {"type": "object", "properties": {}}, echo)):
        parts, chat = answered(make_app, qtbot, [call("echo", {}), "Echoed."], "echo please")
        chat.enqueue("No tools now.")
        parts.session.set_tools_enabled(False)
        parts.session.submit("and now?")
        qtbot.waitUntil(lambda: finished_reply(parts, "No tools now.") is not None, timeout=30000)
        assert chat.params[-1].tools == ()
        sent = chat.received[-1]
        assert not any(m["role"] == "tool" or m.get("tool_calls") for m in sent)
        assert any("echo" in (m["content"] or "") for m in sent if m["role"] == "assistant")   # said in words


def test_a_call_the_engine_gave_no_id_gets_one_its_result_answers(make_app, qtbot):
    with TOOLS.registered("echo", Tool("echo", "Echo.", {"type": "object", "properties": {}}, echo)):
        parts, chat = answered(make_app, qtbot, [call("echo", {}, call_id=""), "Echoed."], "echo please")
        asked = next(m for m in branch(parts) if m.meta.get("tool_calls"))
        given = asked.meta["tool_calls"][0]["id"]
        assert given.startswith("call_") and card_of(parts, "echo").meta["tool_call_id"] == given
        assert [m["tool_call_id"] for m in chat.received[1] if m["role"] == "tool"] == [given]


def test_a_chat_with_tools_off_suggests_draw_this_instead(make_app, qtbot):
    parts = make_app(FakeChatEngine(["Sure.", "Sure again."]))
    parts.session.submit("draw me a lighthouse at dusk")
    qtbot.waitUntil(lambda: finished_reply(parts, "Sure.") is not None, timeout=30000)
    assert "draw_this" not in branch(parts)[0].meta   # the model draws by itself here
    parts.session.set_tools_enabled(False)
    parts.session.submit("draw me a lighthouse at dawn")
    qtbot.waitUntil(lambda: finished_reply(parts, "Sure again.") is not None, timeout=30000)
    asked = [m for m in branch(parts) if m.role == "user"][-1]
    assert "lighthouse at dawn" in asked.meta["draw_this"]["prompt"]


def test_quitting_while_a_tool_draws_ends_cleanly_and_the_card_says_so(drawing, make_app):
    parts, _ = drawing
    card_id = card_of(parts, "sketch").id
    close_app(parts)   # asserts that every thread ended in time
    again = make_app(FakeChatEngine(), load=False)
    card = again.storage.message(card_id)
    assert (card.status, card.meta["state"]) == (CANCELLED, "cancelled") and "closed" in card.content
    assert again.window.view.widgets[card_id].state.text() == "Cancelled"


class AskedToDraw(LlamaChatEngine):
    """The real engine on SmolLM2 re-saved with Qwen2.5's tool template. A 135M model seldom chooses a tool by
    itself, so its first reply of a turn is told which one (a named tool_choice, forced by the grammar);
    everything after that (the card, the picture, the result back through the template) is the app's own."""

    def stream(self, messages, params, should_stop, stats=None):
        if params.tools and messages[-1]["role"] == "user":
            params = replace(params, tool_choice={"type": "function", "function": {"name": "draw_picture"}})
        return super().stream(messages, params, should_stop, stats)


@pytest.mark.real
def test_a_real_local_model_draws_when_asked_in_words(make_app, qtbot):
    from chatapp.settings import Settings

    from .tool_model import tool_model_path
    images = Recording()
    # 96 tokens: room for a call that names a size and a LoRA as well as the prompt.
    parts = make_app(AskedToDraw(tool_model_path(), n_ctx=4096), images, settings=Settings(temperature=0.0, seed=1, max_tokens=96))
    assert parts.session.chat_capabilities.tools
    parts.session.submit("Draw me a lighthouse at dusk, please.")
    qtbot.waitUntil(lambda: not parts.window.composer.busy, timeout=120000)
    user, asked, card, picture, answer = branch(parts)
    assert asked.meta["tool_calls"][0]["function"]["name"] == "draw_picture"
    assert (card.meta["state"], card.meta["tool_call_id"]) == ("done", asked.meta["tool_calls"][0]["id"])
    assert (picture.kind, picture.status, picture.parent_id, picture.meta["number"]) == ("image", DONE, card.id, 1)
    assert images.asked[0].prompt == json.loads(card.meta["arguments"])["prompt"]
    assert answer.role == "assistant" and answer.status == DONE and answer.content and answer.parent_id == picture.id


def test_deleting_the_chat_while_a_tool_draws_leaves_nothing(drawing, qtbot):
    parts, chat = drawing
    cid = parts.session.current.id
    parts.session.delete_conversation(cid)
    qtbot.waitUntil(lambda: not parts.session.images.jobs, timeout=30000)
    assert parts.storage.conversation(cid) is None and not parts.session.tools.running_in(cid)
    assert [p for p in parts.paths.images.rglob("*") if p.suffix in (".png", ".part")] == []
    assert len(chat.received) == 1 and not parts.window.composer.busy
