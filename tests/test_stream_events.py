"""Chat engines stream typed events; tool calls go through chatapp serve and the OpenAI engine unchanged."""
import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import openai
import pytest

from chatapp.conversation import GenParams
from chatapp.engines.events import ReasoningDelta, Reply, TextDelta, ToolCall, ToolCallDelta, Usage
from chatapp.engines.fake import FakeChatEngine
from chatapp.engines.openai_chat import OpenAIChatEngine, _events
from chatapp.engines.reasoning import ThinkingSplitter
from chatapp.serve.app import Slot
from chatapp.serve.chat import _tool_call_delta

from .remote_servers import serving_slots


def test_reply_joins_tool_call_parts_by_index_in_order():
    reply = Reply.of([TextDelta("Sure. "), ToolCallDelta(1, "b", "search", '{"q"'), ToolCallDelta(0, "a", "draw"),
                      ToolCallDelta(1, arguments=': "cats"}'), ToolCallDelta(0, arguments="{}"), TextDelta("Done."),
                      Usage(SimpleNamespace(), "tool_calls")])
    assert reply.text == "Sure. Done." and reply.usage.finish_reason == "tool_calls"
    assert reply.tool_calls == [ToolCall("a", "draw", "{}"), ToolCall("b", "search", '{"q": "cats"}')]
    assert reply.tool_calls[1].parsed_arguments() == {"q": "cats"}
    assert reply.tool_calls[1].openai() == {"id": "b", "type": "function",
                                            "function": {"name": "search", "arguments": '{"q": "cats"}'}}
    with pytest.raises(ValueError, match="not valid JSON"):
        ToolCall("c", "draw", '{"prompt": ').parsed_arguments()
    with pytest.raises(TypeError):
        Reply().add("plain text is not an event")


def test_openai_stream_deltas_become_events_and_go_back_out_in_the_same_shape():
    """A server's streamed tool_calls parts -> ToolCallDelta -> chatapp serve's chunk: the same fields."""
    from openai.types.chat.chat_completion_chunk import ChoiceDelta
    parts = [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "draw", "arguments": ""}},
             {"index": 0, "function": {"arguments": '{"prompt": "sea"}'}}]
    events = [e for p in parts for e in _events(ChoiceDelta.model_validate({"tool_calls": [p]}), ThinkingSplitter())]
    assert events == [ToolCallDelta(0, "call_1", "draw", ""), ToolCallDelta(0, arguments='{"prompt": "sea"}')]
    assert [_tool_call_delta(e) for e in events] == parts
    assert list(_events(ChoiceDelta(content="Hi"), ThinkingSplitter())) == [TextDelta("Hi")]
    # A reasoning model's thinking, in the fields llama-server/vLLM and Ollama put it in.
    for key in ("reasoning_content", "reasoning"):
        assert list(_events(ChoiceDelta.model_validate({key: "Hm."}), ThinkingSplitter())) == [ReasoningDelta("Hm.")]


def test_fake_engine_streams_a_scripted_tool_call_with_its_finish_reason():
    engine = FakeChatEngine([[TextDelta("On it."), ToolCallDelta(0, "c", "draw", json.dumps({"prompt": "x"}))]])
    events = list(engine.stream([{"role": "user", "content": "draw x"}], GenParams(), lambda: False))
    assert [type(e) for e in events] == [TextDelta, ToolCallDelta, Usage]
    assert events[-1].finish_reason == "tool_calls" and events[-1].stats.completion_tokens == 2


