"""The LoRA tag syntax: AUTOMATIC1111's <lora:NAME:WEIGHT> in a prompt and /image's --lora NAME[:WEIGHT], read and written."""
from __future__ import annotations

import re

from . import RecipeError

MIN_WEIGHT, MAX_WEIGHT = -2.0, 2.0
MAX_LORAS = 8
# Where an A1111 <lora:NAME:WEIGHT> tag may start. Only the opening is a pattern: the old whole-tag
# pattern retried at every "<lora:" and ran to the end of the text each time when no ">" followed
# (quadratic: 32,000 characters of "<lora:" held the GIL 1.8 s). The rest is scanned in _tag_spans.
TAG_OPEN = re.compile(r"<lora:", re.IGNORECASE)


def _tag_spans(prompt: str):
    """(start, end, name, weight text) of each <lora:NAME[:WEIGHT]> tag, left to right, in one pass.

    Linear time: each search starts where the last tag ended, and a tag opening with no ">" after it
    ends the scan, as no later one can have one either. Same tags as A1111's <lora:([^:>]*)(?::([^>]*))?>.
    """
    pos = 0
    while True:
        opening = TAG_OPEN.search(prompt, pos)
        if opening is None:
            return
        end = prompt.find(">", opening.end())
        if end < 0:
            return
        name, _, weight = prompt[opening.end():end].partition(":")
        yield opening.start(), end + 1, name, weight
        pos = end + 1


def split_tags(prompt: str) -> tuple[str, list[tuple[str, str]]]:
    """AUTOMATIC1111's <lora:NAME:WEIGHT> out of a prompt: (the prompt without them, [(name, weight text)])."""
    spans = list(_tag_spans(prompt))
    if not spans:
        return prompt, []
    pieces, last = [], 0
    for start, end, _, _ in spans:
        pieces.append(prompt[last:start])
        last = end
    pieces.append(prompt[last:])
    text = " ".join(" ".join(pieces).split())   # single spaces now, so " ," is the only space before a comma
    return text.replace(" ,", ",").strip(" ,"), [(name.strip(), weight.strip()) for _, _, name, weight in spans]


def with_tags(prompt: str, loras) -> str:
    """The prompt with AUTOMATIC1111's <lora:NAME:WEIGHT> tags after it, one per (name, weight, ...)."""
    return " ".join([prompt, *(f"<lora:{x[0]}:{float(x[1]):g}>" for x in loras)])


def parse_weight(name: str, text: str) -> float:
    """A LoRA's weight from text ("" is 1.0); ValueError says what is wrong, for the parser's message."""
    if not name or any(c in name for c in "/\\\0") or name in (".", ".."):
        raise ValueError(f"{name!r} is not a LoRA name: use the file's name without .safetensors (see /loras)")
    if not text:
        return 1.0
    try:
        weight = float(text)
    except ValueError:
        raise ValueError(f"the weight of LoRA {name!r} must be a number, like {name}:0.8 "
                         f"(chatapp takes one weight per LoRA), not {text!r}") from None
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise ValueError(f"the weight of LoRA {name!r} must be between {MIN_WEIGHT:g} and {MAX_WEIGHT:g}, not {weight:g}")
    return weight


def parse_loras(prompt: str, flags: list[str]) -> tuple[str, list[tuple[str, float]]]:
    """--lora NAME[:WEIGHT] flags and <lora:NAME:WEIGHT> tags -> (prompt without the tags, [(name, weight)]).
    RecipeError says what is wrong (the count of LoRAs is the recipe's validation)."""
    text, tags = split_tags(prompt)
    pairs = tags + [(v.rpartition(":")[0], v.rpartition(":")[2]) if ":" in v else (v, "") for v in flags]
    try:
        loras = [(name.strip(), parse_weight(name.strip(), weight.strip())) for name, weight in pairs]
    except ValueError as exc:
        raise RecipeError(str(exc)[0].upper() + str(exc)[1:] + ".", "loras", "lora") from None
    if tags and not text:
        raise RecipeError("The picture needs a description besides its LoRAs: /image a red circle <lora:NAME:0.8>",
                          "prompt", "empty")
    return text, loras


def recipe_loras(prompt: str) -> tuple[str, list]:
    """<lora:NAME:WEIGHT> tags out of another tool's prompt. A1111's extra fields (a UNet weight, te=, dyn=) are
    left out and a weight beyond chatapp's range is clamped, so the command it gives always parses."""
    text, tags = split_tags(prompt)
    loras = []
    for name, weight in tags:
        first = weight.split(":")[0].strip()
        try:
            value = float(first) if first else 1.0
        except ValueError:
            value = 1.0
        try:
            loras.append((name, parse_weight(name, f"{min(max(value, MIN_WEIGHT), MAX_WEIGHT):g}")))
        except ValueError:
            continue   # not a usable name (a path): the tag is dropped rather than break the recipe
    return text, loras
