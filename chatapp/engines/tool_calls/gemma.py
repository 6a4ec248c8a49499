"""Gemma 4's call arguments (`{key:<|"|>text<|"|>,n:3}`, not JSON): read into JSON, and their GBNF from a JSON schema."""
from __future__ import annotations

import json
import re

QUOTE = '<|"|>'    # Gemma 4's string delimiter (one special token in its vocabulary)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


class _Reader:
    def __init__(self, text: str):
        self.text, self.at = text, 0

    def ws(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t\n\r":
            self.at += 1

    def take(self, s: str) -> bool:
        self.ws()
        if self.text.startswith(s, self.at):
            self.at += len(s)
            return True
        return False

    def value(self):
        self.ws()
        if self.take(QUOTE):
            end = self.text.find(QUOTE, self.at)
            if end < 0:
                raise ValueError("an unclosed string")
            out, self.at = self.text[self.at:end], end + len(QUOTE)
            return out
        if self.take("{"):
            return self._members()
        if self.take("["):
            items = []
            if not self.take("]"):
                items.append(self.value())
                while self.take(","):
                    items.append(self.value())
                if not self.take("]"):
                    raise ValueError("an unclosed list")
            return items
        for word, value in (("true", True), ("false", False), ("null", None), ("None", None)):
            if self.take(word):   # the template writes Python's None for a null
                return value
        m = _NUMBER.match(self.text, self.at)
        if not m:
            raise ValueError(f"no value at {self.text[self.at:self.at + 12]!r}")
        self.at = m.end()
        return json.loads(m.group())

    def _members(self) -> dict:
        out = {}
        if self.take("}"):
            return out
        while True:
            self.ws()
            if self.take(QUOTE):     # keys are bare in calls, quoted in declarations: take both
                end = self.text.find(QUOTE, self.at)
                if end < 0:
                    raise ValueError("an unclosed key")
                key, self.at = self.text[self.at:end], end + len(QUOTE)
            else:
                m = _KEY.match(self.text, self.at)
                if not m:
                    raise ValueError("no key")
                key, self.at = m.group(), m.end()
            if not self.take(":"):
                raise ValueError("no ':' after a key")
            out[key] = self.value()
            if self.take("}"):
                return out
            if not self.take(","):
                raise ValueError("no ',' or '}' after a value")


def parse_call(body: str) -> list[tuple[str, str]] | None:
    """`call:NAME{...}` -> [(NAME, arguments as JSON text)], None if it is no call."""
    body = body.strip()
    if not body.startswith("call:") or "{" not in body:
        return None
    name, _, rest = body[len("call:"):].partition("{")
    reader = _Reader("{" + rest)
    try:
        reader.take("{")
        args = reader._members()
        reader.ws()
    except ValueError:
        return None
    if reader.at != len(reader.text) or not name.strip():
        return None
    return [(name.strip(), json.dumps(args, ensure_ascii=False))]


def shows_probe(text: str, key: str, value: str) -> bool:
    """Whether a render shows the probe's arguments in Gemma's own form."""
    return f"{key}:{QUOTE}{value}{QUOTE}" in text


# The grammar ------------------------------------------------------------------------------------------------------
# What it keeps: everything it allows reads back (parse_call) as an object with the schema's keys (required
# ones present, in the template's sorted order), types, enums, string lengths and list lengths. Numbers'
# ranges and strings' patterns are the tool's to check. Schemas outside what it can say (anyOf, $ref, open
# objects, ...) get the generic rules instead (any Gemma object: the call still reads back, the tool checks
# its fields), as grammar.py does with a JSON schema llama.cpp's converter refuses.

GENERIC = r'''gm-value ::= gm-string | gm-number | "true" | "false" | "null" | gm-object | gm-list
gm-object ::= "{" ( gm-key ":" gm-value ( "," gm-key ":" gm-value ){0,31} )? "}"
gm-list ::= "[" ( gm-value ( "," gm-value ){0,63} )? "]"
gm-key ::= [A-Za-z_] [A-Za-z0-9_]{0,39}
gm-number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,15} )?
gm-int ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
gm-string ::= "<|\"|>" gm-char* "<|\"|>"
gm-char ::= [^<] | "<" [^|]'''
# gm-char: anything but the delimiter's start ("<|"), so a string ends at the first <|"|> as parse_call reads it.


class Unsupported(Exception):
    """A schema the Gemma rules cannot say exactly."""


_KNOWN = {"type", "properties", "required", "description", "title", "enum", "items", "minItems", "maxItems",
          "minLength", "maxLength", "additionalProperties", "default", "examples",
          # left to the tool to check, as llama.cpp's converter leaves numbers' bounds in the JSON families
          "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "format"}


def _literal(value) -> str:
    if isinstance(value, str):
        if QUOTE in value:
            raise Unsupported("an enum value holding the delimiter")
        return json.dumps(QUOTE + value + QUOTE)
    if isinstance(value, bool):
        return '"true"' if value else '"false"'
    if isinstance(value, (int, float)):
        return json.dumps(json.dumps(value))
    raise Unsupported("an enum value that is no string, number or boolean")


class GemmaRules:
    """GBNF rules for Gemma arguments following JSON schemas; rules() gives them all (with GENERIC)."""

    def __init__(self):
        self._rules: dict[str, str] = {}

    def args(self, schema: dict, name: str) -> str:
        """The rule name of an arguments object following schema (the generic object where it cannot)."""
        saved = dict(self._rules)
        try:
            return self._value(schema, name)
        except (Unsupported, TypeError, AttributeError, KeyError):
            self._rules = saved
            return "gm-object"

    def rules(self) -> str:
        return "\n".join([GENERIC, *(f"{k} ::= {v}" for k, v in self._rules.items())])

    def _add(self, name: str, body: str) -> str:
        self._rules[name] = body
        return name

    def _value(self, schema, name: str) -> str:
        if not isinstance(schema, dict) or set(schema) - _KNOWN:
            raise Unsupported(f"schema keys {sorted(set(schema) - _KNOWN) if isinstance(schema, dict) else schema}")
        if "enum" in schema:
            return self._add(name, " | ".join(_literal(v) for v in schema["enum"]))
        kind = schema.get("type")
        if kind == "string":
            lo, hi = schema.get("minLength", 0), schema.get("maxLength")
            count = f"{{{lo},{hi}}}" if hi is not None else (f"{{{lo},}}" if lo else "*")
            return self._add(name, f'"<|\\"|>" gm-char{count} "<|\\"|>"')
        if kind == "integer":
            return "gm-int"
        if kind == "number":
            return "gm-number"
        if kind == "boolean":
            return self._add(name, '"true" | "false"')
        if kind == "array":
            item = self._value(schema.get("items") or {}, f"{name}-item") if schema.get("items") else "gm-value"
            lo, hi = schema.get("minItems", 0), schema.get("maxItems")
            more = f"{{{max(lo - 1, 0)},{hi - 1}}}" if hi is not None else f"{{{max(lo - 1, 0)},}}"
            if hi == 0:
                return self._add(name, '"[" "]"')
            body = f'{item} ( "," {item} ){more}'
            return self._add(name, f'"[" {body} "]"' if lo else f'"[" ( {body} )? "]"')
        if kind == "object" or "properties" in schema:
            return self._object(schema, name)
        raise Unsupported(f"type {kind!r}")

    def _object(self, schema: dict, name: str) -> str:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") not in (None, False) or not props:
            raise Unsupported("an open object")
        required = set(schema.get("required") or [])
        # Keys in sorted order, as the template writes them (dictsort): the form the model has seen.
        keys = sorted(props)
        for key in keys:
            if not _KEY.fullmatch(key):
                raise Unsupported(f"key {key!r}")
        values = {k: self._value(props[k], f"{name}-{re.sub('[^A-Za-z0-9]', '-', k)}") for k in keys}
        # tail(i, first): members i.. with a comma before each but the first one written.
        def ref(i: int, first: bool) -> str:
            return f"{name}-t{i}{'f' if first else 'n'}" if i < len(keys) else ""
        for i in range(len(keys) - 1, -1, -1):
            for first in (True, False):
                k = keys[i]
                comma = "" if first else '"," '
                kv = f'{comma}"{k}:" {values[k]} {ref(i + 1, False)}'.rstrip()
                rest = ref(i + 1, first)
                self._add(ref(i, first), kv if k in required else f"( {kv} ) | {rest}" if rest else f"( {kv} )?")
        return self._add(name, f'"{{" {name}-t0f "}}"')
