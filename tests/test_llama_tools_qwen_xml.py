"""Qwen3.5's and Qwen3-Coder's XML-style calls: the parser (values typed by the tool's schema), the grammar, and the
real engine on SmolLM2 with Qwen3.5's published template, whose generation prompt opens the thinking."""
import json

import pytest

from chatapp.conversation import GenParams
from chatapp.engines.base import ChatStats
from chatapp.engines.events import Reply
from chatapp.engines.llama import LlamaChatEngine
from chatapp.engines.tool_calls.formats import TOOL_FORMATS, history_for_template
from chatapp.engines.tool_calls.grammar import calls_gbnf
from chatapp.engines.tool_calls.qwen_xml import parse_call

from .test_llama_tools import ASK, DRAW, TOOLS, WEATHER, assert_valid_calls, feed_all, prompt_text
from .tool_model import TEMPLATE, tool_model_path

XML = TOOL_FORMATS["qwen-xml"]
QWEN35 = TEMPLATE.with_name("Qwen3.5-4B.jinja")
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def test_values_are_read_by_the_schema():
    body = "<function=draw_picture>\n<parameter=prompt>\n512 red\nballoons</b>?\n</parameter>\n" \
           "<parameter=width>\n512\n</parameter>\n</function>"
    assert parse_call(body.replace("</b>", ""), SCHEMAS) == \
        [("draw_picture", json.dumps({"prompt": "512 red\nballoons?", "width": 512}))]
    assert parse_call("<function=draw_picture>\n<parameter=width>\nwide\n</parameter>\n</function>", SCHEMAS) is None
    assert parse_call("<function=f>\n<parameter=on>\nTrue\n</parameter>\n<parameter=n>\nNone\n</parameter>\n"
                      "</function>", {"f": {"properties": {"on": {"type": "boolean"}, "n": {"type": "integer"}}}}) == \
        [("f", '{"on": true, "n": null}')]
    assert parse_call("<function=f>\nstray text\n<parameter=a>\nx\n</parameter>\n</function>", {}) is None


def test_calls_stream_in_pieces_and_text_around_them_stays():
    text = ("Sure.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>"
            "\n<tool_call>\n<function=draw_picture>\n<parameter=prompt>\na </tool_call> sign\n</parameter>\n"
            "<parameter=width>\n256\n</parameter>\n</function>\n</tool_call>")
    from chatapp.engines.tool_calls.parser import call_parser
    reply = feed_all(call_parser(XML, list(TOOLS)), [text[i:i + 3] for i in range(0, len(text), 3)])
    assert reply.text == "Sure.\n"
    assert [(c.name, c.parsed_arguments()) for c in reply.tool_calls] == \
        [("get_weather", {"city": "Oslo"}), ("draw_picture", {"prompt": "a </tool_call> sign", "width": 256})]


def test_the_grammar_has_every_parameter_in_its_form():
    gbnf = calls_gbnf(XML, list(TOOLS), parallel=True)
    assert '"<parameter=city>\\n"' in gbnf and 'root ::= call (' in gbnf
    assert calls_gbnf(XML, [WEATHER], False, close_thinking="</think>").rstrip().endswith(
        'root ::= "</think>\\n\\n" call')


@pytest.fixture(scope="module")
def engine():
    e = LlamaChatEngine(tool_model_path(template=QWEN35), n_ctx=4096)
    e.load()
    return e


def run(engine, params):
    return Reply.of(engine.stream(ASK, params, lambda: False, ChatStats()))


@pytest.mark.real
def test_the_real_template_is_read_and_its_prompt_opens_the_thinking(engine):
    assert engine.capabilities.tools and engine._template.format is XML and engine._template.object_arguments
    assert prompt_text(engine, ASK, GenParams(tools=TOOLS)).endswith("<|im_start|>assistant\n<think>\n")


@pytest.mark.real
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_forced_call_is_valid_and_comes_after_the_thinking_closed(engine, seed):
    reply = run(engine, GenParams(tools=TOOLS, tool_choice="required", temperature=0.9, seed=seed, max_tokens=400,
                                  parallel_tool_calls=False))
    assert_valid_calls(reply)
    assert reply.text == "" and reply.reasoning == "" and len(reply.tool_calls) == 1


@pytest.mark.real
def test_a_named_call_goes_back_in_the_templates_own_form(engine):
    choice = {"type": "function", "function": {"name": "draw_picture"}}
    reply = run(engine, GenParams(tools=TOOLS, tool_choice=choice, temperature=0.0, seed=1, max_tokens=400))
    assert_valid_calls(reply) and [c.name for c in reply.tool_calls] == ["draw_picture"]
    call = reply.tool_calls[0]
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call.openai()]},
               {"role": "tool", "tool_call_id": call.id, "content": "Drew #1."}]
    text = engine.llm.detokenize(list(engine._completion_args(history, GenParams(tools=TOOLS))["prompt"]),
                                 special=True).decode()
    args = call.parsed_arguments()
    assert f"<function=draw_picture>\n<parameter=prompt>\n{args['prompt']}\n</parameter>\n" in text
    assert "<tool_response>\nDrew #1.\n</tool_response>" in text
    assert history_for_template(history, engine._template)[2]["tool_calls"][0]["function"]["arguments"] == args


@pytest.mark.real
def test_the_built_in_tools_grammar_is_one_llama_cpp_takes(engine):
    from chatapp.tools import offered, openai_tool
    tools = [openai_tool(t) for t in offered()]
    for parallel in (True, False):
        assert engine.grammar_problem(calls_gbnf(XML, tools, parallel)) is None
    assert engine.grammar_problem(calls_gbnf(XML, tools, False, after="\n<function=dr")) is None


@pytest.mark.real
def test_a_marker_written_while_the_model_thinks_starts_no_call(engine):
    """The prompt opened the thinking; the model is pushed to write the call marker over and over. Inside the
    thinking the grammar never starts (it would force '<function=' after the first one): it stays thinking."""
    from .test_llama_tools import marker_bias
    reply = run(engine, GenParams(tools=TOOLS, temperature=0.0, seed=1, max_tokens=20, logit_bias=marker_bias(engine)))
    assert reply.tool_calls == [] and reply.text == ""
    assert reply.reasoning.startswith("<tool_call>") and "<function=" not in reply.reasoning
