"""Qwen3.5's and Qwen3-Coder's calls (`<function=NAME>` then `<parameter=KEY>\\nVALUE\\n</parameter>` per argument,
values not JSON): read into JSON by each tool's schema, and their GBNF from it."""
from __future__ import annotations

import json
import re

_FUNCTION = re.compile(r"<function=([^>\n]{1,200})>\n?(.*)</function>", re.S)
_PARAMETER = re.compile(r"<parameter=([^>\n]{1,200})>\n?(.*?)\n?</parameter>", re.S)
_PYTHON_WORDS = {"True": True, "False": False, "None": None, "true": True, "false": False, "null": None}


def _typed(text: str, schema: dict | None):
    """A parameter's text as its schema's type: strings as written; anything else as JSON (or Python's words for
    booleans and null, which the template's `| string` writes); without a schema, JSON where it reads as JSON."""
    kind = (schema or {}).get("type")
    if kind == "string" or (schema is not None and kind is None and "enum" in schema
                             and all(isinstance(v, str) for v in schema["enum"])):
        return text
    if text.strip() in _PYTHON_WORDS:
        return _PYTHON_WORDS[text.strip()]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if kind in ("integer", "number", "boolean", "array", "object"):
            raise ValueError(f"{text[:20]!r} is no {kind}") from None
        return text


def parse_call(body: str, schemas: dict[str, dict] | None = None) -> list[tuple[str, str]] | None:
    """`<function=NAME>...</function>` -> [(NAME, arguments as JSON text)], None if it is no call. schemas: each
    tool's parameters schema, by name (the values' types come from it)."""
    m = _FUNCTION.fullmatch(body.strip())
    if not m:
        return None
    name, inner = m.group(1).strip(), m.group(2)
    props = ((schemas or {}).get(name) or {}).get("properties") or {}
    args, at = {}, 0
    for p in _PARAMETER.finditer(inner):
        if inner[at:p.start()].strip():
            return None   # text between parameters: not this format
        key = p.group(1).strip()
        try:
            args[key] = _typed(p.group(2), props.get(key) if schemas else None)
        except ValueError:
            return None
        at = p.end()
    if inner[at:].strip() or not name:
        return None
    return [(name, json.dumps(args, ensure_ascii=False))]


def shows_probe(text: str, key: str, value: str) -> bool:
    """Whether a render shows the probe's arguments in this form."""
    return f"<parameter={key}>\n{value}\n</parameter>" in text


# The grammar ------------------------------------------------------------------------------------------------------
# Each parameter of the schema in its order, required ones always, optional ones or not; a string's text may hold
# anything but "</" (so it ends where parse_call reads its end; a string with a length bound of up to 128 no "<", so
# its length counts in characters); other types as JSON. Schemas it cannot say (no
# properties, open objects) get any parameters (the tool checks them).

GENERIC = r'''xm-any ::= ( "<parameter=" xm-key ">\n" xm-text "\n</parameter>\n" ){0,32}
xm-key ::= [A-Za-z_] [A-Za-z0-9_.\-]{0,63}
xm-text ::= xm-char*
xm-char ::= [^<] | "<" [^/]
xm-json ::= xm-jobject | xm-jarray | xm-jstring | xm-jnumber | "true" | "false" | "null"
xm-jobject ::= "{" ( xm-jstring ":" xm-json ( "," xm-jstring ":" xm-json ){0,31} )? "}"
xm-jarray ::= "[" ( xm-json ( "," xm-json ){0,63} )? "]"
xm-jstring ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) ){0,512} "\""
xm-jnumber ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,15} )?
xm-int ::= "-"? ( "0" | [1-9] [0-9]{0,15} )'''


def _literal(value) -> str:
    if isinstance(value, bool):
        return '"True" | "true"' if value else '"False" | "false"'
    if isinstance(value, str):
        if "</" in value or "\n" in value:
            raise ValueError("an enum value the form cannot hold")
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return json.dumps(json.dumps(value))
    raise ValueError("an enum value that is no string, number or boolean")


class XmlRules:
    """GBNF rules for the parameters of calls following JSON schemas; rules() gives them all (with GENERIC)."""

    def __init__(self):
        self._rules: dict[str, str] = {}

    def args(self, schema: dict, name: str) -> str:
        """The rule name of a call's parameters following schema (any parameters where it cannot)."""
        try:
            return self._params(schema, name)
        except (ValueError, TypeError, AttributeError, KeyError):
            return "xm-any"

    def rules(self) -> str:
        return "\n".join([GENERIC, *(f"{k} ::= {v}" for k, v in self._rules.items())])

    def _value(self, schema: dict) -> str:
        if "enum" in schema:
            return "( " + " | ".join(_literal(v) for v in schema["enum"]) + " )"
        kind = schema.get("type")
        if kind == "string":
            lo, hi = schema.get("minLength", 0), schema.get("maxLength")
            if hi is not None and hi <= 128:   # counted in characters: no "<" (xm-char takes two with one)
                return f"[^<]{{{lo},{hi}}}"
            return f"xm-char{{{min(lo, 128)},}}" if lo else "xm-text"
        return {"integer": "xm-int", "number": "xm-jnumber", "boolean": '( "True" | "False" | "true" | "false" )',
                "array": "xm-jarray", "object": "xm-jobject"}.get(kind, "xm-json")

    def _params(self, schema: dict, name: str) -> str:
        props = schema.get("properties") if isinstance(schema, dict) else None
        if not props or schema.get("additionalProperties") not in (None, False):
            raise ValueError("no properties, or an open object")
        required = set(schema.get("required") or [])
        parts = []
        for key, sub in props.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}", key) or not isinstance(sub, dict):
                raise ValueError(f"key {key!r}")
            one = f'"<parameter={key}>\\n" {self._value(sub)} "\\n</parameter>\\n"'
            parts.append(one if key in required else f"( {one} )?")
        self._rules[name] = " ".join(parts)
        return name
