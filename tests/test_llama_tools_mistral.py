"""Mistral's tool calls on the real engine: SmolLM2 with Mistral Nemo's template ([TOOL_CALLS] as text) and with
Ministral 3's ([TOOL_CALLS] and [ARGS] as control tokens, as in Mistral's vocabularies)."""
import ctypes

import pytest

from chatapp.conversation import GenParams
from chatapp.engines.base import ChatStats
from chatapp.engines.llama import LlamaChatEngine
from chatapp.engines.llama_tools import ReplyTools
from chatapp.engines.tool_calls.formats import TOOL_FORMATS, short_ids

from .test_llama_tools import ASK, TOOLS, prompt_text, run
from .tool_model import MINISTRAL_TEMPLATE, MISTRAL_SPECIALS, NEMO_TEMPLATE, tool_model_path


def assert_valid_short_calls(reply, tools=TOOLS):
    import jsonschema
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    assert reply.tool_calls, f"no call in {reply.text!r}"
    for call in reply.tool_calls:
        assert call.name in schemas and len(call.id) == 9 and call.id.isalnum()
        jsonschema.validate(call.parsed_arguments(), schemas[call.name])
    assert reply.usage.finish_reason == "tool_calls" and reply.text == ""


@pytest.fixture(scope="module")
def nemo():
    e = LlamaChatEngine(tool_model_path(template=NEMO_TEMPLATE), n_ctx=2048)
    e.load()
    return e


@pytest.fixture(scope="module")
def ministral():
    e = LlamaChatEngine(tool_model_path(template=MINISTRAL_TEMPLATE, specials=MISTRAL_SPECIALS), n_ctx=2048)
    e.load()
    return e


@pytest.mark.real
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nemo_calls_written_as_text_are_valid_with_short_ids(nemo, seed):
    assert nemo.capabilities.tools and nemo._template.format is TOOL_FORMATS["mistral-nemo"] and nemo._template.short_ids
    assert len(nemo.llm.tokenize(b"[TOOL_CALLS]", add_bos=False, special=True)) > 1   # text in SmolLM2's vocabulary
    reply, _ = run(nemo, ASK, GenParams(tools=TOOLS, tool_choice="required", temperature=0.9, seed=seed, max_tokens=300,
                                        parallel_tool_calls=False))
    assert_valid_short_calls(reply)
    assert len(reply.tool_calls) == 1


@pytest.mark.real
def test_nemo_named_function_in_parallel_mode_is_one_call_of_it(nemo):
    choice = {"type": "function", "function": {"name": "get_weather"}}
    reply, _ = run(nemo, ASK, GenParams(tools=TOOLS, tool_choice=choice, temperature=0.8, seed=4, max_tokens=300))
    assert_valid_short_calls(reply)
    assert [c.name for c in reply.tool_calls] == ["get_weather"]


@pytest.mark.real
def test_nemo_takes_a_history_with_openai_ids_and_reuses_its_prefix(nemo):
    """A `chatapp serve` caller's (or another engine's) `call_...` ids: Nemo's template raises on them; mapped,
    the result goes back and the next turn evaluates only what follows the warmed head."""
    forced = GenParams(tools=TOOLS, tool_choice="required", parallel_tool_calls=False, temperature=0.0, seed=1,
                       max_tokens=300)
    reply, _ = run(nemo, ASK, forced)
    call = reply.tool_calls[0].openai()
    assert nemo.warm_next_turn(reply.text) > 0
    # The engine's own id goes back as it is.
    own = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call]},
           {"role": "tool", "tool_call_id": call["id"], "content": "Drew #1."}]
    after = GenParams(tools=TOOLS, temperature=0.0, seed=1, max_tokens=8)
    assert f'"id": "{call["id"]}"}}]' in prompt_text(nemo, own, after)
    stats = ChatStats()
    list(nemo.stream(own, after, lambda: False, stats))
    # Only the result's text and what follows it were evaluated: the rest was warmed while the tool ran.
    tail = ' Drew #1., "call_id": "%s"}[/TOOL_RESULTS]' % call["id"]
    assert stats.prompt_tokens > 300
    assert stats.evaluated_prompt_tokens == len(nemo.llm.tokenize(tail.encode(), add_bos=False, special=True))
    # A foreign id: mapped the same way in the call and its result.
    foreign = {**call, "id": "call_5e1f0a9b8c7d6e5f4a3b2c1d"}
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [foreign]},
               {"role": "tool", "tool_call_id": foreign["id"], "content": "Drew #1."}]
    short = short_ids(history)[-1]["tool_call_id"]
    text = prompt_text(nemo, history, after)
    assert f'"id": "{short}"}}]' in text and f'"call_id": "{short}"}}[/TOOL_RESULTS]' in text and "call_5e1f" not in text
    reply, _ = run(nemo, history, after)
    assert reply.usage.finish_reason in ("stop", "length", "tool_calls")


