"""How a local model's chat template takes tools and writes calls: the probe, each family's format, history for its template."""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
from dataclasses import dataclass
from typing import Callable

from ...registry import Registry
from .gemma import parse_call as _gemma_call
from .gemma import shows_probe as _gemma_shows
from .qwen_xml import parse_call as _xml_call
from .qwen_xml import shows_probe as _xml_shows

PROBE_NAME = "chatapp_probe_x9"     # names no real tool has, so finding them in a render proves the template put them there
PROBE_VALUE = "probe_val_x9"
PROBE_TOOL = {"type": "function", "function": {
    "name": PROBE_NAME, "description": "A probe.",
    "parameters": {"type": "object", "properties": {"arg": {"type": "string"}}, "required": ["arg"]}}}
PROBE_ID = "abcDEF123"              # an id every template takes (Mistral's want 9 letters or digits)
FOREIGN_ID = "call_chatapp_probe"   # an OpenAI-style id: a template that refuses it wants short ids
Parsed = list[tuple[str, str]]      # (name, arguments JSON text) per call


@dataclass(frozen=True)
class ToolFormat:
    """One family's way of writing a reply's calls, as GBNF pieces (grammar.py) and a parser.

    The calls: `open`, then `lead` once, then per call [whitespace if `ws`] `head` + NAME + `between` +
    ARGUMENTS + `end`, calls joined by `separator` (each later call starting with `open` again where
    `repeat_open`), then `trail` once. `between_gbnf`/`end_gbnf` replace the literal where the piece
    holds more than text (a call id). `args` is "json", "gemma" (gemma.py) or "xml" (qwen_xml.py).

    detect(before, after) reads the probe render around a called tool's name. The parser cuts a
    call's body between `open` and `close` ("" : up to the next `open` or the reply's end);
    parse(body) -> [(name, arguments JSON text)], None if it is no call (typed: parse(body, schemas), the
    values' types read from each tool's parameters schema, by name). start_only: the call is the
    whole reply, JSON from its first character (no marker); parallel: whether the templates take
    several calls a turn; short_ids: calls get Mistral's 9-character ids; specials: the markers that
    are special tokens in the family's real vocabularies (their text is shown, see llama_tools).
    """
    name: str
    open: str
    head: str
    between: str
    end: str
    close: str
    separator: str
    detect: Callable[[str, str], bool]
    parse: Callable[[str], Parsed | None]
    lead: str = ""
    trail: str = ""
    repeat_open: bool = True
    ws: bool = False
    between_gbnf: str = ""
    end_gbnf: str = ""
    args: str = "json"
    name_in_json: bool = True
    shows: Callable[[str], bool] = lambda text: f'"arg": "{PROBE_VALUE}"' in text
    start_only: bool = False
    parallel: bool = True
    short_ids: bool = False
    specials: tuple[str, ...] = ()
    typed: bool = False


def _json_args(value) -> str | None:
    if isinstance(value, str):      # some models write the arguments as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else None


