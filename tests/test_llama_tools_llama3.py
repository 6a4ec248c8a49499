"""Llama 3.x's tool calls (the reply is the call, JSON from its first character) on SmolLM2 with a Llama-3-style template."""
import json

import pytest

from chatapp.conversation import GenParams
from chatapp.engines.base import ChatStats
from chatapp.engines.llama import LlamaChatEngine
from chatapp.engines.tool_calls.formats import TOOL_FORMATS, probe
from chatapp.engines.tool_calls.parser import call_parser
from chatapp.engines.tool_calls.grammar import calls_gbnf

from .test_llama_tools import ASK, TOOLS, _renderer, assert_valid_calls, feed_all, prompt_text, run
from .tool_model import LLAMA3_TEMPLATE, tool_model_path

LLAMA3 = TOOL_FORMATS["llama3-json"]


def test_probe_finds_the_json_at_the_replys_start():
    found = probe(_renderer(LLAMA3_TEMPLATE.read_text()))
    assert found.takes_tools and found.object_arguments and found.format is LLAMA3


@pytest.mark.parametrize("pieces", [[' {"na', 'me": "f", "parameters": {"a": 1}}'], ['{"name": "f", "parameters": {"a": 1}}']])
def test_a_reply_that_opens_as_a_call_is_one(pieces):
    reply = feed_all(call_parser(LLAMA3, ["f"]), pieces)
    assert reply.text == "" and [(c.name, c.parsed_arguments()) for c in reply.tool_calls] == [("f", {"a": 1})]


def test_prose_streams_from_its_first_letter_and_is_never_a_call():
    parser = call_parser(LLAMA3, ["f"])
    assert parser.feed("\n") == [] and parser.feed(" {") == []
    events = parser.feed("x and more")
    assert "".join(e.text for e in events) == '\n {x and more'
    rest = parser.feed(' {"name": "f", "parameters": {}}')
    assert rest and parser.finish() == [] and parser.calls == 0


def test_one_call_a_turn_whatever_parallel_tool_calls_says():
    gbnf = calls_gbnf(LLAMA3, list(TOOLS), parallel=True)
    assert gbnf.rstrip().endswith("root ::= call") and 'call ::= call-ws "{\\"name\\": \\"" call-named' in gbnf
    assert calls_gbnf(LLAMA3, list(TOOLS), True, after='{"').rstrip().endswith('root ::= "name\\": \\"" call-named')
    assert calls_gbnf(LLAMA3, list(TOOLS), True, after="Sure") is None


@pytest.fixture(scope="module")
def engine():
    e = LlamaChatEngine(tool_model_path(template=LLAMA3_TEMPLATE), n_ctx=2048)
    e.load()
    return e


@pytest.mark.real
@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
@pytest.mark.parametrize("seed", [1, 2])
def test_forced_calls_are_valid(engine, choice, seed):
    assert engine.capabilities.tools and engine._template.format is LLAMA3
    reply, _ = run(engine, ASK, GenParams(tools=TOOLS, tool_choice=choice, temperature=0.8, seed=seed, max_tokens=300))
    assert_valid_calls(reply)
    assert len(reply.tool_calls) == 1 and reply.text == ""
    assert isinstance(choice, str) or reply.tool_calls[0].name == "get_weather"


@pytest.mark.real
def test_auto_starts_the_grammar_at_an_opening_brace(engine):
    brace = engine.llm.tokenize(b"{", add_bos=False, special=True)
    params = GenParams(tools=TOOLS, temperature=0.0, seed=1, max_tokens=300, logit_bias=((brace[0], 100.0),))
    reply, _ = run(engine, ASK, params)
    assert_valid_calls(reply)   # "{" pushed everywhere: only the grammar kept the arguments valid JSON


@pytest.mark.real
def test_the_result_comes_back_as_ipython_and_the_head_was_warmed(engine):
    reply, _ = run(engine, ASK, GenParams(tools=TOOLS, tool_choice="required", temperature=0.0, seed=1, max_tokens=300))
    call = reply.tool_calls[0]
    assert engine.warm_next_turn(reply.text) > 0
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call.openai()]},
               {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C."}]
    after = GenParams(tools=TOOLS, temperature=0.0, seed=1, max_tokens=8)
    text = prompt_text(engine, history, after)
    assert f'{{"name": "{call.name}", "parameters": {json.dumps(call.parsed_arguments())}}}<|eot_id|>' in text
    assert "<|start_header_id|>ipython<|end_header_id|>\n\nSunny, 21 C.<|eot_id|>" in text
    stats = ChatStats()
    list(engine.stream(history, after, lambda: False, stats))
    tail = "Sunny, 21 C.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    assert stats.evaluated_prompt_tokens == len(engine.llm.tokenize(tail.encode(), add_bos=False, special=True))
