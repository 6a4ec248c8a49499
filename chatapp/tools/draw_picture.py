"""The draw_picture tool: a new picture in the chat, or one like an earlier picture with fields changed."""
from __future__ import annotations

from ..recipes.request import MAX_PROMPT_CHARS, ModelLimits
from .base import TOOLS, Tool, ToolError, ToolResult, ToolRun
from .picture_args import (PICTURE, checked_request, drawn_result, recipe_fields,
                           recipe_properties, sizes, source_picture, typed_argument)


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
        **recipe_properties(limits, loras)}}


def run_draw(args: dict, run: ToolRun) -> ToolResult:
    like = typed_argument(args, "like", str, "draw_picture")
    base = source_picture(run, like, "draw_picture")[1] if like else None
    fields = recipe_fields(args, "draw_picture", base)
    count = typed_argument(args, "count", int, "draw_picture")
    if count is not None:
        fields["count"] = count
    request = checked_request("draw_picture", run.services.image_limits(), fields, run.services.loras())
    if run.should_stop():
        raise ToolError("Stopped before drawing.")
    run.progress("Drawing", None)
    return drawn_result("Drew", run.services.draw(request))


TOOLS.register("draw_picture", Tool(
    "draw_picture", "Draw a new picture and show it in the chat. Use it when the user asks for a picture, drawing, "
    "painting, photo or image of something; never otherwise. With \"like\" it starts from an earlier picture's recipe "
    "and changes only the fields given (another one like #2 but bigger).", draw_schema(ModelLimits()), run_draw,
    schema_for=draw_schema))
