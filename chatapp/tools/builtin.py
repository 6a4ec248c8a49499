"""The built-in tools: draw_picture, edit_picture, search_documents, read_recipe; the picture tools' schemas follow the image model's ModelLimits, their arguments go through the recipe's one validation."""
from __future__ import annotations

import math

from ..recipes import RecipeError
from ..recipes.a1111 import parse_parameters
from ..recipes.loras import MAX_LORAS, MAX_WEIGHT, MIN_WEIGHT
from ..recipes.request import DEFAULT_STRENGTH, MAX_PROMPT_CHARS, ImageRequest, ModelLimits, prompt_and_loras
from .base import TOOLS, Drawn, Tool, ToolError, ToolResult, ToolRun

# The shapes offered, as (word, width : height); each at the model's own area, on its size grid.
SHAPES = (("square", 1, 1), ("portrait", 3, 4), ("landscape", 4, 3), ("tall", 9, 16), ("wide", 16, 9))
PICTURE = {"type": "string", "pattern": "^(last|#[0-9]+)$",
           "description": 'Which picture of this chat: "last" or its number, like "#2".'}
SCOPES = ("all", "chat", "library")
# How the recipe's validation names each field in its messages: as the arguments the model wrote.
ARGUMENT = {"prompt": "prompt", "negative": "negative", "steps": "steps", "seed": "seed", "size": "size",
            "count": "count", "scheduler": "scheduler", "init": "picture", "strength": "strength", "mask": "mask",
            "loras": "loras", "cfg": "cfg"}
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


def _recipe_properties(limits: ModelLimits, loras: tuple[str, ...]) -> dict:
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


def draw_schema(limits: ModelLimits, loras: tuple[str, ...] = ()) -> dict:
    shown = sizes(limits)
    return {"type": "object", "additionalProperties": False, "required": ["prompt"], "properties": {
        "prompt": {"type": "string", "minLength": 1, "maxLength": MAX_PROMPT_CHARS,
                   "description": "What to draw: the subject, then style, colours and light, in English words."},
        "size": {"type": "string", "enum": [s for s, _ in shown],
                 "description": "Width x height (optional): " + "; ".join(f"{s} {w}" for s, w in shown) + "."},
        "count": {"type": "integer", "minimum": 1, "maximum": min(4, limits.count[1]),
                  "description": "How many pictures (optional, default 1)."},
        "like": {**PICTURE, "description": 'Start from the recipe of a picture of this chat ("last" or "#2") and '
                                           "change only the fields given (optional)."},
        **_recipe_properties(limits, loras)}}


def edit_schema(limits: ModelLimits, loras: tuple[str, ...] = ()) -> dict:
    lo, hi = limits.strength
    props = {
        "picture": PICTURE,
        "prompt": {"type": "string", "maxLength": MAX_PROMPT_CHARS,
                   "description": "The whole new prompt: the picture's prompt with the change made (optional: "
                                  "the picture's own prompt)."},
        "strength": {"type": "number", "minimum": lo, "maximum": hi,
                     "description": f"How much is redrawn, {lo:g} (nothing) to {hi:g} (everything); "
                                    f"default {DEFAULT_STRENGTH:g}. Small changes: 0.3 to 0.5."},
        "mask": {"type": "string", "description": "A PNG file of the picture's size, white where it is redrawn "
                                                  "(optional; only when the user gave one)."},
        **_recipe_properties(limits, loras)}
    return {"type": "object", "additionalProperties": False, "required": ["picture"], "properties": props}


def _typed(args: dict, name: str, kind: type, tool: str):
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


def _size(args: dict, tool: str) -> tuple[int | None, int | None]:
    size = _typed(args, "size", str, tool)
    if size is None:
        return None, None
    w, x, h = size.lower().replace(" ", "").partition("x")
    if not (x and w.isdigit() and h.isdigit()):
        raise ToolError(f'The argument "size" of {tool} must be width x height, like "512x512", not {size!r}.')
    return int(w), int(h)


