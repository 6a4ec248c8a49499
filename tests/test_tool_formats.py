"""Mistral's and Gemma 4's tool-call formats: the probe on the published templates, Mistral's 9-character ids, the parsers and grammars."""
import json
from pathlib import Path

import pytest

from chatapp.engines.tool_calls.gemma import GemmaRules, parse_call
from chatapp.engines.tool_calls.formats import TOOL_FORMATS, TemplateTools, history_for_template, probe, short_ids
from chatapp.engines.tool_calls.grammar import calls_gbnf
from chatapp.engines.tool_calls.parser import call_parser

from .test_llama_tools import TOOLS, WEATHER, _renderer, feed_all
from .tool_model import GEMMA4_TEMPLATE, NEMO_TEMPLATE, TEMPLATE

TEMPLATES = Path(TEMPLATE).parent
NEMO, ARGS, CALL_ID, GEMMA = (TOOL_FORMATS[n] for n in ("mistral-nemo", "mistral-args", "mistral-call-id", "gemma4"))


@pytest.mark.parametrize("template,fmt,as_object,short", [
    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral-nemo", True, True),
    ("mistralai-Ministral-3-14B-Reasoning-2512.jinja", "mistral-args", False, False),
    ("unsloth-mistral-Devstral-Small-2507.jinja", "mistral-args", False, False),
    ("Mistral-Small-3.2-24B-Instruct-2506.jinja", "mistral-call-id", True, True),
    ("google-gemma-4-31B-it.jinja", "gemma4", True, False),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "hermes", True, False),
    ("Qwen3.5-4B.jinja", "qwen-xml", True, False),
])
def test_the_probe_reads_each_published_template(template, fmt, as_object, short):
    found = probe(_renderer((TEMPLATES / template).read_text()))
    assert found.can_call and found.format is TOOL_FORMATS[fmt]
    assert (found.object_arguments, found.short_ids) == (as_object, short)


@pytest.mark.parametrize("template", ["google-gemma-2-2b-it.jinja", "gemma3-it.jinja"])
def test_gemma_2_and_3_templates_take_no_tools(template):
    found = probe(_renderer((TEMPLATES / template).read_text()))
    assert not found.takes_tools and not found.can_call