def _json_object(value) -> tuple[str, str] | None:
    """{"name": N, "arguments": {...}} (or "parameters", as Llama 3.x and some Hermes fine-tunes write)."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    args = _json_args(value.get("arguments", value.get("parameters", {})))
    return None if args is None else (value["name"], args)


def _loads(body: str):
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return None


def _json_call(body: str) -> Parsed | None:
    call = _json_object(_loads(body))
    return None if call is None else [call]


def _json_calls(body: str) -> Parsed | None:
    """Mistral Nemo's array of calls (a lone object too); their ids are the engine's to give."""
    value = _loads(body)
    calls = [_json_object(v) for v in (value if isinstance(value, list) else [value])]
    return None if not calls or None in calls else calls


def _args_call(body: str) -> Parsed | None:
    """Newer Mistral: NAME[ARGS]{...}, or NAME[CALL_ID]abcDEF123[ARGS]{...} (Mistral Small 3.2)."""
    head, sep, args = body.partition("[ARGS]")
    name = head.split("[CALL_ID]")[0].strip()
    args = _json_args(args.strip()) if sep else None
    return None if args is None or not name else [(name, args)]


SHORT_ID = "[a-zA-Z0-9]{9}"
TOOL_FORMATS: Registry[ToolFormat] = Registry("tool-call format")
TOOL_FORMATS.register("hermes", ToolFormat(
    # Hermes 2 Pro / 3, Qwen 2.5 / 3 and the like; written the way their templates render a
    # call in the history, so the model writes what it has seen.
    "hermes", open="<tool_call>", head='{"name": "', between='", "arguments": ', end="}\n</tool_call>",
    close="</tool_call>", separator="\n", detect=lambda before, after: "<tool_call>" in before, parse=_json_call,
    ws=True, specials=("<tool_call>", "</tool_call>")))
TOOL_FORMATS.register("llama3-json", ToolFormat(
    # Llama 3.1 / 3.2 / 3.3: the reply is the call, {"name": N, "parameters": {...}}, and one call a turn
    # ("This model only supports single tool-calls at once!"); results come back as role ipython.
    "llama3-json", open="", head='{"name": "', between='", "parameters": ', end="}", close="", separator="",
    detect=lambda before, after: before.endswith('<|end_header_id|>\n\n{"name": "'), parse=_json_call,
    ws=True, start_only=True, parallel=False))
TOOL_FORMATS.register("mistral-nemo", ToolFormat(
    # Mistral Nemo / Small (v3 tokenizers): [TOOL_CALLS][{"name": N, "arguments": {...}, "id": "abcDEF123"}, ...]
    # then the end of the reply; the template raises on an id that is not 9 characters.
    "mistral-nemo", open="[TOOL_CALLS]", lead="[", head='{"name": "', between='", "arguments": ', end="",
    end_gbnf='", \\"id\\": \\"" call-id "\\"}"', trail="]", close="", separator=", ", repeat_open=False,
    detect=lambda before, after: before.endswith('[TOOL_CALLS][{"name": "'), parse=_json_calls,
    short_ids=True, specials=("[TOOL_CALLS]",)))
TOOL_FORMATS.register("mistral-args", ToolFormat(
    # Ministral 3, Magistral, Devstral (v11+ tokenizers): [TOOL_CALLS]NAME[ARGS]{...} per call.
    "mistral-args", open="[TOOL_CALLS]", head="", between="[ARGS]", end="", close="", separator="",
    detect=lambda before, after: before.endswith("[TOOL_CALLS]") and after.startswith("[ARGS]"), parse=_args_call,
    name_in_json=False, short_ids=True, specials=("[TOOL_CALLS]", "[ARGS]")))
TOOL_FORMATS.register("mistral-call-id", ToolFormat(
    # Mistral Small 3.2: [TOOL_CALLS]NAME[CALL_ID]abcDEF123[ARGS]{...} per call.
    "mistral-call-id", open="[TOOL_CALLS]", head="", between="", between_gbnf='"[CALL_ID]" call-id "[ARGS]"',
    end="", close="", separator="", parse=_args_call, name_in_json=False, short_ids=True,
    detect=lambda before, after: before.endswith("[TOOL_CALLS]") and after.startswith("[CALL_ID]"),
    specials=("[TOOL_CALLS]", "[CALL_ID]", "[ARGS]")))
TOOL_FORMATS.register("gemma4", ToolFormat(
    # Gemma 4: <|tool_call>call:NAME{key:<|"|>text<|"|>,n:3}<tool_call|> per call, arguments not JSON.
    "gemma4", open="<|tool_call>", head="call:", between="", end="<tool_call|>", close="<tool_call|>",
    separator="", detect=lambda before, after: before.endswith("<|tool_call>call:"), parse=_gemma_call,
    args="gemma", name_in_json=False, shows=lambda text: _gemma_shows(text, "arg", PROBE_VALUE),
    specials=("<|tool_call>", "<tool_call|>", '<|"|>')))
TOOL_FORMATS.register("qwen-xml", ToolFormat(
    # Qwen3.5, Qwen3-Coder: <tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n</function>\n</tool_call>,
    # values as text (not JSON) for strings; the same opening marker as Hermes, told apart by how the arguments show.
    "qwen-xml", open="<tool_call>", head="<function=", between=">\n", end="</function>\n</tool_call>",
    close="</tool_call>", separator="\n", detect=lambda before, after: before.endswith("<function="),
    parse=_xml_call, args="xml", name_in_json=False, ws=True, typed=True,
    shows=lambda text: _xml_shows(text, "arg", PROBE_VALUE), specials=("<tool_call>", "</tool_call>")))


@dataclass(frozen=True)
class TemplateTools:
    """What probing a chat template found: whether it shows tools to the model, how it wants a call's
    arguments in the history (a dict for templates that apply `tojson` to them), the call format, and
    whether it takes only 9-character call ids (Mistral's: others' ids are mapped when rendering)."""
    takes_tools: bool = False
    object_arguments: bool = False
    format: ToolFormat | None = None
    short_ids: bool = False

    @property
    def can_call(self) -> bool:
        return self.takes_tools and self.format is not None


def probe(render: Callable[[list[dict], list[dict] | None], str | None]) -> TemplateTools:
    """Ask the template itself, as llama.cpp's caps.cpp does: render with a probe tool (its name shows:
    the template takes tools), then a turn calling it, with the arguments as JSON text and as a dict,
    and read the call's format around the name in a render where a family's arguments show (text
    first). Then the same call with an OpenAI-style id: a template that refuses it wants short ids.
    render(messages, tools) is the template's text, None where it cannot say; template errors are
    answers too (a template that raises on a form does not take it)."""
    user = {"role": "user", "content": "hi"}

    def safe(messages, tools):
        try:
            return render(messages, tools) or ""
        except Exception:   # a template that raises on tools or on a call does not take them
            return ""

    def turn(as_object: bool, call_id: str) -> str:
        args = {"arg": PROBE_VALUE}
        call = {"id": call_id, "type": "function",
                "function": {"name": PROBE_NAME, "arguments": args if as_object else json.dumps(args)}}
        return safe([user, {"role": "assistant", "content": "", "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": call_id, "content": "ok"}], [PROBE_TOOL])
    if PROBE_NAME not in safe([user], [PROBE_TOOL]):
        return TemplateTools()
    found = []   # (as_object, format or None), best first
    for as_object in (False, True):
        text = turn(as_object, PROBE_ID)
        around = [(text[:m.start()][-40:], text[m.end():m.end() + 40]) for m in re.finditer(PROBE_NAME, text)]
        fmt = next((f for f in TOOL_FORMATS.values() if f.shows(text) and any(f.detect(*a) for a in around)), None)
        if fmt is not None or f'"arg": "{PROBE_VALUE}"' in text:
            found.append((fmt is None, as_object, fmt))
    if not found:
        return TemplateTools(takes_tools=True)
    _, as_object, fmt = min(found, key=lambda f: f[:2])
    return TemplateTools(takes_tools=True, object_arguments=as_object, format=fmt,
                         short_ids=not turn(as_object, FOREIGN_ID))


_ALNUM = string.ascii_letters + string.digits


def short_call_id() -> str:
    """A new call id as Mistral's templates want it: 9 letters or digits."""
    return "".join(secrets.choice(_ALNUM) for _ in range(9))