def pick(llm, chain, logits: dict[str, float]) -> str:
    """What the whole chain picks among these one-token texts (applied only: no token is accepted)."""
    import llama_cpp
    ids = {}
    for text in logits:
        tokens = llm.tokenize(text.encode(), add_bos=False, special=False)
        assert len(tokens) == 1, f"{text!r} is {len(tokens)} tokens in this vocabulary"
        ids[tokens[0]] = text
    data = (llama_cpp.llama_token_data * len(ids))(*[llama_cpp.llama_token_data(t, logits[x], 0.0) for t, x in ids.items()])
    array = llama_cpp.llama_token_data_array(data, len(ids), -1, False)
    llama_cpp.llama_sampler_apply(chain.sampler, ctypes.byref(array))
    return ids[data[array.selected].id]


@pytest.mark.real
@pytest.mark.parametrize("grammar_last", [True, False])
def test_the_text_marker_starts_the_grammar_across_its_tokens(nemo, grammar_last, monkeypatch):
    """"auto" with the marker written as eight text tokens: before its last one the chain picks freely; after
    it only the call's opening "[" is possible, though "Sure" is likelier (grammar checked last, or in the chain)."""
    monkeypatch.setattr(ReplyTools, "grammar_last", grammar_last)
    tools = ReplyTools(nemo._template, GenParams(tools=TOOLS, temperature=0.0, seed=1))
    llm = nemo.llm
    chain = llm._init_sampler(top_k=40, top_p=0.95, min_p=0.05, typical_p=1.0, temp=0.0, tfs_z=1.0, mirostat_mode=0,
                              mirostat_tau=5.0, mirostat_eta=0.1, frequency_penalty=0.0, presence_penalty=0.0,
                              repeat_penalty=1.0)
    tools.sampler(llm, chain)
    logits = {"Sure": 5.0, " [": 3.0, "{": 2.0, "[": 1.0}
    tokens = llm.tokenize(b"Sure. [TOOL_CALLS]", add_bos=False, special=True)
    for token in tokens[:-1]:
        tools.watch(token, nemo._piece(token))
        assert pick(llm, chain, logits) == "Sure"
    assert tools.watch(tokens[-1], nemo._piece(tokens[-1])) == nemo._piece(tokens[-1])   # text stays as it is
    assert pick(llm, chain, logits) == "["
    assert (tools.grammar_stats is not None) == grammar_last


@pytest.mark.real
@pytest.mark.parametrize("temperature,seed", [(0.0, 1), (0.8, 1), (0.8, 2)])
def test_ministral_auto_starts_the_grammar_at_its_special_token(ministral, temperature, seed):
    assert ministral._template.format is TOOL_FORMATS["mistral-args"] and not ministral._template.short_ids
    marker = ministral.llm.tokenize(b"[TOOL_CALLS]", add_bos=False, special=True)
    assert len(marker) == 1 and ministral.llm._model.detokenize(marker) == b""   # a control token, hidden as plain text
    params = GenParams(tools=TOOLS, temperature=temperature, seed=seed, max_tokens=200, parallel_tool_calls=False,
                       logit_bias=((marker[0], 100.0),))
    reply, _ = run(ministral, ASK, params)
    assert_valid_short_calls(reply)   # the token is pushed everywhere, into the arguments too: the grammar kept them valid
    assert len(reply.tool_calls) == 1


@pytest.mark.real
@pytest.mark.parametrize("seed", [1, 2])
def test_ministral_required_calls_are_valid(ministral, seed):
    reply, _ = run(ministral, ASK, GenParams(tools=TOOLS, tool_choice="required", temperature=0.9, seed=seed,
                                             max_tokens=300, parallel_tool_calls=False))
    assert_valid_short_calls(reply)
    text = prompt_text(ministral, [*ASK, {"role": "assistant", "content": None, "tool_calls": [reply.tool_calls[0].openai()]},
                                   {"role": "tool", "tool_call_id": reply.tool_calls[0].id, "content": "ok"}],
                       GenParams(tools=TOOLS))
    call = reply.tool_calls[0]
    assert f"[TOOL_CALLS]{call.name}[ARGS]{call.arguments}<|im_end|>[TOOL_RESULTS]ok[/TOOL_RESULTS]" in text
