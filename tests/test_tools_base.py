"""chatapp/tools/base.py: the tool registry's name rule, OpenAI's tool shape, offered() schemas and call()'s errors."""
import pytest

from chatapp.recipes.request import ModelLimits
from chatapp.tools import TOOLS, Tool, ToolError, ToolResult, ToolRun, call, no_such_tool, offered, openai_tool

SCHEMA = {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}


def _run() -> ToolRun:
    return ToolRun("call_1", 1, lambda: False, lambda line, fraction: None, services=None)


def _echo(args, run):
    return ToolResult(f"{run.call_id}: {args['word']}")


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dots.not.allowed", "ünïcode"])
def test_a_name_outside_openais_rule_is_refused_at_registration(name):
    with pytest.raises(ValueError, match="letters, digits"):
        TOOLS.register(name, Tool(name, "d", SCHEMA, _echo))
    assert name not in TOOLS


def test_a_tool_is_registered_under_its_own_name_and_offered_in_openais_shape():
    tool = Tool("echo-1_x", "Says the word back.", SCHEMA, _echo)
    with pytest.raises(ValueError, match="another name"):
        TOOLS.register("echo2", tool)
    with TOOLS.registered("echo-1_x", tool):
        assert TOOLS["echo-1_x"] is tool
        assert openai_tool(tool) == {"type": "function", "function": {
            "name": "echo-1_x", "description": "Says the word back.", "parameters": SCHEMA}}
        assert "echo-1_x" in {t.name for t in offered()}
        assert "echo-1_x" in no_such_tool("made_up").content and no_such_tool("made_up").is_error
    assert "echo-1_x" not in TOOLS


def test_offered_builds_a_schema_for_the_loaded_model():
    def schema_for(limits, loras):
        return {"type": "object", "properties": {"steps": {"type": "integer", "maximum": limits.steps[1]}},
                "x-loras": list(loras)}
    tool = Tool("stepper", "d", {"type": "object"}, _echo, schema_for=schema_for)
    got = offered([tool], ModelLimits(steps=(1, 12)), ("ink",))[0]
    assert got.parameters["properties"]["steps"]["maximum"] == 12 and got.parameters["x-loras"] == ["ink"]
    assert tool.parameters == {"type": "object"}   # the registered entry is left as it was


def test_call_turns_every_failure_into_an_error_result_the_model_can_read():
    def failing(args, run):
        if args.get("how") == "tool":
            raise ToolError("No picture #9 in this chat.")
        if args.get("how") == "bug":
            raise KeyError("oops")
        return "not a result"
    tool = Tool("failing", "d", {"type": "object"}, failing)
    assert call(Tool("echo", "d", SCHEMA, _echo), '{"word": "hi"}', _run()) == ToolResult("call_1: hi")
    bad_json = call(tool, '{"how": ', _run())
    assert bad_json.is_error and "not valid JSON" in bad_json.content
    not_object = call(tool, '["tool"]', _run())
    assert not_object.is_error and "JSON object" in not_object.content
    assert call(tool, '{"how": "tool"}', _run()) == ToolResult("No picture #9 in this chat.", is_error=True)
    bug = call(tool, '{"how": "bug"}', _run())
    assert bug.is_error and "KeyError" in bug.content and bug.content.startswith("failing failed")
    assert call(tool, "{}", _run()).is_error
