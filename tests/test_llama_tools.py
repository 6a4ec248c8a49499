"""Local tool calling: the template probe, the call parser and grammar, and the real engine on SmolLM2 with Qwen2.5's template."""
import json

import pytest

from chatapp.conversation import GenParams
from chatapp.engines.base import ChatStats, EngineError
from chatapp.engines.defaults import default_llm_path
from chatapp.engines.events import Reply, TextDelta, ToolCallDelta, Usage
from chatapp.engines.llama import LlamaChatEngine
from chatapp.engines.tool_calls.formats import TOOL_FORMATS, TemplateTools, history_for_template, probe
from chatapp.engines.tool_calls.parser import CallParser
from chatapp.engines.tool_calls.grammar import calls_gbnf

from .tool_model import TEMPLATE, tool_model_path

HERMES = TOOL_FORMATS["hermes"]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 40},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}
DRAW = {"type": "function", "function": {
    "name": "draw_picture", "description": "Draw a picture from a text prompt.",
    "parameters": {"type": "object", "properties": {
        "prompt": {"type": "string", "minLength": 1, "maxLength": 60},
        "width": {"type": "integer", "enum": [256, 512, 768]},
        "steps": {"type": "integer", "enum": [10, 20]}}, "required": ["prompt", "width"]}}}
TOOLS = (WEATHER, DRAW)
ASK = [{"role": "system", "content": "You are a helpful assistant."},
       {"role": "user", "content": "Draw me a lighthouse at dusk, please."}]


def feed_all(parser, pieces):
    events = [e for p in pieces for e in parser.feed(p)]
    return Reply.of([*events, *parser.finish()])


def test_text_before_a_call_streams_and_the_marker_is_held_back():
    parser = CallParser(HERMES, ["get_weather"])
    assert parser.feed("Sure. <to") == [TextDelta("Sure. ")]
    assert parser.feed("ol_call>\n{\"name\": \"get_weather\", ") == []
    events = parser.feed('"arguments": {"city": "Paris"}}\n</tool_call>')
    assert [type(e) for e in events] == [ToolCallDelta, ToolCallDelta]
    assert events[0].index == 0 and events[0].name == "get_weather" and events[0].id.startswith("call_")
    assert json.loads(events[1].arguments) == {"city": "Paris"} and not events[1].name
    assert parser.finish() == [] and parser.calls == 1


def test_a_held_prefix_that_is_no_marker_comes_out_as_text():
    reply = feed_all(CallParser(HERMES, ["f"]), ["a <to", "ol> b", " <tool"])
    assert reply.text == "a <tool> b <tool" and reply.tool_calls == []


def test_two_calls_and_the_whitespace_between_them():
    call = '<tool_call>\n{"name": "%s", "arguments": %s}\n</tool_call>'
    text = "\n" + call % ("get_weather", '{"city": "Oslo"}') + "\n" + call % ("draw_picture", '{"prompt": "x"}') + "\n"
    reply = feed_all(CallParser(HERMES, ["get_weather", "draw_picture"]), [text[i:i + 7] for i in range(0, len(text), 7)])
    assert reply.text == ""
    assert [(c.name, c.parsed_arguments()) for c in reply.tool_calls] == [("get_weather", {"city": "Oslo"}),
                                                                         ("draw_picture", {"prompt": "x"})]
    assert len({c.id for c in reply.tool_calls}) == 2


@pytest.mark.parametrize("body", ['{"name": "unknown_tool", "arguments": {}}', '{"name": "f", "arguments": [1]}',
                                  "not json at all"])
def test_what_is_no_call_of_an_offered_tool_stays_text(body):
    text = f"Here: <tool_call>{body}</tool_call> done"
    reply = feed_all(CallParser(HERMES, ["f"]), [text])
    assert reply.text == text and reply.tool_calls == []


def test_a_closing_marker_inside_an_argument_string_is_the_strings():
    # Seen on CI: the grammar let a sampled prompt hold "</tool_call>"; the call ends at the marker after it.
    args = '{"prompt": "x} }</tool_call>You can", "width": 512}'
    text = '<tool_call>\n{"name": "draw_picture", "arguments": ' + args + '}\n</tool_call>'
    reply = feed_all(CallParser(HERMES, ["draw_picture"]), [text[i:i + 5] for i in range(0, len(text), 5)])
    assert reply.text == "" and [c.parsed_arguments() for c in reply.tool_calls] == [json.loads(args)]


def test_an_unfinished_call_is_given_back_as_text():
    reply = feed_all(CallParser(HERMES, ["f"]), ['<tool_call>\n{"name": "f", "argu'])
    assert reply.text == '<tool_call>\n{"name": "f", "argu' and reply.tool_calls == []


