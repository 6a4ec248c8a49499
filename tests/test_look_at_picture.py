"""Issue 24 item 7: a model that sees and calls tools looks at a picture of the chat (look_at_picture): offered only
to a seeing model; its result is text, the picture follows as a user message's image_url part (every path reads that
shape); a blind model later reads text only. Real SQLite, the scripted seeing engine, and the real tiny vision model."""
from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from chatapp import branches
from chatapp.conversation import DONE, STREAMING, GenParams, ImageRequest
from chatapp.engines.base import ChatCapabilities
from chatapp.engines.events import TextDelta, ToolCall, Usage
from chatapp.engines.fake import FakeChatEngine
from chatapp.engines.llama import LlamaChatEngine
from chatapp.message_log import MessageLog
from chatapp.pictures.intake import with_data_urls
from chatapp.storage import Storage
from chatapp.tools.base import TOOLS, offered

from .test_gui_tools import call, card_of
from .test_tools_builtin import FakeServices, _call
from .test_session_pictures import SeeingEngine
from .vision_model import vision_model  # noqa: F401  (the fixture)

LOOK = ToolCall("call_l", "look_at_picture", '{"picture": "#1"}')
DRAW = ToolCall("call_d", "draw_picture", '{"prompt": "a blue circle"}')


class SeeingToolEngine(SeeingEngine):
    """The scripted seeing engine that also calls tools."""
    capabilities = ChatCapabilities(tools=True, vision=True, image_side=256)


def test_look_at_picture_is_offered_only_to_a_model_that_sees():
    assert TOOLS["look_at_picture"].needs_vision
    assert "look_at_picture" not in {t.name for t in offered()}
    assert "look_at_picture" in {t.name for t in offered(vision=True)}
    assert {t.name for t in offered()} == {t.name for t in offered(vision=True)} - {"look_at_picture"}


def test_the_tool_names_the_picture_it_shows_and_refuses_one_that_is_not_there():
    services = FakeServices()
    missing = _call("look_at_picture", {"picture": "last"}, services)
    assert missing.is_error and "no picture last" in missing.content and not missing.shown
    _call("draw_picture", {"prompt": "a red kite", "seed": 4}, services)
    shown = _call("look_at_picture", {"picture": "#1"}, services)
    assert not shown.is_error and shown.shown == (101,) and shown.message_ids == ()
    assert shown.content.startswith("Picture #1 is shown to you") and '"a red kite"' in shown.content
    assert _call("look_at_picture", {"picture": "#2"}, services).is_error


def drawn_then_looked(storage: Storage, picture_path: str):
    """A picture #1, then a question whose reply calls look_at_picture (and draw_picture in the same turn)."""
    log = MessageLog(storage)
    conv = storage.create_conversation("Look")
    q = log.add(conv.id, "user", "/image a blue circle")
    pic = log.add(conv.id, "assistant", "a blue circle", kind="image", image_path=picture_path,
                  meta={"number": 1, "parameters": "a blue circle\nSteps: 1, Seed: 3, Size: 64x48"}, parent_id=q.id)
    ask = log.add(conv.id, "user", "Does #1 match what I asked?", parent_id=pic.id)
    reply = log.add(conv.id, "assistant", "", status=STREAMING, parent_id=ask.id, make_current=True)
    log.set_tool_calls(reply, [LOOK, DRAW], content="Let me look.", status=DONE)
    look = log.add_tool_message(conv.id, reply.id, LOOK)
    log.set_tool_state(look, "done", "Picture #1 is shown to you in the next message.", shown=[pic.id])
    draw = log.add_tool_message(conv.id, look.id, DRAW)
    log.set_tool_state(draw, "failed", "No image model.")
    return conv, pic, draw


def small_png(tmp_path, colour=(20, 40, 220)) -> str:
    path = tmp_path / "1.png"
    Image.new("RGB", (64, 48), colour).save(path)
    return str(path)