def _loras(args: dict, tool: str) -> list | None:
    given = _typed(args, "loras", list, tool)
    if given is None:
        return None
    out = []
    for item in given:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ToolError(f'Each of "loras" in {tool} is an object with a "name" (and a "weight").')
        out.append((item["name"], _typed(item, "weight", float, tool) if item.get("weight") is not None else 1.0))
    return out


def _checked(tool: str, limits: ModelLimits, fields: dict) -> ImageRequest:
    """The one validation; its RecipeError becomes a ToolError naming the argument to fix."""
    if not (fields.get("prompt") or "").strip():
        raise ToolError(f'The argument "prompt" of {tool} is empty: say what to draw.')
    try:
        fields["prompt"], tags = prompt_and_loras(fields["prompt"], fields.get("negative") or "", names=NAMES)
        fields["loras"] = list(fields.get("loras") or []) + tags
        return ImageRequest.from_fields(limits=limits, names=NAMES, **fields)
    except RecipeError as exc:
        hint = " Sizes: " + ", ".join(s for s, _ in sizes(limits)) + "." if exc.field == "size" else ""
        raise ToolError(f'{exc}{hint} Call {tool} again with "{ARGUMENT.get(exc.field, exc.field)}" corrected.') from None


def _source(run: ToolRun, picture: str, tool: str):
    """A picture of this chat and its recipe as a request; ToolError when there is none."""
    found = run.services.recipe(picture)
    if found is None:
        raise ToolError(f"There is no picture {picture} in this chat to use in {tool}. "
                        + ("Draw one first with draw_picture." if picture == "last" else 'Use "last" or a picture number shown in the chat.'))
    return found, parse_parameters(found.parameters)


def _recipe_fields(args: dict, tool: str, base: ImageRequest | None) -> dict:
    """The recipe's fields from the arguments, the base picture's (edit, `like`) where one is not given."""
    w, h = _size(args, tool)
    given = {"prompt": _typed(args, "prompt", str, tool), "negative": _typed(args, "negative", str, tool),
             "steps": _typed(args, "steps", int, tool), "seed": _typed(args, "seed", int, tool),
             "scheduler": _typed(args, "scheduler", str, tool), "loras": _loras(args, tool),
             "width": w, "height": h}
    if base is None:
        return {k: v for k, v in given.items() if v is not None}
    own = {"prompt": base.prompt, "negative": base.negative, "steps": base.steps, "seed": base.seed,
           "scheduler": base.scheduler, "loras": base.loras, "width": base.width, "height": base.height,
           "cfg": base.cfg}
    return {k: v for k, v in {**own, **{k: v for k, v in given.items() if v is not None}}.items() if v is not None}


def _drawn(what: str, drawn: Drawn) -> ToolResult:
    r = drawn.request
    numbers = ", ".join(f"#{n}" for n in drawn.numbers) or "(none)"
    facts = [f"{r.width}x{r.height}" if r.width and r.height else "", f"seed {r.seed}" if r.seed is not None else "",
             f"{r.steps} steps" if r.steps else "", r.scheduler or ""]
    text = (f"{what} picture {numbers}, shown to the user in the chat ({', '.join(f for f in facts if f)}). "
            f"Prompt: {r.prompt}")
    return ToolResult(text + (f" Negative: {r.negative}" if r.negative else ""), message_ids=tuple(drawn.message_ids))


def run_draw(args: dict, run: ToolRun) -> ToolResult:
    like = _typed(args, "like", str, "draw_picture")
    base = _source(run, like, "draw_picture")[1] if like else None
    fields = _recipe_fields(args, "draw_picture", base)
    count = _typed(args, "count", int, "draw_picture")
    if count is not None:
        fields["count"] = count
    request = _checked("draw_picture", run.services.image_limits(), fields)
    if run.should_stop():
        raise ToolError("Stopped before drawing.")
    run.progress("Drawing", None)
    return _drawn("Drew", run.services.draw(request))


