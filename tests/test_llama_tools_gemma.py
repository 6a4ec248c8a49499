"""Gemma 4's tool calls (call:NAME{key:<|"|>text<|"|>}, not JSON) on the real engine: SmolLM2 with Gemma 4's template and
its markers as user-defined special tokens, as in Gemma 4's vocabulary."""
import json

import pytest

from chatapp.conversation import GenParams
from chatapp.engines.base import ChatStats
from chatapp.engines.llama import LlamaChatEngine
from chatapp.engines.tool_calls.formats import TOOL_FORMATS

from .test_llama_tools import ASK, TOOLS, assert_valid_calls, prompt_text, run
from .tool_model import GEMMA4_SPECIALS, GEMMA4_TEMPLATE, tool_model_path


@pytest.fixture(scope="module")
def engine():
    e = LlamaChatEngine(tool_model_path(template=GEMMA4_TEMPLATE, specials=GEMMA4_SPECIALS), n_ctx=2048)
    e.load()
    return e


@pytest.mark.real
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_required_calls_read_back_and_follow_the_schema(engine, seed):
    assert engine.capabilities.tools and engine._template.format is TOOL_FORMATS["gemma4"]
    assert engine._template.object_arguments
    reply, _ = run(engine, ASK, GenParams(tools=TOOLS, tool_choice="required", temperature=0.9, seed=seed,
                                          max_tokens=300, parallel_tool_calls=False))
    assert_valid_calls(reply)   # parsed from Gemma's syntax into JSON that the schema takes
    assert len(reply.tool_calls) == 1 and reply.text == ""


@pytest.mark.real
@pytest.mark.parametrize("temperature,seed", [(0.0, 1), (0.8, 2)])
def test_auto_starts_the_grammar_at_its_marker_token(engine, temperature, seed):
    marker = engine.llm.tokenize(b"<|tool_call>", add_bos=False, special=True)
    assert len(marker) == 1
    params = GenParams(tools=TOOLS, temperature=temperature, seed=seed, max_tokens=200, parallel_tool_calls=False,
                       logit_bias=((marker[0], 100.0),))
    reply, _ = run(engine, ASK, params)
    assert_valid_calls(reply)
    assert len(reply.tool_calls) == 1


@pytest.mark.real
def test_a_named_function_is_the_one_called(engine):
    choice = {"type": "function", "function": {"name": "get_weather"}}
    reply, _ = run(engine, ASK, GenParams(tools=TOOLS, tool_choice=choice, temperature=0.8, seed=5, max_tokens=300))
    assert_valid_calls(reply)
    assert [c.name for c in reply.tool_calls] == ["get_weather"]


@pytest.mark.real
def test_the_call_goes_back_in_gemmas_form_and_its_result_after_it(engine):
    reply, _ = run(engine, ASK, GenParams(tools=TOOLS, tool_choice="required", temperature=0.0, seed=1, max_tokens=300,
                                          parallel_tool_calls=False))
    call = reply.tool_calls[0]
    assert engine.warm_next_turn(reply.text) > 0
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call.openai()]},
               {"role": "tool", "tool_call_id": call.id, "content": "Drew #1."}]
    after = GenParams(tools=TOOLS, temperature=0.0, seed=1, max_tokens=8)
    text = prompt_text(engine, history, after)
    args = call.parsed_arguments()
    written = ",".join(f'{k}:<|"|>{v}<|"|>' if isinstance(v, str) else f"{k}:{json.dumps(v)}" for k, v in sorted(args.items()))
    assert f"<|tool_call>call:{call.name}{{{written}}}<tool_call|>" in text
    assert f"<|tool_response>response:{call.name}{{value:<|\"|>Drew #1.<|\"|>}}<tool_response|>" in text
    stats = ChatStats()
    list(engine.stream(history, after, lambda: False, stats))
    tail = 'Drew #1.<|"|>}<tool_response|>'   # the rest was warmed while the tool ran
    assert stats.prompt_tokens > 200
    assert stats.evaluated_prompt_tokens == len(engine.llm.tokenize(tail.encode(), add_bos=False, special=True))


@pytest.mark.real
def test_grammar_checked_last_writes_the_same_greedy_call_as_in_the_chain(engine, monkeypatch):
    """The chain picks first and the grammar checks only its pick, redrawing over the whole vocabulary on a
    refusal: a greedy call is the same token for token as with the grammar in the chain, and refusals happened
    (the redraw was exercised, not only the fast path)."""
    from chatapp.engines import llama_tools
    seen = []
    real = llama_tools.grammar_last
    monkeypatch.setattr(llama_tools, "grammar_last", lambda sampler, grammar: seen.append(real(sampler, grammar)) or seen[-1])
    params = GenParams(tools=TOOLS, tool_choice="required", temperature=0.0, seed=1, max_tokens=300, parallel_tool_calls=False)
    replies = {}
    for last in (True, False):
        monkeypatch.setattr(llama_tools.ReplyTools, "grammar_last", last)
        replies[last], _ = run(engine, ASK, params)
    assert_valid_calls(replies[True])
    assert [(c.name, c.arguments) for c in replies[True].tool_calls] == [(c.name, c.arguments) for c in replies[False].tool_calls]
    assert replies[True].usage.stats.completion_tokens == replies[False].usage.stats.completion_tokens
    assert len(seen) == 1 and seen[0].redrawn > 0 and seen[0].fitted > 0