def test_the_picture_follows_every_result_of_the_turn_as_a_user_message_for_a_seeing_model(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    conv, pic, draw = drawn_then_looked(s, small_png(tmp_path))
    got = branches.history(s, conv, "", up_to=draw.id, tools=True, vision=True)
    # The /image command and the question are one user message (templates refuse two user turns in a row).
    assert [m["role"] for m in got] == ["user", "assistant", "tool", "tool", "user"]
    assert got[0]["content"] == "/image a blue circle\n\nDoes #1 match what I asked?"
    assert got[-1]["content"] == [{"type": "text", "text": "Picture #1, as the tool showed it."},
                                  {"type": branches.PICTURE_PART, "path": pic.image_path, "name": "#1"}]
    sent = with_data_urls(got, 256, branches.PICTURE_PART)[-1]["content"][1]
    assert sent["type"] == "image_url" and sent["image_url"]["url"].startswith("data:image/png;base64,")
    # A model that cannot call tools but sees: the calls fold into text, the picture still comes as a user's.
    folded = branches.history(s, conv, "", up_to=draw.id, vision=True)
    assert [m["role"] for m in folded] == ["user", "assistant", "user"]
    assert folded[-1]["content"][1]["path"] == pic.image_path


def test_a_blind_model_later_reads_text_only_and_is_told_the_picture_was_not_shown(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    conv, pic, draw = drawn_then_looked(s, small_png(tmp_path))
    for tools in (True, False):
        got = branches.history(s, conv, "", up_to=draw.id, tools=tools)
        assert all(isinstance(m["content"], str) for m in got) and not branches.has_pictures(got)
        said = "\n".join(m["content"] for m in got)
        assert branches.NOT_SHOWN.format(name="#1") in said


def test_a_shown_id_of_another_chat_or_not_a_picture_is_never_read(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    other, pic, _ = drawn_then_looked(s, small_png(tmp_path))
    log = MessageLog(s)
    conv = s.create_conversation("Imported")
    reply = log.add(conv.id, "assistant", "", status=STREAMING, make_current=True)
    log.set_tool_calls(reply, [LOOK], status=DONE)
    card = log.add_tool_message(conv.id, reply.id, LOOK)
    log.set_tool_state(card, "done", "Shown.", shown=[pic.id, reply.id, "x", 10 ** 6])   # as a crafted import could
    got = branches.history(s, conv, "", tools=True, vision=True)
    assert [m["role"] for m in got] == ["assistant", "tool"]


def test_a_seeing_model_calls_look_at_picture_and_gets_the_picture_in_the_next_round(make_app, qtbot):
    engine = SeeingToolEngine(["ok", [*call("look_at_picture", {"picture": "#1"}, "call_l")], "It is a circle."])
    parts = make_app(engine)
    session = parts.session
    with qtbot.waitSignal(session.reply_finished, timeout=30000):
        session.submit("hi")
    assert "look_at_picture" in {t["function"]["name"] for t in engine.params[0].tools}
    assert session.submit_image(ImageRequest(prompt="a blue circle", width=64, height=48, steps=1, seed=3))
    qtbot.waitUntil(lambda: parts.storage.last_picture(session.current.id) is not None, timeout=60000)
    drawn = parts.storage.last_picture(session.current.id)
    assert session.submit("Does the circle look right?")
    qtbot.waitUntil(lambda: any(m.content == "It is a circle." and m.status == DONE
                                for m in parts.storage.branch(session.current.id)), timeout=30000)
    card = card_of(parts, "look_at_picture")
    assert card.status == DONE and card.meta["shown"] == [drawn.id]
    assert card.content.startswith("Picture #1 is shown to you") and '"a blue circle"' in card.content
    last = engine.seen[-1]
    assert last[-2]["role"] == "tool" and last[-2]["tool_call_id"] == "call_l"
    assert last[-1]["role"] == "user" and last[-1]["content"][0]["text"] == "Picture #1, as the tool showed it."
    url = last[-1]["content"][1]["image_url"]["url"]
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
        assert im.size == (64, 48)


class BlindToolEngine(FakeChatEngine):
    capabilities = ChatCapabilities(tools=True)


def test_a_model_that_cannot_see_is_not_offered_the_tool(make_app, qtbot):
    engine = BlindToolEngine(["ok"])
    parts = make_app(engine)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("hi")
    names = {t["function"]["name"] for t in engine.params[0].tools}
    assert "draw_picture" in names and "look_at_picture" not in names


def test_a_tool_not_offered_is_not_run_and_the_answer_lists_only_those_offered(make_app, qtbot):
    """A blind model that calls look_at_picture anyway (a picture #1 is there): the call does not run, and the answer
    names the tools of its turn, never the one it cannot use."""
    engine = BlindToolEngine([[*call("look_at_picture", {"picture": "#1"}, "call_l")], "I cannot look."])
    parts = make_app(engine)
    session = parts.session
    assert session.submit_image(ImageRequest(prompt="a blue circle", width=64, height=48, steps=1, seed=3))
    qtbot.waitUntil(lambda: parts.storage.last_picture(session.current.id) is not None, timeout=60000)
    assert session.submit("Does the circle look right?")
    qtbot.waitUntil(lambda: any(m.content == "I cannot look." and m.status == DONE
                                for m in parts.storage.branch(session.current.id)), timeout=30000)
    card = card_of(parts, "look_at_picture")
    assert card.meta["state"] == "failed" and "shown" not in card.meta
    assert card.content.startswith("The tool 'look_at_picture' is not offered here.")
    listed = card.content.split("The tools are: ", 1)[1].rstrip(".").split(", ")
    assert listed == [t["function"]["name"] for t in engine.params[0].tools] and "look_at_picture" not in listed


@pytest.mark.real
def test_the_real_vision_handler_reads_the_shape_the_tool_result_makes(tmp_path, vision_model):  # noqa: F811
    gguf, mmproj = vision_model
    s = Storage(tmp_path / "db.sqlite3")
    conv, pic, draw = drawn_then_looked(s, small_png(tmp_path))
    engine = LlamaChatEngine(gguf, n_ctx=2048, projector=mmproj)
    engine.load()
    # The tiny model cannot call tools: the calls fold into text, the picture comes after them as a user's.
    messages = with_data_urls(branches.history(s, conv, "Be brief.", up_to=draw.id, vision=True),
                              engine.capabilities.image_side, branches.PICTURE_PART)
    assert messages[-1]["role"] == "user" and messages[-1]["content"][1]["type"] == "image_url"
    # The handler leaves its picture's positions in the prompt's ids as they were: here ids outside the vocabulary,
    # which detokenizing aborts on (the engine reads the prompt's tail for an opened thinking: real ids only).
    engine.llm.input_ids[:] = engine.llm.n_vocab() + 1000
    events = list(engine.stream(messages, GenParams(max_tokens=4, temperature=0.0, seed=7), lambda: False))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.stats.completion_tokens >= 1 and isinstance(text, str)
    text_only = [{**m, "content": branches.text_of(m["content"])} for m in messages]
    plain = list(engine.stream(text_only, GenParams(max_tokens=4, temperature=0.0, seed=7), lambda: False))
    # The picture was evaluated: a 64 x 48 picture costs 14 cells of the prompt beyond its text.
    assert usage.stats.prompt_tokens - plain[-1].stats.prompt_tokens >= 14
