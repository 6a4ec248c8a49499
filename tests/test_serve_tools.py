"""`chatapp serve` takes tools as OpenAI does (tools, tool_choice, parallel_tool_calls, tool messages), and
the remote engine sends them: the real `openai` client, the real app on loopback, scripted engines."""
from __future__ import annotations

import json

import httpx
import openai
import pytest

from chatapp.conversation import GenParams
from chatapp.engines.base import ChatCapabilities, EngineError
from chatapp.engines.events import Reply, TextDelta, ToolCall, ToolCallDelta, calls_named_once
from chatapp.engines.fake import FakeChatEngine
from chatapp.engines.openai_chat import OpenAIChatEngine

from .remote_servers import serving_chat_engines

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.", "strict": True,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
ASK = {"role": "user", "content": "What is the weather in Oslo?"}
CALL = [TextDelta("Let me look."), ToolCallDelta(0, "call_w1", "get_weather", '{"city": '),
        ToolCallDelta(0, arguments='"Oslo"}')]
CALLED = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
RESULT = {"role": "tool", "tool_call_id": "call_w1", "content": "Sunny, 21 C"}
# What the engine is given for that history: OpenAI's shapes (the text of a call-only message is "").
ENGINE_HISTORY = [ASK, {**CALLED, "content": ""}, RESULT]


def test_each_call_is_named_once_with_an_id():
    """llama-cpp-python's server repeats the id and name in every chunk; a model may give no id: the
    events say each once, on the call's first part, as ToolCallDelta promises (and OpenAI streams)."""
    parts = [ToolCallDelta(0, "call_a", "get_weather", '{"city"'),
             ToolCallDelta(0, "call_a", "get_weather", ': "Oslo"}'),
             TextDelta("and"), ToolCallDelta(1, "", "get_time", ""), ToolCallDelta(1, "", "get_time", "{}")]
    out = list(calls_named_once(parts))
    assert out[:3] == [parts[0], ToolCallDelta(0, arguments=': "Oslo"}'), TextDelta("and")]
    assert out[3].id.startswith("call_") and out[3].name == "get_time" and out[4] == ToolCallDelta(1, arguments="{}")
    assert Reply.of(out).tool_calls[0] == ToolCall("call_a", "get_weather", '{"city": "Oslo"}')


class RecordingEngine(FakeChatEngine):
    """The scripted chat engine, keeping each reply's parameters too."""

    def __init__(self):
        super().__init__()
        self.params: list[GenParams] = []

    def stream(self, messages, params, should_stop, stats=None):
        self.params.append(params)
        return super().stream(messages, params, should_stop, stats)


class NoToolsEngine(RecordingEngine):
    capabilities = ChatCapabilities()   # a model whose template takes no tools


@pytest.fixture(scope="module")
def served():
    """Two chat models on one server: "caller" can call tools, "plain" cannot."""
    engines = {"caller": RecordingEngine(), "plain": NoToolsEngine()}
    with serving_chat_engines(engines) as url:
        yield engines, url


@pytest.fixture
def client(served):
    with openai.OpenAI(base_url=served[1], api_key="unused", max_retries=0, timeout=60) as c:
        yield c


@pytest.fixture
def caller(served):
    engine = served[0]["caller"]
    engine.replies.clear()
    return engine


@pytest.fixture
def plain(served):
    return served[0]["plain"]


