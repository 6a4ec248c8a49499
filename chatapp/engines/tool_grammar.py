"""Tool calls kept to their JSON schemas: the GBNF of a reply's calls and llama.cpp's grammar sampler for it."""
from __future__ import annotations

import copy
import json
import re

from .base import EngineError
from .tool_formats import ToolFormat

MAX_CALLS = 8     # a reply's calls in parallel mode: a tiny model must not write calls until max_tokens
LONG_STRING = 128   # longer length bounds are the tool's to check (see _short_bounds)


def gbnf_literal(text: str) -> str:
    """text as a GBNF string literal (JSON's escapes are ones GBNF reads too)."""
    return json.dumps(text, ensure_ascii=False)


def chosen_tools(tools, choice) -> list[dict]:
    """The tools a reply may call under tool_choice: all of them, or the one a named choice names."""
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        picked = [t for t in tools if t["function"]["name"] == name]
        if not picked:
            raise EngineError(f"tool_choice names the tool {name!r}, which is not among the tools offered.")
        return picked
    return list(tools)


# JSON's string character, as llama.cpp's own converter writes it. The converter in llama-cpp-python writes
# [^"\\] instead, which lets a raw newline (any control character) into a string: a model then wrote
# '"prompt": "...}}\n</tool_call>\n{..."' and the call, though the grammar allowed it, was no JSON.
JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'


def strict_json_strings(gbnf: str) -> str:
    """The grammar with JSON's string character (no raw control characters inside a string)."""
    return re.sub(r"^char ::= .*$", lambda _m: JSON_CHAR, gbnf, flags=re.M)


def _converter():
    from llama_cpp.llama_grammar import SchemaConverter
    # allow_fetch=False: a schema's https $ref (an MCP server's) must never reach the network.
    return SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)


def _short_bounds(schema):
    """The schema with string lengths over LONG_STRING left to the tool to check: the converter writes a
    bound of n as n nested optional groups, and llama.cpp's grammar stacks grow a level per character
    inside them (the recipe's 4,000-character prompt bound would be 4,000 levels)."""
    if isinstance(schema, list):
        return [_short_bounds(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _short_bounds(v) for k, v in schema.items()}
    if isinstance(out.get("maxLength"), int) and out["maxLength"] > LONG_STRING:
        del out["maxLength"]
    if isinstance(out.get("minLength"), int) and out["minLength"] > LONG_STRING:
        out["minLength"] = LONG_STRING
    return out


def _schema(tool: dict) -> dict:
    """The tool's parameters as the grammar follows them if llama.cpp's converter takes them, else any JSON
    object (the tool itself still checks its arguments): one odd schema must not stop every reply."""
    params = _short_bounds(tool["function"].get("parameters") or {"type": "object"})
    try:
        probe = _converter()
        probe.visit(probe.resolve_refs(copy.deepcopy(params), "probe"), "probe")
        return params
    except (AssertionError, ValueError, KeyError, TypeError, IndexError, RecursionError, re.error):
        return {"type": "object"}


def calls_gbnf(fmt: ToolFormat, tools: list[dict], parallel: bool, after: str | None = None) -> str | None:
    """GBNF for one call (with parallel, up to MAX_CALLS) of these tools in fmt's form, each call's
    arguments following its tool's JSON schema.

    after=None: the root starts at the opening marker (a call from the reply's first token). Else
    `after` is what the model wrote after the marker in the token that completed it, and the root
    starts where that leaves off; None when that text cannot begin a call (then nothing is forced:
    the parser keeps such a "call" as text).
    """
    conv = _converter()
    calls = []
    for i, tool in enumerate(tools):
        args = conv.visit(conv.resolve_refs(copy.deepcopy(_schema(tool)), f"tool{i}"), f"call-{i}-args")
        name = json.dumps(tool["function"]["name"], ensure_ascii=False)[1:-1]   # as it stands inside a JSON string
        calls.append(f"{gbnf_literal(name + fmt.between)} {args} {gbnf_literal(fmt.end)}")
    head = f"call-ws {gbnf_literal(fmt.head)} call-named"
    if after is None:
        first = "call"
    elif not after.strip():
        first = head
    elif fmt.head.startswith(after.lstrip()):
        rest = fmt.head[len(after.lstrip()):]
        first = f"{gbnf_literal(rest)} call-named" if rest else "call-named"
    else:
        return None
    more = f" ( {gbnf_literal(fmt.separator)} call ){{0,{MAX_CALLS - 1}}}" if parallel and fmt.parallel else ""
    return "\n".join([strict_json_strings(conv.format_grammar()),
                      "call-named ::= " + " | ".join(f"( {c} )" for c in calls),
                      r"call-ws ::= [ \t\n]{0,2}",
                      f"call ::= {gbnf_literal(fmt.open) + ' ' if fmt.open else ''}{head}",
                      f"root ::= {first}{more}"]) + "\n"


def grammar_sampler(llm, gbnf: str):
    """llama.cpp's grammar sampler for gbnf (a raw pointer: whoever adds it to a chain owns it). EngineError
    instead of NULL (a grammar llama.cpp cannot parse): a NULL sampler in a chain crashes the process."""
    import llama_cpp
    ptr = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, gbnf.encode("utf-8"), b"root")
    if not ptr:
        raise EngineError("llama.cpp could not build the grammar for the tools' arguments; "
                          "a tool's parameter schema may be more than it supports.")
    return ptr