def run_edit(args: dict, run: ToolRun) -> ToolResult:
    picture = _typed(args, "picture", str, "edit_picture") or "last"
    if args.get("size") is not None:
        raise ToolError('edit_picture keeps the picture\'s size; to change it use draw_picture with "like".')
    found, base = _source(run, picture, "edit_picture")
    fields = _recipe_fields(args, "edit_picture", base)
    strength = _typed(args, "strength", float, "edit_picture")
    fields.update(init=f"#{found.number}", source_id=found.message_id,
                  strength=DEFAULT_STRENGTH if strength is None else strength,
                  mask=_typed(args, "mask", str, "edit_picture"))
    request = _checked("edit_picture", run.services.image_limits(), fields)
    if run.should_stop():
        raise ToolError("Stopped before editing.")
    run.progress(f"Editing #{found.number}", None)
    return _drawn(f"Edited #{found.number} into", run.services.edit(request, f"#{found.number}"))


def run_search(args: dict, run: ToolRun) -> ToolResult:
    query = (_typed(args, "query", str, "search_documents") or "").strip()
    scope = _typed(args, "scope", str, "search_documents") or "all"
    if not query:
        raise ToolError('search_documents needs "query": the words to look for.')
    if scope not in SCOPES:
        raise ToolError(f'The argument "scope" of search_documents must be one of {", ".join(SCOPES)}, not {scope!r}.')
    run.progress("Searching", None)
    found = run.services.search(query, scope)
    if not found:
        where = {"chat": "this chat's files", "library": "the library", "all": "this chat's files or the library"}
        return ToolResult(f"Nothing in {where[scope]} matches {query!r}.")
    blocks = [f"[{p.n}] {p.name}, {p.location}:\n{p.text.strip()}" for p in found]
    return ToolResult("\n\n".join(blocks) + "\n\nCite a passage by its number in brackets, like [1].")


def run_recipe(args: dict, run: ToolRun) -> ToolResult:
    picture = _typed(args, "picture", str, "read_recipe") or "last"
    found, request = _source(run, picture, "read_recipe")
    return ToolResult(f"Picture #{found.number}'s recipe (AUTOMATIC1111 parameters):\n{found.parameters}\n\n"
                      f"As a chat command: {request.command()}")


SEARCH = {"type": "object", "additionalProperties": False, "required": ["query"], "properties": {
    "query": {"type": "string", "minLength": 1, "description": "The words or question to look for."},
    "scope": {"type": "string", "enum": list(SCOPES),
              "description": "Where: the files attached to this chat, the library folder, or both (default all)."}}}

TOOLS.register("draw_picture", Tool(
    "draw_picture", "Draw a new picture and show it in the chat. Use it when the user asks for a picture, drawing, "
    "painting, photo or image of something; never otherwise. With \"like\" it starts from an earlier picture's recipe "
    "and changes only the fields given (another one like #2 but bigger).", draw_schema(ModelLimits()), run_draw,
    schema_for=draw_schema))
TOOLS.register("edit_picture", Tool(
    "edit_picture", "Change a picture of this chat (the last one or #N): it is redrawn from itself with the same seed "
    "and a changed prompt (make it more orange, add a hat).", edit_schema(ModelLimits()), run_edit,
    schema_for=edit_schema))
TOOLS.register("search_documents", Tool(
    "search_documents", "Search the files attached to this chat and the library for passages about a question.",
    SEARCH, run_search))
TOOLS.register("read_recipe", Tool(
    "read_recipe", "Read the recipe of a picture of this chat (prompt, size, seed, steps, sampler, LoRAs).",
    {"type": "object", "additionalProperties": False, "required": ["picture"], "properties": {"picture": PICTURE}},
    run_recipe))
