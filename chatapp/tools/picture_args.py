"""What the picture tools share: the shapes and sizes offered for the image model's ModelLimits, the recipe's
properties in a schema, and arguments read and checked through the recipe's one validation."""
from __future__ import annotations

import math

from ..recipes import RecipeError
from ..recipes.a1111 import parse_parameters
from ..recipes.loras import MAX_LORAS, MAX_WEIGHT, MIN_WEIGHT
from ..recipes.request import MAX_PROMPT_CHARS, ImageRequest, ModelLimits, prompt_and_loras
from .base import Drawn, ToolError, ToolResult, ToolRun

# The shapes offered, as (word, width : height); each at the model's own area, on its size grid.
SHAPES = (("square", 1, 1), ("portrait", 3, 4), ("landscape", 4, 3), ("tall", 9, 16), ("wide", 16, 9))
PICTURE = {"type": "string", "pattern": "^(last|#[0-9]+)$",
           "description": 'Which picture of this chat: "last" or its number, like "#2".'}
# How the recipe's validation names each field in its messages: as the arguments the model wrote.
ARGUMENT = {"prompt": "prompt", "negative": "negative", "steps": "steps", "seed": "seed", "size": "size",
            "count": "count", "scheduler": "scheduler", "init": "picture", "strength": "strength", "mask": "mask",
            "loras": "loras", "cfg": "cfg"}
MAX_NAMED = 20   # LoRA names a refusal lists (a folder may hold hundreds)
NAMES = {field: f'"{arg}"' for field, arg in ARGUMENT.items()} | {
    "prompt": 'The argument "prompt"', "negative": 'The argument "negative"'}


def sizes(limits: ModelLimits) -> list[tuple[str, str]]:
    """(WxH, its word) the model draws well: each shape at the model's own area, then a square twice its side."""
    own_w, own_h = limits.fits or (min(512, limits.max_side),) * 2
    area = own_w * own_h
    # Round to 64 where the grid allows it (sizes people know, 448x576); tiny models stay on their grid.
    step = 64 if math.sqrt(area) >= 256 and 64 % limits.multiple == 0 else limits.multiple

    def fit(w: float, h: float) -> tuple[int, int]:
        scale = min(1.0, limits.max_side / max(w, h))
        return tuple(max(limits.multiple, int(round(v * scale / step)) * step) for v in (w, h))

    found: dict[str, str] = {}
    if limits.fits:
        found[f"{own_w}x{own_h}"] = "the model's own size"
    for word, a, b in SHAPES:
        w, h = fit(math.sqrt(area * a / b), math.sqrt(area * b / a))
        found.setdefault(f"{w}x{h}", word)
    side = fit(2 * math.sqrt(area), 2 * math.sqrt(area))
    found.setdefault(f"{side[0]}x{side[1]}", "large square (slower)")
    return list(found.items())


def recipe_properties(limits: ModelLimits, loras: tuple[str, ...]) -> dict:
    """The recipe's fields both picture tools take, within the model's limits."""
    props = {
        "negative": {"type": "string", "maxLength": MAX_PROMPT_CHARS,
                     "description": "What to keep out of the picture (optional)."},
        "steps": {"type": "integer", "minimum": limits.steps[0], "maximum": limits.steps[1],
                  "description": "Denoising steps (optional; more is slower and finer)."},
        "seed": {"type": "integer", "minimum": 0,
                 "description": "Fixes the picture's randomness (optional; the same seed gives the same picture)."},
        "scheduler": {"type": "string", "enum": list(limits.schedulers), "description": "The sampler (optional)."},
    }
    if loras:
        props["loras"] = {"type": "array", "maxItems": MAX_LORAS, "description": "LoRAs to apply (optional).",
                          "items": {"type": "object", "additionalProperties": False, "required": ["name"],
                                    "properties": {"name": {"type": "string", "enum": list(loras)},
                                                   "weight": {"type": "number", "minimum": MIN_WEIGHT,
                                                              "maximum": MAX_WEIGHT}}}}
    return props


def typed_argument(args: dict, name: str, kind: type, tool: str):
    """args[name] as kind (None when absent); a wrong type is an error naming the argument."""
    value = args.get(name)
    if value is None:
        return None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)   # 20.0 from a model that writes every number with a point
    ok = isinstance(value, kind) and not isinstance(value, bool) or (kind is float and isinstance(value, int)
                                                                      and not isinstance(value, bool))
    if not ok:
        what = {int: "a whole number", float: "a number", str: "text", list: "a list"}[kind]
        raise ToolError(f'The argument "{name}" of {tool} must be {what}, not {value!r}.')
    return float(value) if kind is float else value