def test_history_gets_object_arguments_only_where_the_template_wants_them():
    call = {"id": "abcDEF123", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [call]}]
    as_objects = history_for_template(messages, TemplateTools(True, object_arguments=True))
    assert as_objects[1]["content"] == "" and as_objects[1]["tool_calls"][0]["function"]["arguments"] == {"a": 1}
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'   # the caller's list untouched
    assert history_for_template(messages, TemplateTools(True))[1]["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'


def _renderer(template: str):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    formatter = Jinja2ChatFormatter(template, eos_token="<|im_end|>", bos_token="<|im_start|>")
    return lambda messages, tools: formatter(messages=messages, tools=tools).prompt


def test_probe_reads_what_a_template_does_with_tools():
    qwen = probe(_renderer(TEMPLATE.read_text()))
    assert qwen.takes_tools and qwen.object_arguments and qwen.format is HERMES and qwen.can_call
    # A template that writes arguments as given (JSON text), with the same markers.
    as_text = ("{% for m in messages %}{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{\"name\": \""
               "{{ c.function.name }}\", \"arguments\": {{ c.function.arguments }}}</tool_call>{% endfor %}"
               "{% else %}{{ m.content }}{% endif %}{% endfor %}{% if tools %}{{ tools | tojson }}{% endif %}")
    text = probe(_renderer(as_text))
    assert text.takes_tools and not text.object_arguments and text.format is HERMES
    chatml = probe(_renderer("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"))
    assert not chatml.takes_tools and not chatml.can_call


def test_grammar_starts_where_the_models_marker_token_left_off():
    assert "root ::= call (" in calls_gbnf(HERMES, list(TOOLS), parallel=True)
    assert calls_gbnf(HERMES, list(TOOLS), parallel=False).rstrip().endswith("root ::= call")
    assert calls_gbnf(HERMES, [WEATHER], False, after="\n").rstrip().endswith('root ::= call-ws "{\\"name\\": \\"" call-named')
    assert calls_gbnf(HERMES, [WEATHER], False, after='\n{"').rstrip().endswith('root ::= "name\\": \\"" call-named')
    assert calls_gbnf(HERMES, [WEATHER], False, after="The") is None   # prose after the marker: nothing forced


# The real engine -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine():
    e = LlamaChatEngine(tool_model_path(), n_ctx=4096)   # the built-in tools take ~1,700 tokens of prompt
    e.load()
    return e


def run(engine, messages, params):
    stats = ChatStats()
    events = list(engine.stream(messages, params, lambda: False, stats))
    assert isinstance(events[-1], Usage) and all(not isinstance(e, Usage) for e in events[:-1])
    return Reply.of(events), events


def assert_valid_calls(reply, tools=TOOLS):
    import jsonschema
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    assert reply.tool_calls, f"no call in {reply.text!r}"
    for call in reply.tool_calls:
        assert call.name in schemas and call.id.startswith("call_")
        jsonschema.validate(call.parsed_arguments(), schemas[call.name])
    assert reply.usage.finish_reason == "tool_calls"


def prompt_text(engine, messages, params):
    args = engine._completion_args(messages, params)
    return engine.llm.detokenize(list(args["prompt"]), special=True).decode()


@pytest.mark.real
def test_the_template_takes_tools_and_the_prompt_shows_them(engine):
    assert engine.capabilities.tools and engine._template.object_arguments
    text = prompt_text(engine, ASK, GenParams(tools=TOOLS))
    assert "<tools>" in text and json.dumps(DRAW, ensure_ascii=False) in text
    assert "<tools>" not in prompt_text(engine, ASK, GenParams(tools=TOOLS, tool_choice="none"))
    assert engine.prompt_tokens(ASK, GenParams(tools=TOOLS)) > engine.prompt_tokens(ASK, GenParams()) + 100


@pytest.mark.real
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_required_gives_a_valid_call_for_every_seed(engine, seed):
    # One call: with parallel calls a sampled reply may begin more than max_tokens can finish (then the cut call
    # is rightly given back as text); what this test asks is that the grammar keeps the call it writes valid.
    reply, events = run(engine, ASK, GenParams(tools=TOOLS, tool_choice="required", temperature=0.9, seed=seed,
                                               max_tokens=400, parallel_tool_calls=False))
    assert_valid_calls(reply)
    assert reply.text == "" and isinstance(events[0], ToolCallDelta) and events[0].name


@pytest.mark.real
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_named_function_is_the_one_called(engine, seed):
    choice = {"type": "function", "function": {"name": "get_weather"}}
    reply, _ = run(engine, ASK, GenParams(tools=TOOLS, tool_choice=choice, temperature=0.9, seed=seed,
                                          max_tokens=400, parallel_tool_calls=True))
    assert_valid_calls(reply)
    assert [c.name for c in reply.tool_calls] == ["get_weather"]   # named: one call of it


def marker_bias(engine) -> tuple:
    """+100 on the tokens of "<tool_call>" (five plain-text tokens in SmolLM2's vocabulary): the model
    can write little else until it has written the marker, and only the grammar decides what follows."""
    tokens = engine.llm.tokenize(b"<tool_call>", add_bos=False, special=True)
    assert len(tokens) > 1   # the marker is found in the text, not as one special token
    return tuple((t, 100.0) for t in tokens)


@pytest.mark.real
@pytest.mark.parametrize("temperature,seed", [(0.0, 1), (0.8, 1), (0.8, 2)])
def test_auto_starts_the_grammar_at_the_models_own_marker(engine, temperature, seed):
    params = GenParams(tools=TOOLS, temperature=temperature, seed=seed, max_tokens=200, parallel_tool_calls=False,
                       logit_bias=marker_bias(engine))
    reply, _ = run(engine, ASK, params)
    assert_valid_calls(reply)   # the biased tokens are still all over the arguments: only the grammar kept them valid
    assert len(reply.tool_calls) == 1 and reply.text == ""


@pytest.mark.real
def test_auto_without_a_marker_is_plain_text(engine):
    reply, _ = run(engine, ASK, GenParams(tools=TOOLS, temperature=0.0, seed=1, max_tokens=40))
    assert reply.text and reply.tool_calls == [] and reply.usage.finish_reason in ("stop", "length")


@pytest.mark.real
def test_a_named_function_that_is_not_offered_is_refused(engine):
    with pytest.raises(EngineError, match="nowhere"):
        run(engine, ASK, GenParams(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nowhere"}}))


@pytest.mark.real
def test_smollm2_cannot_call_tools_and_says_so_by_name():
    e = LlamaChatEngine(default_llm_path(), n_ctx=512)
    e.load()
    assert not e.capabilities.tools
    with pytest.raises(EngineError, match="SmolLM2-135M-Instruct.Q4_1 cannot call tools"):
        run(e, ASK, GenParams(tools=TOOLS, max_tokens=8))
    reply, _ = run(e, ASK, GenParams(tools=TOOLS, tool_choice="none", max_tokens=8, temperature=0.0))
    assert reply.text and reply.usage.finish_reason == "length"


@pytest.mark.real
def test_a_tool_result_goes_back_through_the_template_and_the_prefix_is_reused(engine):
    forced = GenParams(tools=TOOLS, tool_choice="required", parallel_tool_calls=False, temperature=0.0, seed=1,
                       max_tokens=400)
    reply, _ = run(engine, ASK, forced)
    assert_valid_calls(reply)
    call = reply.tool_calls[0]
    # While the user reads: the call as the template writes it and the opening of its result.
    assert engine.warm_next_turn(reply.text) > 0
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call.openai()]},
               {"role": "tool", "tool_call_id": call.id, "content": "Drew #1: a lighthouse at dusk, 512x512."}]
    after = GenParams(tools=TOOLS, temperature=0.0, seed=1, max_tokens=16)
    text = prompt_text(engine, history, after)
    assert f'<tool_call>\n{{"name": "{call.name}", "arguments": {call.arguments}}}\n</tool_call>' in text   # a dict, not JSON text
    assert "<|im_start|>user\n<tool_response>\nDrew #1: a lighthouse at dusk, 512x512.\n</tool_response>" in text
    stats = ChatStats()
    events = list(engine.stream(history, after, lambda: False, stats))
    assert isinstance(events[-1], Usage) and stats.completion_tokens > 0
    # Only the result and what follows it were evaluated: the rest was warmed while the tool ran.
    tail = "Drew #1: a lighthouse at dusk, 512x512.\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    assert stats.prompt_tokens > 250
    assert stats.evaluated_prompt_tokens == len(engine.llm.tokenize(tail.encode(), add_bos=False, special=True))