def history(call_id="call_9f8e7d6c5b4a", second="call_other_one"):
    calls = [{"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
             {"id": second, "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]
    return [{"role": "user", "content": "Weather in Oslo and Rome?"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": second, "content": "Warm."},
            {"role": "tool", "tool_call_id": call_id, "content": "Cold."},
            {"role": "assistant", "content": "Oslo is cold, Rome warm."},
            {"role": "user", "content": "Thanks!"}]


def test_foreign_ids_map_to_nine_characters_the_same_way_within_and_across_renders():
    mapped = short_ids(history())
    calls = mapped[1]["tool_calls"]
    assert all(len(c["id"]) == 9 and c["id"].isalnum() for c in calls) and calls[0]["id"] != calls[1]["id"]
    assert [mapped[2]["tool_call_id"], mapped[3]["tool_call_id"]] == [calls[1]["id"], calls[0]["id"]]   # each result its call
    assert short_ids(history()) == mapped                     # the next turn renders the same prefix
    assert history()[1]["tool_calls"][0]["id"] == "call_9f8e7d6c5b4a"    # the caller's list untouched
    native = short_ids(history("abcDEF123"))
    assert native[1]["tool_calls"][0]["id"] == "abcDEF123" and native[3]["tool_call_id"] == "abcDEF123"


def test_nemo_renders_openai_ids_only_once_mapped():
    render = _renderer(NEMO_TEMPLATE.read_text())
    template = probe(render)
    with pytest.raises(Exception, match="Tool call IDs should be alphanumeric strings with length 9"):
        render(history_for_template(history(), TemplateTools(True, object_arguments=True)), [WEATHER])
    text = render(history_for_template(history(), template), [WEATHER])
    mapped = short_ids(history())[1]["tool_calls"]
    assert f'[TOOL_CALLS][{{"name": "get_weather", "arguments": {{"city": "Oslo"}}, "id": "{mapped[0]["id"]}"}}' in text
    assert f'[TOOL_RESULTS]{{"content": Cold., "call_id": "{mapped[0]["id"]}"}}[/TOOL_RESULTS]' in text


def test_mistral_small_takes_openai_ids_once_mapped():
    render = _renderer((TEMPLATES / "Mistral-Small-3.2-24B-Instruct-2506.jinja").read_text())
    text = render(history_for_template(history(), probe(render)), [WEATHER])
    mapped = short_ids(history())[1]["tool_calls"][1]["id"]
    assert f'[TOOL_CALLS]get_weather[CALL_ID]{mapped}[ARGS]{{"city": "Rome"}}' in text
    assert f"[TOOL_RESULTS]{mapped}[TOOL_CONTENT]Warm.[/TOOL_RESULTS]" in text


def chunks(text, n=5):
    return [text[i:i + n] for i in range(0, len(text), n)]


def test_nemo_array_of_calls_gets_nine_character_ids():
    text = ('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "aaaaaaaaa"}, '
            '{"name": "draw_picture", "arguments": {"prompt": "x", "width": 256}, "id": "aaaaaaaaa"}]')
    reply = feed_all(call_parser(NEMO, ["get_weather", "draw_picture"]), chunks(text))
    assert reply.text == ""
    assert [(c.name, c.parsed_arguments()) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Oslo"}), ("draw_picture", {"prompt": "x", "width": 256})]
    ids = [c.id for c in reply.tool_calls]
    assert all(len(i) == 9 and i.isalnum() for i in ids) and len(set(ids)) == 2   # the engine's, not the model's repeat


@pytest.mark.parametrize("fmt,text", [
    (ARGS, 'Sure.[TOOL_CALLS]get_weather[ARGS]{"city": "a [TOOL_CALLS] b"}[TOOL_CALLS]draw_picture[ARGS]{"prompt": "x"}'),
    (CALL_ID, 'Sure.[TOOL_CALLS]get_weather[CALL_ID]abcDEF123[ARGS]{"city": "a [TOOL_CALLS] b"}'
              '[TOOL_CALLS]draw_picture[CALL_ID]abcDEF124[ARGS]{"prompt": "x"}'),
])
def test_newer_mistral_calls_one_marker_each(fmt, text):
    reply = feed_all(call_parser(fmt, ["get_weather", "draw_picture"]), chunks(text, 3))
    assert reply.text == "Sure."
    assert [(c.name, c.parsed_arguments()) for c in reply.tool_calls] == [
        ("get_weather", {"city": "a [TOOL_CALLS] b"}), ("draw_picture", {"prompt": "x"})]   # a marker in a string is text


@pytest.mark.parametrize("fmt,text", [
    (NEMO, '[TOOL_CALLS][{"name": "nowhere", "arguments": {}}]'),
    (NEMO, '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Os'),
    (ARGS, '[TOOL_CALLS]get_weather{"city": "Oslo"}'),
    (ARGS, '[TOOL_CALLS]get_weather[ARGS]{"city": "Os'),
    (GEMMA, '<|tool_call>call:get_weather{city:Oslo}<tool_call|>'),
    (GEMMA, '<|tool_call>call:get_weather{city:<|"|>Oslo<|"|>'),
])
def test_what_is_no_whole_call_stays_text(fmt, text):
    reply = feed_all(call_parser(fmt, ["get_weather"]), chunks(text))
    assert reply.text == text and reply.tool_calls == []


def test_gemma_calls_read_into_openai_arguments():
    text = ('Let me look.<|tool_call>call:get_weather{city:<|"|>Oslo, {Norway}: "north"<|"|>,days:3,deep:{on:true,'
            'off:false,none:None,xs:[1,-2.5e1,<|"|>a<|"|>]}}<tool_call|><|tool_call>call:draw_picture{}<tool_call|>')
    reply = feed_all(call_parser(GEMMA, ["get_weather", "draw_picture"]), chunks(text, 4))
    assert reply.text == "Let me look."
    assert [(c.name, c.parsed_arguments()) for c in reply.tool_calls] == [
        ("get_weather", {"city": 'Oslo, {Norway}: "north"', "days": 3,
                         "deep": {"on": True, "off": False, "none": None, "xs": [1, -25.0, "a"]}}),
        ("draw_picture", {})]
    assert reply.tool_calls[0].id.startswith("call_")   # Gemma's templates take any id


def test_gemma_history_renders_what_the_parser_reads_back():
    render = _renderer(GEMMA4_TEMPLATE.read_text())
    args = {"city": "Oslo, Norway", "days": 3, "metric": True, "hours": [6, 12]}
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps(args)}}
    messages = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": None, "tool_calls": [call]}]
    text = render(history_for_template(messages, probe(render)), [WEATHER])
    start = text.index("<|tool_call>") + len("<|tool_call>")
    assert json.loads(parse_call(text[start:text.index("<tool_call|>")])[0][1]) == args


def test_the_grammar_starts_where_the_markers_token_left_off():
    tools = list(TOOLS)
    assert calls_gbnf(NEMO, tools, True).rstrip().endswith('root ::= "[TOOL_CALLS]" "[" call ( ", " call ){0,7} "]"')
    assert calls_gbnf(NEMO, tools, False, after="[").rstrip().endswith('root ::= "{\\"name\\": \\"" call-named "]"')
    assert calls_gbnf(ARGS, tools, True, after="").rstrip().endswith("root ::= call-named ( call ){0,7}")
    # The marker's token went on into a name: only the tools it can begin are left.
    assert calls_gbnf(ARGS, tools, False, after="get_w").rstrip().endswith('root ::= ( "eather" "[ARGS]" call-0-args )')
    assert calls_gbnf(GEMMA, tools, False, after="call:dr").rstrip().endswith(
        'root ::= ( "aw_picture" call-1-args "<tool_call|>" )')
    for fmt, after in ((ARGS, " get"), (ARGS, "nowhere"), (GEMMA, "calc"), (NEMO, "Sure")):
        assert calls_gbnf(fmt, tools, False, after=after) is None


def test_gemma_grammar_follows_the_schema_where_it_can_say_it_and_is_generic_elsewhere():
    rules = GemmaRules()
    assert rules.args(WEATHER["function"]["parameters"], "w") == "w"
    text = rules.rules()
    assert 'w-unit ::= "<|\\"|>celsius<|\\"|>" | "<|\\"|>fahrenheit<|\\"|>"' in text
    assert 'w-t0f ::= "city:" w-city w-t1n' in text and "w-t1n ::= ( \",\" \"unit:\" w-unit )?" in text
    assert "w-city ::= \"<|\\\"|>\" gm-char{0,40}" in text
    either = {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}}
    assert GemmaRules().args(either, "e") == "gm-object"
    assert GemmaRules().args({"type": "object"}, "o") == "gm-object"
