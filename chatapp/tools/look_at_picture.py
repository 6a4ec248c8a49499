"""The look_at_picture tool (offered only to a model that sees): the model is shown a picture of the chat, as a
user message's image_url part after the result (branches.history), since a tool message carries text only."""
from __future__ import annotations

from ..recipes import RecipeError
from ..recipes.a1111 import parse_parameters
from .base import TOOLS, Tool, ToolError, ToolResult, ToolRun
from .picture_args import PICTURE, typed_argument


def run_look(args: dict, run: ToolRun) -> ToolResult:
    picture = typed_argument(args, "picture", str, "look_at_picture") or "last"
    found = run.services.recipe(picture)
    if found is None:
        raise ToolError(f"There is no picture {picture} in this chat to look at. "
                        + ("Draw one first with draw_picture." if picture == "last"
                           else 'Use "last" or a picture number shown in the chat.'))
    try:
        asked = parse_parameters(found.parameters).prompt if found.parameters else ""
    except RecipeError:
        asked = ""
    what = f' It was drawn from the prompt "{asked}".' if asked else ""
    return ToolResult(f"Picture #{found.number} is shown to you in the next message.{what} Look at it and say "
                      "what you see, or whether it matches what was asked.", shown=(found.message_id,))


TOOLS.register("look_at_picture", Tool(
    "look_at_picture", "Look at a picture of this chat (one you drew, or #N): it is shown to you, so you can say what "
    "is in it or whether it matches what the user asked. Use it after drawing when the user wants it checked, or "
    "when asked about a picture.",
    {"type": "object", "additionalProperties": False, "required": ["picture"], "properties": {"picture": PICTURE}},
    run_look, needs_vision=True))