def recorded_tokens(engine, messages, params):
    from .test_llama_stream import engine_tokens
    with engine_tokens(engine) as seen:
        reply, _ = run(engine, messages, params)
    return seen, reply


SENTENCE = "The keeper climbed the ninety steps of the lighthouse every evening to light the great lamp."
REPEAT = [{"role": "user", "content": f"Repeat this sentence three times, exactly: {SENTENCE}"}]


@pytest.fixture(scope="module")
def drafting_engine():
    from .test_speculative import FreeBatches
    # As in test_speculative.py: one thread (a batch's sums then equal one token's), and batches priced
    # as free, so the planner drafts wherever the lookup proposes something.
    e = LlamaChatEngine(tool_model_path(), n_ctx=2048, n_threads=1)
    e.load()
    e._draft_costs = FreeBatches()
    return e


@pytest.mark.real
@pytest.mark.parametrize("case", ["prose", "call"])
def test_drafting_changes_no_reply_with_tools_offered(drafting_engine, case):
    """Prompt-lookup drafting stays on under "auto": the same tokens with it and without it, before the
    marker and after it, with the grammar put into the chain between two drafted batches."""
    engine = drafting_engine
    messages = REPEAT if case == "prose" else ASK
    params = GenParams(tools=TOOLS, temperature=0.0, seed=1, max_tokens=96, parallel_tool_calls=False,
                       logit_bias=() if case == "prose" else marker_bias(engine))
    runs = {}
    try:
        for draft in (False, True):
            engine.prompt_lookup = draft
            runs[draft] = recorded_tokens(engine, messages, params)
            drafted = engine.draft_stats.drafted
    finally:
        engine.prompt_lookup = True
    assert drafted > 0, "nothing was drafted: the test would prove nothing"
    assert runs[True][0] == runs[False][0] and len(runs[True][0]) > 30
    assert runs[True][1].text == runs[False][1].text
    assert [c.arguments for c in runs[True][1].tool_calls] == [c.arguments for c in runs[False][1].tool_calls]
    assert len(runs[True][1].tool_calls) == (case == "call")