def _is_short(call_id) -> bool:
    return isinstance(call_id, str) and len(call_id) == 9 and call_id.isascii() and call_id.isalnum()


def _short_for(call_id: str, taken: set[str]) -> str:
    """A foreign id's short form: from its hash, so every render of a history (each turn, the warmed
    prefix) writes the same tokens; a clash with another id in the history takes the next hash."""
    for n in range(1000):
        digest = int.from_bytes(hashlib.sha256(f"{n}:{call_id}".encode()).digest()[:8], "big")
        out = "".join(_ALNUM[(digest >> (6 * k)) % 62] for k in range(9))
        if out not in taken:
            return out
    raise ValueError("no short id left")   # 1000 clashes in 62^9: not in this universe


def short_ids(messages: list[dict]) -> list[dict]:
    """The history with every call id a 9-character one, a foreign id (OpenAI's `call_...`, another engine's)
    mapped the same way wherever it stands (the call and its result) within this render."""
    ids = [c.get("id") for m in messages for c in m.get("tool_calls") or []] + [m.get("tool_call_id") for m in messages]
    taken = {i for i in ids if _is_short(i)}
    mapping: dict[str, str] = {}
    for i in ids:
        if isinstance(i, str) and not _is_short(i) and i not in mapping:
            mapping[i] = _short_for(i, taken)
            taken.add(mapping[i])
    if not mapping:
        return messages
    out = []
    for m in messages:
        if m.get("tool_calls"):
            m = dict(m, tool_calls=[{**c, "id": mapping.get(c.get("id"), c.get("id"))} for c in m["tool_calls"]])
        if m.get("tool_call_id") in mapping:
            m = dict(m, tool_call_id=mapping[m["tool_call_id"]])
        out.append(m)
    return out


def history_for_template(messages: list[dict], template: TemplateTools) -> list[dict]:
    """OpenAI chat messages as a template renders them: content None -> "", a call's arguments as a dict
    where the template wants one (JSON text that does not parse stays text), call ids as it takes them."""
    out = []
    object_arguments = template.object_arguments
    for m in messages:
        if m.get("content") is None or (object_arguments and m.get("tool_calls")):
            m = dict(m, content=m.get("content") or "")
            if object_arguments and m.get("tool_calls"):
                m["tool_calls"] = [_with_object_arguments(c) for c in m["tool_calls"]]
        out.append(m)
    return short_ids(out) if template.short_ids else out


def _with_object_arguments(call: dict) -> dict:
    fn = call.get("function") or {}
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            parsed = json.loads(args or "{}")
        except json.JSONDecodeError:
            return call
        return {**call, "function": {**fn, "arguments": parsed}}
    return call