def test_a_tool_call_comes_back_with_its_id_and_finish_reason(client, caller):
    caller.enqueue(list(CALL))
    r = client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER, CLOCK])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me look."
    assert [(c.id, c.type, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls] == \
        [("call_w1", "function", "get_weather", {"city": "Oslo"})]
    params = caller.params[-1]   # the tools reach the engine as sent; tool_choice defaults to "auto"
    assert params.tools == (WEATHER, CLOCK) and params.tool_choice == "auto" and params.parallel_tool_calls is True


def test_call_result_answer_streamed_through_the_clients_own_assembler(client, caller):
    """client.chat.completions.stream joins our chunks (ChatCompletionStreamState): a second opinion on
    their shape; then the result goes back in the history and the answer streams as text."""
    caller.enqueue(list(CALL), "It is sunny in Oslo.")
    with client.chat.completions.stream(model="caller", messages=[ASK], tools=[WEATHER]) as stream:
        events = [e.type for e in stream]
        first = stream.get_final_completion()
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and "tool_calls.function.arguments.done" in events
    assert (call.id, call.function.name, call.function.parsed_arguments) == ("call_w1", "get_weather", {"city": "Oslo"})
    history = [ASK, {"role": "assistant", "content": first.choices[0].message.content,
                     "tool_calls": [{"id": call.id, "type": "function",
                                     "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
               RESULT]
    chunks = list(client.chat.completions.create(model="caller", messages=history, tools=[WEATHER], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "It is sunny in Oslo."
    assert chunks[-1].choices[0].finish_reason == "stop" and not any(c.choices[0].delta.tool_calls for c in chunks)
    assert caller.received[-1] == [ASK, {"role": "assistant", "content": "Let me look.",
                                         "tool_calls": CALLED["tool_calls"]}, RESULT]


def test_a_tool_result_reaches_the_engine_in_openais_shape(client, caller):
    caller.enqueue("It is sunny in Oslo.")
    r = client.chat.completions.create(model="caller", messages=[ASK, CALLED, RESULT], tools=[WEATHER])
    assert r.choices[0].message.content == "It is sunny in Oslo." and r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason == "stop"
    assert caller.received[-1] == ENGINE_HISTORY


def test_calls_without_ids_get_them_and_parallel_calls_stream_by_index(client, caller):
    """A model that names no id still gives the client one per call (a tool result must name it)."""
    script = [ToolCallDelta(0, "", "get_time", "{}"), ToolCallDelta(1, "", "get_weather", '{"city": "Oslo"}')]
    caller.enqueue(list(script), list(script))
    whole = client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER, CLOCK])
    ids = [c.id for c in whole.choices[0].message.tool_calls]
    assert len(set(ids)) == 2 and all(i.startswith("call_") for i in ids)
    assert whole.choices[0].message.content is None
    chunks = list(client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER, CLOCK], stream=True))
    parts = [p for c in chunks for p in c.choices[0].delta.tool_calls or ()]
    assert [(p.index, p.type, p.function.name) for p in parts] == [(0, "function", "get_time"),
                                                                   (1, "function", "get_weather")]
    assert all(p.id and p.id.startswith("call_") for p in parts) and parts[0].id != parts[1].id


def test_a_call_to_a_function_not_offered_goes_out_as_text(client, caller):
    """A model's invented function is never sent as a call the client cannot run (llama.cpp keeps such
    a call as content too); the offered calls keep consecutive indexes."""
    script = [ToolCallDelta(0, "c0", "launch_rockets", '{"n": '), ToolCallDelta(0, arguments="3}"),
              ToolCallDelta(1, "c1", "get_weather", '{"city": "Oslo"}')]
    caller.enqueue(list(script), list(script), [ToolCallDelta(0, "c0", "launch_rockets", "")])
    whole = client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER])
    message = whole.choices[0].message
    assert [(c.id, c.function.name) for c in message.tool_calls] == [("c1", "get_weather")]
    assert message.content == '{"name": "launch_rockets", "arguments": {"n": 3}}'
    assert whole.choices[0].finish_reason == "tool_calls"
    chunks = list(client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER], stream=True))
    assert [(p.index, p.id) for c in chunks for p in c.choices[0].delta.tool_calls or ()] == [(0, "c1")]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == message.content
    alone = client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER])
    assert alone.choices[0].message.tool_calls is None and alone.choices[0].finish_reason == "stop"
    assert alone.choices[0].message.content == '{"name": "launch_rockets", "arguments": {}}'


def test_malformed_arguments_reach_the_client_as_the_model_wrote_them(client, caller):
    """OpenAI's documented behaviour: arguments are the model's JSON text, which the caller validates."""
    caller.enqueue([ToolCallDelta(0, "c0", "get_weather", '{"city": ')])
    whole = client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER])
    assert whole.choices[0].message.tool_calls[0].function.arguments == '{"city": '