def without_number_bounds(schema):
    """llama.cpp's converter does not keep numbers' minimum/maximum (the tools check those themselves)."""
    if isinstance(schema, list):
        return [without_number_bounds(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    return {k: without_number_bounds(v) for k, v in schema.items() if k not in ("minimum", "maximum")}


@pytest.mark.real
@pytest.mark.parametrize("seed", [1, 2])
def test_the_built_in_tools_schemas_keep_a_call_valid(engine, seed):
    from chatapp.tools import offered, openai_tool
    tools = tuple(openai_tool(t) for t in offered())
    assert engine.grammar_problem(calls_gbnf(HERMES, list(tools), parallel=True)) is None
    # Their prompts' 4,000-character bound is the tool's to check (tool_calls.grammar.LONG_STRING): the string is
    # unbounded in the grammar, so the reply gets room for a long one on any machine's sampling.
    reply, _ = run(engine, ASK, GenParams(tools=tools, tool_choice="required", temperature=0.8, seed=seed,
                                          max_tokens=1500, parallel_tool_calls=False))
    bounded = [{**t, "function": {**t["function"], "parameters": without_number_bounds(t["function"]["parameters"])}}
               for t in tools]
    assert_valid_calls(reply, bounded)


def grammar_allows(llm, gbnf: str, prefix: str, candidates: list[str]) -> dict[str, bool]:
    """Which one-token candidates llama.cpp's grammar sampler leaves possible after prefix (accepted token by token)."""
    import ctypes

    import llama_cpp

    from chatapp.engines.tool_calls.grammar import grammar_sampler
    sampler = grammar_sampler(llm, gbnf)
    try:
        for token in llm.tokenize(prefix.encode(), add_bos=False, special=False):
            llama_cpp.llama_sampler_accept(sampler, token)
        ids = []
        for text in candidates:
            tokens = llm.tokenize(text.encode(), add_bos=False, special=False)
            assert len(tokens) == 1, f"{text!r} is {len(tokens)} tokens in this vocabulary"
            ids.append(tokens[0])
        data = (llama_cpp.llama_token_data * len(ids))(*[llama_cpp.llama_token_data(i, 0.0, 0.0) for i in ids])
        array = llama_cpp.llama_token_data_array(data, len(ids), -1, False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
        return {text: data[k].logit != float("-inf") for k, text in enumerate(candidates)}
    finally:
        llama_cpp.llama_sampler_free(sampler)


@pytest.mark.real
def test_a_raw_newline_cannot_enter_a_json_string_of_a_call(engine):
    # llama-cpp-python's schema converter lets control characters into strings; CI once got a "prompt" holding
    # "}}\n</tool_call>\n{" and no call. Inside a string only JSON's characters may follow (\n as an escape).
    gbnf = calls_gbnf(HERMES, [DRAW], parallel=False)
    inside = '<tool_call>\n{"name": "draw_picture", "arguments": {"prompt": "a lighthouse'
    allowed = grammar_allows(engine.llm, gbnf, inside, ["\n", " at", "\""])
    assert allowed == {"\n": False, " at": True, "\"": True}
    # Between values JSON's own whitespace is no string: the grammar's space rule decides there, unchanged.
    assert grammar_allows(engine.llm, gbnf, '<tool_call>\n{"name": "draw_picture", "arguments": {', ["\""]) == {"\"": True}
