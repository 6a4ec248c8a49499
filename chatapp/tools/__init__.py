"""Tools the assistant may call (issue 23): base.py (Tool, ToolRun, ToolServices, ToolResult, openai_tool, TOOLS); built-ins register on import."""
from __future__ import annotations

from .base import (FINAL_STATES, NAME_RULE, STATES, TOOLS, Drawn, Passage, PictureRecipe, Tool, ToolError,  # noqa: F401
                   ToolRegistry, ToolResult, ToolRun, ToolServices, call, no_such_tool, offered, openai_tool)
from . import builtin  # noqa: E402,F401  (registers draw_picture, edit_picture, search_documents, read_recipe, look_at_picture)