# The functions the requests below offer (chatapp serve sends a call to one not offered as text).
TOOLS = tuple({"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
              for n in ("draw_picture", "search_files"))
SCRIPT = [TextDelta("Drawing"), TextDelta(" it."), ToolCallDelta(0, "call_1", "draw_picture", '{"prompt": '),
          ToolCallDelta(0, arguments='"a cat"}'), ToolCallDelta(1, "call_2", "search_files", '{"q": "cats"}')]


@pytest.fixture
def served_fake():
    """chatapp serve's real app on a real port (uvicorn in a thread) over a scripted engine."""
    engine = FakeChatEngine()
    slot = Slot("chat", engine, engine.load(), ThreadPoolExecutor(max_workers=1))
    with serving_slots([slot]) as url:
        yield engine, slot, url


def test_serve_answers_a_tool_call_in_openais_shapes(served_fake):
    engine, slot, url = served_fake
    engine.enqueue(list(SCRIPT), list(SCRIPT))
    with openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60) as client:
        whole = client.chat.completions.create(model=slot.id, messages=[{"role": "user", "content": "draw a cat"}],
                                               tools=TOOLS)
        chunks = list(client.chat.completions.create(model=slot.id, stream=True, tools=TOOLS,
                                                     messages=[{"role": "user", "content": "draw a cat"}]))
    choice = whole.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Drawing it."
    assert [(c.id, c.type, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls] == \
        [("call_1", "function", "draw_picture", {"prompt": "a cat"}), ("call_2", "function", "search_files", {"q": "cats"})]
    parts = [p for ch in chunks for p in (ch.choices[0].delta.tool_calls or [])]
    assert [(p.index, p.id, p.type, p.function.name, p.function.arguments) for p in parts] == [
        (0, "call_1", "function", "draw_picture", '{"prompt": '), (0, None, None, None, '"a cat"}'),
        (1, "call_2", "function", "search_files", '{"q": "cats"}')]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "Drawing it."


def test_a_text_reply_streams_as_before(served_fake):
    """No tool call: plain content deltas, finish "stop", no tool_calls key anywhere."""
    engine, slot, url = served_fake
    engine.enqueue("just words here", "just words here")
    with openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60) as client:
        whole = client.chat.completions.create(model=slot.id, messages=[{"role": "user", "content": "hi"}])
        chunks = list(client.chat.completions.create(model=slot.id, stream=True,
                                                     messages=[{"role": "user", "content": "hi"}]))
    assert whole.choices[0].message.content == "just words here" and whole.choices[0].message.tool_calls is None
    assert whole.choices[0].finish_reason == "stop"
    assert [ch.choices[0].delta.content for ch in chunks] == ["", "just", " words", " here", None]
    assert all(ch.choices[0].delta.tool_calls is None for ch in chunks) and chunks[-1].choices[0].finish_reason == "stop"


def test_the_openai_engine_streams_a_servers_tool_call_as_the_same_events(served_fake):
    """Engine -> chatapp serve -> OpenAIChatEngine: the events that come out are the ones that went in."""
    engine, slot, url = served_fake
    engine.enqueue(list(SCRIPT))
    remote = OpenAIChatEngine(url, slot.id, timeout=60)
    remote.load()
    events = list(remote.stream([{"role": "user", "content": "draw a cat"}], GenParams(tools=TOOLS), lambda: False))
    assert events[:-1] == SCRIPT
    assert isinstance(events[-1], Usage) and events[-1].finish_reason == "tool_calls"
    assert Reply.of(events).tool_calls == [ToolCall("call_1", "draw_picture", '{"prompt": "a cat"}'),
                                           ToolCall("call_2", "search_files", '{"q": "cats"}')]


def test_the_reply_part_gathers_a_streamed_tool_call(qtbot, tmp_path):
    """Engine -> worker -> pump -> the session's reply part: the call's parts reach the GUI thread, joined."""
    from chatapp.message_log import MessageLog
    from chatapp.parts.replies import Replies
    from chatapp.settings import Settings
    from chatapp.storage import Storage
    from chatapp.workers.chat import LlmWorker
    storage, worker = Storage(tmp_path / "chats.db"), LlmWorker()
    worker.request_load(lambda: FakeChatEngine([list(SCRIPT)]))
    log = MessageLog(storage)
    replies = Replies(log, lambda _: None, worker)
    chat = storage.create_conversation("cats")
    question = log.add(chat.id, "user", "draw a cat")
    parts, ended = [], []
    replies.tool_call.connect(lambda message_id, part: parts.append((message_id, part)))
    replies.ended.connect(ended.append)
    try:
        rid, reply = replies.start(chat.id, question.id, waiting=True)
        calls = replies.active[rid].calls
        replies.request(rid, [{"role": "user", "content": question.content}], Settings().gen_params())
        qtbot.waitUntil(lambda: ended == [reply.id], timeout=30000)
        assert {message_id for message_id, _ in parts} == {reply.id}
        assert calls.tool_calls == [ToolCall("call_1", "draw_picture", '{"prompt": "a cat"}'),
                                    ToolCall("call_2", "search_files", '{"q": "cats"}')]
        assert storage.message(reply.id).content == "Drawing it."
    finally:
        assert worker.shutdown(5000)
        storage.close()