def test_tool_choice_and_parallel_tool_calls_reach_the_engine(client, caller):
    caller.enqueue(list(CALL), list(CALL))
    client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER, CLOCK], parallel_tool_calls=False,
                                   tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert caller.params[-1].tool_choice == {"type": "function", "function": {"name": "get_weather"}}
    assert caller.params[-1].parallel_tool_calls is False
    client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER], tool_choice="required")
    assert caller.params[-1].tool_choice == "required" and caller.params[-1].parallel_tool_calls is True
    # One call at a time asked for, two made: the client gets the first; the second as text, not dropped.
    caller.enqueue([ToolCallDelta(0, "c0", "get_time", "{}"),
                    ToolCallDelta(1, "c1", "get_weather", '{"city": "Oslo"}')])
    r = client.chat.completions.create(model="caller", messages=[ASK], tools=[WEATHER, CLOCK],
                                       parallel_tool_calls=False)
    assert [c.function.name for c in r.choices[0].message.tool_calls] == ["get_time"]
    assert r.choices[0].message.content == '{"name": "get_weather", "arguments": {"city": "Oslo"}}'


def test_a_model_that_cannot_call_tools_refuses_them_by_name(client, plain):
    before = len(plain.received)
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="plain", messages=[ASK], tools=[WEATHER], stream=stream)
        assert caught.value.param == "tools" and "'plain' cannot call tools" in caught.value.message
    assert len(plain.received) == before   # refused before the model ran


def test_tool_choice_none_lets_a_plain_model_answer_with_the_calls_as_text(client, plain):
    """tool_choice "none": no tools for this reply, so a model that cannot call them may answer; the
    earlier calls and results reach it folded into plain text."""
    plain.enqueue("Sunny, it says.")
    r = client.chat.completions.create(model="plain", messages=[ASK, CALLED, RESULT], tools=[WEATHER],
                                       tool_choice="none")
    assert r.choices[0].message.content == "Sunny, it says." and plain.params[-1].tools == ()
    assert plain.params[-1].tool_choice == "none"
    assert plain.received[-1] == [ASK, {"role": "assistant", "content": '[tool call] get_weather {"city": "Oslo"}'
                                                                         "\n\n[tool result] get_weather: Sunny, 21 C"}]


def _call(call_id="call_w1", **function):
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": call_id, "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}", **function}}]}


def _tool(call_id="call_w1"):
    return {"role": "tool", "tool_call_id": call_id, "content": "sunny"}


def _named(name):
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}


def _with_parameters(parameters):
    return [{"type": "function", "function": {"name": "f", "parameters": parameters}}]


@pytest.mark.parametrize("fields, param, words", [
    ({"messages": [ASK, _tool()]}, "messages.[1].role",
     "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'"),
    ({"messages": [ASK, _call(), _tool("call_other")]}, "messages.[2].tool_call_id",
     "'tool_call_id' of 'call_other' not found in 'tool_calls' of previous message"),
    ({"messages": [ASK, _call(), ASK]}, "messages.[1].role",
     "The following tool_call_ids did not have response messages: call_w1"),
    ({"messages": [ASK, _call()]}, "messages.[1].role", "must be followed by tool messages"),
    ({"messages": [ASK, _call(), {"role": "tool", "content": "sunny"}]}, "messages.[2].tool_call_id",
     "Missing required parameter"),
    ({"messages": [ASK, {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}]},
     "messages.1.tool_calls.0.function.arguments", "Field required"),
    ({"tool_choice": {"type": "function", "function": {"name": "get_time"}}}, "tool_choice",
     "no function named 'get_time' among 'tools' (get_weather)"),
    ({"tool_choice": "sometimes"}, "tool_choice", "Supported values are: 'none', 'auto', and 'required'"),
    ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {}}}, "tool_choice", "'allowed_tools'"),
    ({"tools": None, "tool_choice": "required"}, "tool_choice", "only allowed when 'tools' are specified"),
    ({"tools": None, "parallel_tool_calls": False}, "parallel_tool_calls", "only allowed when 'tools' are specified"),
    ({"tools": [_named("get weather")]}, "tools[0].function.name", "string does not match pattern"),
    ({"tools": [_named("x" * 65)]}, "tools[0].function.name", "string too long"),
    ({"tools": [WEATHER, WEATHER]}, "tools[1].function.name", "already the name of tools[0]"),
    ({"tools": [{"type": "custom", "custom": {"name": "f"}}]}, "tools[0].type", "'custom'"),
    ({"tools": [_named(f"f{i}") for i in range(129)]}, "tools", "array too long"),
    ({"tools": _with_parameters({"type": "string"})}, "tools[0].function.parameters",
     "Invalid schema for function 'f': schema must be a JSON Schema of 'type: \"object\"'"),
    ({"tools": _with_parameters({"type": "object", "properties": {"a": {"type": "strnig"}}})},
     "tools[0].function.parameters", "'strnig' is not a JSON Schema type"),
    ({"tools": _with_parameters({"type": "object", "required": "a"})}, "tools[0].function.parameters",
     "'required' must be a list"),
    ({"functions": [{"name": "f"}]}, "functions", "'functions' is not supported"),
    ({"reasoning_effort": "high"}, "reasoning_effort", "'reasoning_effort' is not supported"),
    ({"response_format": {"type": "json_object"}}, "response_format", "not both"),
])
def test_malformed_tool_requests_are_refused_in_openais_words(served, caller, fields, param, words):
    body = {"model": "caller", "messages": [ASK], "tools": [WEATHER], **fields}
    body = {k: v for k, v in body.items() if v is not None}
    before = len(caller.received)
    r = httpx.post(served[1] + "/chat/completions", json=body, timeout=30, trust_env=False)
    error = r.json()["error"]
    assert r.status_code == 400 and error["type"] == "invalid_request_error", r.text
    assert error["param"] == param and words in error["message"], error
    assert len(caller.received) == before


