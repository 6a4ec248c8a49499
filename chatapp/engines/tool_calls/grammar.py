"""Tool calls kept to their JSON schemas: the GBNF of a reply's calls and llama.cpp's grammar sampler for it."""
from __future__ import annotations

import copy
import json
import re

from ..base import EngineError
from .gemma import GemmaRules
from .qwen_xml import XmlRules
from .formats import ToolFormat

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


def _args_rules(fmt: ToolFormat, tools: list[dict]) -> tuple[list[str], str]:
    """Each tool's arguments rule in fmt's syntax, and the grammar text that defines them."""
    if fmt.args in ("gemma", "xml"):
        rules = GemmaRules() if fmt.args == "gemma" else XmlRules()
        return [rules.args(_short_bounds(t["function"].get("parameters") or {}), f"call-{i}-args")
                for i, t in enumerate(tools)], rules.rules()
    conv = _converter()
    names = [conv.visit(conv.resolve_refs(copy.deepcopy(_schema(t)), f"tool{i}"), f"call-{i}-args")
             for i, t in enumerate(tools)]
    return names, strict_json_strings(conv.format_grammar())


def _first(fmt: ToolFormat, after: str, names: list[str], tails: list[str]) -> str | None:
    """The root's start where `after` (what the marker's token wrote past it) leaves off, None if it cannot
    begin a call: within the text before the name, or within a tool's name."""
    start = fmt.lead + fmt.head
    rest = after.lstrip() if fmt.ws else after
    if fmt.ws and not rest:
        return f"call-ws {gbnf_literal(start)} call-named"
    if start.startswith(rest):
        return f"{gbnf_literal(start[len(rest):])} call-named" if start[len(rest):] else "call-named"
    if not rest.startswith(start):
        return None
    part = rest[len(start):]
    alts = [f"{gbnf_literal(n[len(part):])} {t}" if n[len(part):] else t
            for n, t in zip(names, tails) if n.startswith(part)]
    return "( " + " | ".join(alts) + " )" if alts else None


def calls_gbnf(fmt: ToolFormat, tools: list[dict], parallel: bool, after: str | None = None,
               close_thinking: str | None = None) -> str | None:
    """GBNF for one call (with parallel, up to MAX_CALLS) of these tools in fmt's form, each call's
    arguments following its tool's JSON schema (for Gemma's syntax, where gemma.py can say it).

    after=None: the root starts at the opening marker (a call from the reply's first token). Else
    `after` is what the model wrote after the marker in the token that completed it, and the root
    starts where that leaves off; None when that text cannot begin a call (then nothing is forced:
    the parser keeps such a "call" as text).
    """
    args, defined = _args_rules(fmt, tools)
    names, tails = [], []
    for i, tool in enumerate(tools):
        name = tool["function"]["name"]
        names.append(json.dumps(name, ensure_ascii=False)[1:-1] if fmt.name_in_json else name)   # as it stands in the call
        between = fmt.between_gbnf or gbnf_literal(fmt.between)
        tails.append(" ".join(p for p in (between if fmt.between or fmt.between_gbnf else "", args[i],
                                          fmt.end_gbnf or (gbnf_literal(fmt.end) if fmt.end else "")) if p))
    ws = "call-ws " if fmt.ws else ""
    again = gbnf_literal(fmt.open) + " " if fmt.open and fmt.repeat_open else ""
    head = gbnf_literal(fmt.head) + " " if fmt.head else ""
    if after is None:
        once = gbnf_literal(fmt.open) + " " if fmt.open and not fmt.repeat_open else ""
        # A forced call after a prompt that opened the thinking (Qwen3.5's): the thinking closed at once, empty,
        # as the template writes it with thinking off; else the call would be written inside the thinking.
        shut = f"{gbnf_literal(close_thinking + chr(10) + chr(10))} " if close_thinking else ""
        first = f"{shut}{once}{gbnf_literal(fmt.lead) + ' ' if fmt.lead else ''}call"
    else:
        first = _first(fmt, after, names, tails)
        if first is None:
            return None
    more = ""
    if parallel and fmt.parallel:
        sep = gbnf_literal(fmt.separator) + " " if fmt.separator else ""
        more = f" ( {sep}call ){{0,{MAX_CALLS - 1}}}"
    trail = f" {gbnf_literal(fmt.trail)}" if fmt.trail else ""
    return "\n".join([defined,
                      "call-named ::= " + " | ".join(f"( {gbnf_literal(n)} {t} )" for n, t in zip(names, tails)),
                      r"call-ws ::= [ \t\n]{0,2}",
                      rf"call-id ::= [a-zA-Z0-9]{{9}}",
                      f"call ::= {again}{ws}{head}call-named",
                      f"root ::= {first}{more}{trail}"]) + "\n"


def grammar_sampler(llm, gbnf: str):
    """llama.cpp's grammar sampler for gbnf (a raw pointer: whoever adds it to a chain owns it). EngineError
    instead of NULL (a grammar llama.cpp cannot parse): a NULL sampler in a chain crashes the process."""
    import llama_cpp
    ptr = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, gbnf.encode("utf-8"), b"root")
    if not ptr:
        raise EngineError("llama.cpp could not build the grammar for the tools' arguments; "
                          "a tool's parameter schema may be more than it supports.")
    return ptr
