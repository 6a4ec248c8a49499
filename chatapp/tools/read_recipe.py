"""The read_recipe tool: a picture's recipe as AUTOMATIC1111 parameters and as a chat command."""
from __future__ import annotations

from .base import TOOLS, Tool, ToolResult, ToolRun
from .picture_args import PICTURE, source_picture, typed_argument


def run_recipe(args: dict, run: ToolRun) -> ToolResult:
    picture = typed_argument(args, "picture", str, "read_recipe") or "last"
    found, request = source_picture(run, picture, "read_recipe")
    return ToolResult(f"Picture #{found.number}'s recipe (AUTOMATIC1111 parameters):\n{found.parameters}\n\n"
                      f"As a chat command: {request.command()}")


TOOLS.register("read_recipe", Tool(
    "read_recipe", "Read the recipe of a picture of this chat (prompt, size, seed, steps, sampler, LoRAs).",
    {"type": "object", "additionalProperties": False, "required": ["picture"], "properties": {"picture": PICTURE}},
    run_recipe))