def test_the_remote_engine_calls_tools_through_chatapp_serve(served, caller):
    """The app's remote path end to end: OpenAIChatEngine sends the tools, streams the call back as
    events, then sends the history with the result (the desktop's shape: content None beside calls)."""
    caller.enqueue(list(CALL), "It is sunny in Oslo.")
    remote = OpenAIChatEngine(served[1], "caller", timeout=60)
    remote.load()
    assert remote.capabilities.tools
    params = GenParams(tools=(WEATHER,), tool_choice="required", parallel_tool_calls=False)
    events = list(remote.stream([ASK], params, lambda: False))
    reply = Reply.of(events)
    assert reply.text == "Let me look." and reply.usage.finish_reason == "tool_calls"
    assert reply.tool_calls == [ToolCall("call_w1", "get_weather", '{"city": "Oslo"}')]
    sent = caller.params[-1]
    assert (sent.tools, sent.tool_choice, sent.parallel_tool_calls) == ((WEATHER,), "required", False)
    answer = Reply.of(remote.stream([ASK, CALLED, RESULT], GenParams(tools=(WEATHER,)), lambda: False))
    assert answer.text == "It is sunny in Oslo." and answer.usage.finish_reason == "stop"
    assert caller.received[-1] == ENGINE_HISTORY


def test_the_remote_engine_words_a_server_that_refuses_tools(served, plain):
    """A call required of a model that cannot call tools: the server's refusal, worded with what to do."""
    remote = OpenAIChatEngine(served[1], "plain", timeout=60)
    remote.load()
    with pytest.raises(EngineError, match="would not offer tools to 'plain'.*cannot call tools.*turn tools off"):
        list(remote.stream([ASK], GenParams(tools=(WEATHER,), tool_choice="required"), lambda: False))
    assert remote.capabilities.tools   # nothing learnt from a request that had to call


def test_with_auto_the_remote_engine_asks_again_without_tools_and_offers_none_after(served, plain):
    """tool_choice "auto" lets the model answer in words: a server whose model cannot call tools is asked
    again without them, and the engine says it cannot call tools from then on (the chat worker reads it
    before each reply, so a desktop on such a server keeps working)."""
    remote = OpenAIChatEngine(served[1], "plain", timeout=60)
    remote.load()
    plain.enqueue("Hello.")
    before = len(plain.received)
    reply = Reply.of(remote.stream([ASK], GenParams(tools=(WEATHER,)), lambda: False))
    assert reply.text == "Hello." and reply.usage.finish_reason == "stop" and len(plain.received) == before + 1
    assert not remote.capabilities.tools and OpenAIChatEngine.capabilities.tools
    remote.load()   # connecting again (Settings saved, the server back) asks afresh
    assert remote.capabilities.tools
