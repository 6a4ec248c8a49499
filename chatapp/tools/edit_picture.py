"""The edit_picture tool: a picture of this chat redrawn from itself with the same seed and a changed prompt."""
from __future__ import annotations

from ..recipes.request import DEFAULT_STRENGTH, MAX_PROMPT_CHARS, ModelLimits
from .base import TOOLS, Tool, ToolError, ToolResult, ToolRun
from .picture_args import (PICTURE, checked_request, drawn_result, recipe_fields,
                           recipe_properties, source_picture, typed_argument)


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
        **recipe_properties(limits, loras)}
    return {"type": "object", "additionalProperties": False, "required": ["picture"], "properties": props}


def run_edit(args: dict, run: ToolRun) -> ToolResult:
    picture = typed_argument(args, "picture", str, "edit_picture") or "last"
    if args.get("size") is not None:
        raise ToolError('edit_picture keeps the picture\'s size; to change it use draw_picture with "like".')
    found, base = source_picture(run, picture, "edit_picture")
    fields = recipe_fields(args, "edit_picture", base)
    strength = typed_argument(args, "strength", float, "edit_picture")
    fields.update(init=f"#{found.number}", source_id=found.message_id,
                  strength=DEFAULT_STRENGTH if strength is None else strength,
                  mask=typed_argument(args, "mask", str, "edit_picture"))
    request = checked_request("edit_picture", run.services.image_limits(), fields, run.services.loras())
    if run.should_stop():
        raise ToolError("Stopped before editing.")
    run.progress(f"Editing #{found.number}", None)
    return drawn_result(f"Edited #{found.number} into", run.services.edit(request, f"#{found.number}"))


TOOLS.register("edit_picture", Tool(
    "edit_picture", "Change a picture of this chat (the last one or #N): it is redrawn from itself with the same seed "
    "and a changed prompt (make it more orange, add a hat).", edit_schema(ModelLimits()), run_edit,
    schema_for=edit_schema))
