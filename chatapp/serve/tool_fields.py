"""OpenAI's tool fields checked as OpenAI checks them: tools, tool_choice, parallel_tool_calls, tool messages."""
from __future__ import annotations

from ..tools.base import NAME_RULE
from .schemas import ApiError

MAX_TOOLS = 128                      # OpenAI's limit on the tools of one request
CHOICES = ("none", "auto", "required")
JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def _missing(param: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def check_tools(tools: list) -> tuple[dict, ...]:
    """The request's tools as the engine takes them (OpenAI's function tools); a 400 naming the first
    bad one otherwise."""
    if len(tools) > MAX_TOOLS:
        raise ApiError(400, f"Invalid 'tools': array too long. Expected an array with maximum length {MAX_TOOLS}, "
                            f"but got an array with length {len(tools)} instead.", param="tools",
                       code="array_above_max_length")
    seen: dict[str, int] = {}
    out = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise ApiError(400, f"Invalid type for '{where}': expected an object.", param=where, code="invalid_type")
        if tool.get("type") != "function":
            raise ApiError(400, f"Invalid value for '{where}.type': this server calls only tools of type 'function', "
                                f"not {tool.get('type')!r}.", param=f"{where}.type", code="unsupported_value")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise _missing(f"{where}.function")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise _missing(f"{where}.function.name")
        if len(name) > 64:
            raise ApiError(400, f"Invalid '{where}.function.name': string too long. Expected a string with maximum "
                                f"length 64, but got a string with length {len(name)} instead.",
                           param=f"{where}.function.name", code="string_above_max_length")
        if not NAME_RULE.fullmatch(name):
            raise ApiError(400, f"Invalid '{where}.function.name': string does not match pattern. Expected a string "
                                "that matches the pattern '^[a-zA-Z0-9_-]+$'.", param=f"{where}.function.name",
                           code="invalid_value")
        if name in seen:
            raise ApiError(400, f"Invalid '{where}.function.name': '{name}' is already the name of "
                                f"tools[{seen[name]}]; each function needs its own name.",
                           param=f"{where}.function.name", code="invalid_value")
        seen[name] = i
        if not isinstance(function.get("description", ""), str):
            raise ApiError(400, f"Invalid type for '{where}.function.description': expected a string.",
                           param=f"{where}.function.description", code="invalid_type")
        if "parameters" in function:
            problem = schema_problem(function["parameters"], top=True)
            if problem:
                raise ApiError(400, f"Invalid schema for function '{name}': {problem}",
                               param=f"{where}.function.parameters", code="invalid_function_parameters")
        out.append({"type": "function", "function": {k: function[k] for k in ("name", "description", "parameters",
                                                                              "strict") if k in function}})
    return tuple(out)


def schema_problem(schema, top: bool = False) -> str:
    """What makes a function's parameters no JSON schema of an object ("" when nothing does): the shapes
    OpenAI refuses, checked through nested properties and items."""
    if not isinstance(schema, dict):
        return f"schema must be a JSON Schema object, got {type(schema).__name__}."
    kind = schema.get("type")
    if top and kind != "object":
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{kind}\"'."
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for k in kinds:
        if k not in JSON_TYPES:
            return f"{k!r} is not a JSON Schema type (one of {', '.join(sorted(JSON_TYPES))})."
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return "'properties' must be an object."
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return "'required' must be a list of property names."
    nested = list(properties.values())
    if isinstance(schema.get("items"), dict):
        nested.append(schema["items"])
    for sub in ("anyOf", "oneOf", "allOf"):
        nested.extend(schema.get(sub) or [])
    for part in nested:
        if part is not True and part is not False:   # a boolean schema is valid JSON Schema
            problem = schema_problem(part)
            if problem:
                return problem
    return ""


def check_choice(tool_choice, tools: tuple[dict, ...], parallel: bool | None) -> str | dict:
    """tool_choice as the engine takes it ("auto" with tools and "none" without, when not given)."""
    if tool_choice is None:
        choice: str | dict = "auto" if tools else "none"
    elif isinstance(tool_choice, str):
        if tool_choice not in CHOICES:
            raise ApiError(400, f"Invalid value: '{tool_choice}'. Supported values are: 'none', 'auto', and "
                                "'required'.", param="tool_choice", code="invalid_value")
        choice = tool_choice
    elif isinstance(tool_choice, dict):
        if tool_choice.get("type") != "function":
            raise ApiError(400, f"Invalid value for 'tool_choice': this server takes 'none', 'auto', 'required' or "
                                "{'type': 'function', 'function': {'name': ...}}, not one of type "
                                f"{tool_choice.get('type')!r}.", param="tool_choice", code="unsupported_value")
        name = (tool_choice.get("function") or {}).get("name") if isinstance(tool_choice.get("function"), dict) \
            else None
        if not isinstance(name, str) or not name:
            raise _missing("tool_choice.function.name")
        names = [t["function"]["name"] for t in tools]
        if tools and name not in names:
            raise ApiError(400, f"Invalid value for 'tool_choice': no function named '{name}' among 'tools' "
                                f"({', '.join(names)}).", param="tool_choice", code="invalid_value")
        choice = {"type": "function", "function": {"name": name}}
    else:
        raise ApiError(400, "Invalid type for 'tool_choice': expected a string or an object.", param="tool_choice",
                       code="invalid_type")
    if not tools and tool_choice is not None and choice != "none":
        raise ApiError(400, "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                            "specified.", param="tool_choice")
    if not tools and parallel is not None:
        raise ApiError(400, "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when "
                            "'tools' are specified.", param="parallel_tool_calls")
    return choice


def check_history(messages: list) -> None:
    """Every tool message answers a call of the assistant message just before its run of tool messages,
    and every such call is answered, as OpenAI requires (its words, misspelling included)."""
    waiting: dict[str, None] | None = None   # ids of the calls still unanswered; None: no calls open
    caller = -1
    for i, m in enumerate(messages):
        if m.role == "tool":
            if not m.tool_call_id:
                raise _missing(f"messages.[{i}].tool_call_id")
            if waiting is None:
                raise ApiError(400, "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                                    "message with 'tool_calls'.", param=f"messages.[{i}].role")
            if m.tool_call_id not in waiting:
                raise ApiError(400, f"Invalid parameter: 'tool_call_id' of '{m.tool_call_id}' not found in "
                                    "'tool_calls' of previous message.", param=f"messages.[{i}].tool_call_id")
            del waiting[m.tool_call_id]
            continue
        _answered(waiting, caller)
        waiting, caller = ({c.id: None for c in m.tool_calls}, i) if m.role == "assistant" and m.tool_calls \
            else (None, -1)
    _answered(waiting, caller)


def _answered(waiting: dict | None, caller: int) -> None:
    if waiting:
        raise ApiError(400, "An assistant message with 'tool_calls' must be followed by tool messages responding to "
                            "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                            f"{', '.join(waiting)}", param=f"messages.[{caller}].role")