def size_argument(args: dict, tool: str) -> tuple[int | None, int | None]:
    size = typed_argument(args, "size", str, tool)
    if size is None:
        return None, None
    w, x, h = size.lower().replace(" ", "").partition("x")
    if not (x and w.isdigit() and h.isdigit()):
        raise ToolError(f'The argument "size" of {tool} must be width x height, like "512x512", not {size!r}.')
    return int(w), int(h)


def loras_argument(args: dict, tool: str) -> list | None:
    given = typed_argument(args, "loras", list, tool)
    if given is None:
        return None
    out = []
    for item in given:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ToolError(f'Each of "loras" in {tool} is an object with a "name" (and a "weight").')
        out.append((item["name"], typed_argument(item, "weight", float, tool) if item.get("weight") is not None else 1.0))
    return out


def checked_request(tool: str, limits: ModelLimits, fields: dict, loras: tuple[str, ...]) -> ImageRequest:
    """The one validation, then the LoRAs named (in "loras" or as <lora:NAME:W> in the prompt) against those that
    exist (`loras`); a RecipeError becomes a ToolError naming the argument to fix."""
    if not (fields.get("prompt") or "").strip():
        raise ToolError(f'The argument "prompt" of {tool} is empty: say what to draw.')
    try:
        fields["prompt"], tags = prompt_and_loras(fields["prompt"], fields.get("negative") or "", names=NAMES)
        fields["loras"] = list(fields.get("loras") or []) + tags
        request = ImageRequest.from_fields(limits=limits, names=NAMES, **fields)
    except RecipeError as exc:
        hint = " Sizes: " + ", ".join(s for s, _ in sizes(limits)) + "." if exc.field == "size" else ""
        raise ToolError(f'{exc}{hint} Call {tool} again with "{ARGUMENT.get(exc.field, exc.field)}" corrected.') from None
    known = {name.lower() for name in loras}
    missing = next((str(lora[0]) for lora in request.loras if str(lora[0]).lower() not in known), None)
    if missing is not None:   # the engine would refuse it only after the model loaded: said now, in the card
        there = (f"The LoRAs there are: {', '.join(loras[:MAX_NAMED])}{', …' if len(loras) > MAX_NAMED else ''}."
                 if loras else 'No LoRA is installed: leave "loras" out.')
        raise ToolError(f'There is no LoRA named {missing!r}. {there} Call {tool} again with "loras" corrected.')
    return request


def source_picture(run: ToolRun, picture: str, tool: str):
    """A picture of this chat and its recipe as a request; ToolError when there is none."""
    found = run.services.recipe(picture)
    if found is None:
        raise ToolError(f"There is no picture {picture} in this chat to use in {tool}. "
                        + ("Draw one first with draw_picture." if picture == "last" else 'Use "last" or a picture number shown in the chat.'))
    return found, parse_parameters(found.parameters)


def recipe_fields(args: dict, tool: str, base: ImageRequest | None) -> dict:
    """The recipe's fields from the arguments, the base picture's (edit, `like`) where one is not given."""
    w, h = size_argument(args, tool)
    given = {"prompt": typed_argument(args, "prompt", str, tool), "negative": typed_argument(args, "negative", str, tool),
             "steps": typed_argument(args, "steps", int, tool), "seed": typed_argument(args, "seed", int, tool),
             "scheduler": typed_argument(args, "scheduler", str, tool), "loras": loras_argument(args, tool),
             "width": w, "height": h}
    if base is None:
        return {k: v for k, v in given.items() if v is not None}
    own = {"prompt": base.prompt, "negative": base.negative, "steps": base.steps, "seed": base.seed,
           "scheduler": base.scheduler, "loras": base.loras, "width": base.width, "height": base.height,
           "cfg": base.cfg}
    return {k: v for k, v in {**own, **{k: v for k, v in given.items() if v is not None}}.items() if v is not None}


def drawn_result(what: str, drawn: Drawn) -> ToolResult:
    r = drawn.request
    numbers = ", ".join(f"#{n}" for n in drawn.numbers) or "(none)"
    facts = [f"{r.width}x{r.height}" if r.width and r.height else "", f"seed {r.seed}" if r.seed is not None else "",
             f"{r.steps} steps" if r.steps else "", r.scheduler or ""]
    text = (f"{what} picture {numbers}, shown to the user in the chat ({', '.join(f for f in facts if f)}). "
            f"Prompt: {r.prompt}")
    return ToolResult(text + (f" Negative: {r.negative}" if r.negative else ""), message_ids=tuple(drawn.message_ids))
