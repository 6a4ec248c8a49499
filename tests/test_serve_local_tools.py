"""`chatapp serve` over a real GGUF whose template takes tools (SmolLM2 with Qwen2.5's template) and one whose
template does not, with the real `openai` client: call -> result -> answer, streamed and not."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace

import jsonschema
import openai
import pytest

from chatapp.engines.defaults import default_llm_path
from chatapp.engines.llama import LlamaChatEngine
from chatapp.serve.app import Slot

from .remote_servers import serving_slots
from .test_llama_tools import ASK, DRAW, TOOLS, WEATHER
from .tool_model import tool_model_path

pytestmark = pytest.mark.real


@contextmanager
def serving_models(named_paths):
    """`chatapp serve` on loopback with one real chat engine per (model name, GGUF path): its base URL."""
    slots = []
    for name, path in named_paths:
        engine = LlamaChatEngine(path, n_ctx=2048)
        slots.append(Slot("chat", engine, replace(engine.load(), name=name), ThreadPoolExecutor(max_workers=1)))
    with serving_slots(slots) as u:
        yield u


@pytest.fixture(scope="module")
def url():
    with serving_models((("caller", tool_model_path()), ("plain", default_llm_path()))) as u:
        yield u


@pytest.fixture
def client(url):
    with openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120) as c:
        yield c


def valid(call) -> dict:
    schema = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}[call.function.name]
    args = json.loads(call.function.arguments)
    jsonschema.validate(args, schema)
    return args


def test_required_call_result_and_answer(client):
    first = client.chat.completions.create(model="caller", messages=ASK, tools=list(TOOLS), tool_choice="required",
                                           temperature=0.0, seed=1, max_tokens=300, parallel_tool_calls=False)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    valid(call)
    assert call.id and call.type == "function"
    history = [*ASK, {"role": "assistant", "content": choice.message.content, "tool_calls": [
        {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "Done: a lighthouse at dusk, 512x512."}]
    answer = client.chat.completions.create(model="caller", messages=history, tools=list(TOOLS), tool_choice="none",
                                            temperature=0.0, seed=1, max_tokens=24)
    assert answer.choices[0].message.content and answer.choices[0].message.tool_calls is None
    assert answer.choices[0].finish_reason in ("stop", "length")


def test_a_named_function_streamed_through_the_clients_own_assembler(client):
    with client.chat.completions.stream(model="caller", messages=ASK, tools=list(TOOLS), temperature=0.8, seed=3,
                                        max_tokens=300, tool_choice={"type": "function",
                                                                     "function": {"name": "get_weather"}}) as stream:
        kinds = {e.type for e in stream}
        done = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in kinds
    calls = done.choices[0].message.tool_calls
    assert done.choices[0].finish_reason == "tool_calls" and [c.function.name for c in calls] == ["get_weather"]
    assert set(valid(calls[0])) <= {"city", "unit"}


def test_a_model_whose_template_takes_no_tools_is_refused_by_name(client):
    with pytest.raises(openai.BadRequestError, match="plain"):
        client.chat.completions.create(model="plain", messages=ASK, tools=[WEATHER, DRAW], max_tokens=8)
    plain = client.chat.completions.create(model="plain", messages=ASK, max_tokens=8, temperature=0.0)
    assert plain.choices[0].message.content


def test_the_remote_engine_through_a_chatapp_serve_process_over_the_tool_model(tmp_path):
    """The app's remote path end to end on a real model: `chatapp serve --llm-model` (its own load, the
    template probe) as a process; OpenAIChatEngine asks with tool_choice "required" and a fixed seed, the
    grammar keeps the streamed call valid, and the result goes back for an answer in words."""
    from chatapp.conversation import GenParams
    from chatapp.engines.events import Reply
    from chatapp.engines.openai_chat import OpenAIChatEngine

    from .remote_servers import serving
    with serving(lambda port: ["-m", "chatapp", "serve", "--port", str(port), "--no-image",
                               "--llm-model", str(tool_model_path())], tmp_path / "serve.log") as served:
        remote = OpenAIChatEngine(served, timeout=120)
        remote.load()
        forced = GenParams(tools=TOOLS, tool_choice="required", parallel_tool_calls=False, temperature=0.7, seed=2,
                           max_tokens=300)
        reply = Reply.of(remote.stream(ASK, forced, lambda: False))
        [call] = reply.tool_calls
        assert reply.usage.finish_reason == "tool_calls" and call.id.startswith("call_")
        jsonschema.validate(call.parsed_arguments(), {t["function"]["name"]: t["function"]["parameters"]
                                                      for t in TOOLS}[call.name])
        history = [*ASK, {"role": "assistant", "content": reply.text or None, "tool_calls": [call.openai()]},
                   {"role": "tool", "tool_call_id": call.id, "content": "Done."}]
        answer = Reply.of(remote.stream(history, replace(forced, tool_choice="none", max_tokens=24), lambda: False))
    assert answer.text.strip() and not answer.tool_calls and answer.usage.finish_reason in ("stop", "length")
