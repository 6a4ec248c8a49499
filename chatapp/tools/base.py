"""What a tool is (Tool, ToolRun, ToolResult), the session's doors a tool may use (ToolServices), and TOOLS, the registry built-ins and MCP servers share."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Protocol

from ..conversation import TOOL_STATUS
from ..recipes.request import ImageRequest, ModelLimits
from ..registry import Registry

NAME_RULE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")   # OpenAI's rule for a function's name
# A tool message's meta["state"], in the order a call lives them; the last four are final (conversation.py
# maps each to the message's status).
STATES = tuple(TOOL_STATUS)
FINAL_STATES = STATES[2:]


@dataclass(frozen=True)
class Tool:
    name: str                 # OpenAI's rule: ^[a-zA-Z0-9_-]{1,64}$ (checked when registered)
    description: str
    parameters: dict          # JSON schema of the arguments (type object)
    run: Callable[[dict, "ToolRun"], "ToolResult"]   # called on a worker thread (workers.Calls); may block;
                                                     # checks run.should_stop(); never touches Qt widgets
    source: str = "builtin"   # "builtin" | "mcp:<server name>"
    asks_first: bool = False  # external tools: the first call asks Allow once / Always for this tool / Deny
    # The schema for the image model loaded now (built-in picture tools: sizes, steps, schedulers follow
    # its ModelLimits); None: `parameters` as they are. offered() applies it.
    schema_for: Callable[[ModelLimits, tuple[str, ...]], dict] | None = None
    needs_vision: bool = False  # offered only to a model that sees pictures (ChatCapabilities.vision): look_at_picture


@dataclass(frozen=True)
class Drawn:
    """What services.draw / services.edit made: the pictures' messages (children of the call's tool message)."""
    message_ids: tuple[int, ...]
    numbers: tuple[int, ...]          # their #N in the chat
    request: ImageRequest           # as the engine resolved it: the seed, size, steps and scheduler used


@dataclass(frozen=True)
class Passage:
    """One passage services.search found: numbered for citing, with the file and where in it."""
    n: int
    name: str
    location: str                     # "page 21", "lines 10-34", "whole file"
    text: str


@dataclass(frozen=True)
class PictureRecipe:
    """A picture of the chat and its recipe (services.recipe)."""
    number: int                       # its #N
    message_id: int
    parameters: str                   # AUTOMATIC1111's "parameters" text (recipes/a1111.py reads it back)


class ToolError(Exception):
    """A call that could not be done; the message is for the model (it reads it and may try again)."""


class ToolServices(Protocol):
    """The session's thread-safe doors, one object per call (bound to its conversation and its tool message:
    pictures become that message's children, progress goes to its card). Every method may block; a failure
    raises ToolError in words the model can act on."""

    def image_limits(self) -> ModelLimits: ...
    def loras(self) -> tuple[str, ...]: ...                              # the LoRA names that exist now
    def draw(self, request: ImageRequest) -> Drawn: ...
    def edit(self, request: ImageRequest, source: str) -> Drawn: ...   # source "#N" or "last"
    def search(self, query: str, scope: str) -> list[Passage]: ...       # scope "chat" | "library" | "all"
    def recipe(self, picture: str) -> PictureRecipe | None: ...          # "#N" or "last"; None: no such picture


@dataclass
class ToolRun:
    """What a running call may use."""
    call_id: str
    conversation_id: int
    should_stop: Callable[[], bool]
    progress: Callable[[str, float | None], None]   # a line of state + fraction for the card
    services: ToolServices


@dataclass
class ToolResult:
    content: str              # what the model reads
    is_error: bool = False
    message_ids: tuple[int, ...] = ()   # messages the call added (a picture)
    # Picture messages of the chat the model is shown after this result (look_at_picture): kept in the tool message's
    # meta["shown"]; branches.history follows the result with a user message holding them for a model that sees.
    shown: tuple[int, ...] = ()


def openai_tool(tool: Tool) -> dict:
    """The tool as OpenAI's chat API offers it (GenParams.tools)."""
    return {"type": "function", "function": {"name": tool.name, "description": tool.description,
                                             "parameters": tool.parameters}}


class ToolRegistry(Registry[Tool]):
    """TOOLS: a Registry whose names follow OpenAI's rule and match the tool's own name."""

    def register(self, name: str, entry: Tool | None = None, *, replace: bool = False):
        if entry is not None:
            if not isinstance(name, str) or not NAME_RULE.fullmatch(name):
                raise ValueError(f"tool name {name!r}: use 1 to 64 letters, digits, _ or - (OpenAI's rule)")
            if entry.name != name:
                raise ValueError(f"tool {entry.name!r} registered under another name, {name!r}")
        return super().register(name, entry, replace=replace)


TOOLS: ToolRegistry = ToolRegistry("tool")


def offered(tools: list[Tool] | None = None, limits: ModelLimits | None = None,
            loras: tuple[str, ...] = (), vision: bool = False) -> list[Tool]:
    """The tools (default: all of TOOLS) with their schemas for the image model loaded now; those that need a model
    that sees pictures only where `vision` (a blind model would be told of a picture it never gets)."""
    limits = limits or ModelLimits()
    chosen = [t for t in (list(TOOLS.values()) if tools is None else tools) if vision or not t.needs_vision]
    return [replace(t, parameters=t.schema_for(limits, tuple(loras))) if t.schema_for else t for t in chosen]


def no_such_tool(name: str, offered_names: Iterable[str] | None = None) -> ToolResult:
    """The result for a call of a tool that is not offered (the model made the name up, or one left out of its
    turn: look_at_picture for a model that cannot see); it lists only the tools offered (default: all of TOOLS)."""
    names = ", ".join(TOOLS if offered_names is None else offered_names) or "none"
    what = f"The tool {name!r} is not offered here" if name in TOOLS else f"There is no tool called {name!r}"
    return ToolResult(f"{what}. The tools are: {names}.", is_error=True)


def call(tool: Tool, arguments: str, run: ToolRun) -> ToolResult:
    """Run a call whose arguments are JSON text, as the model wrote them; never raises: arguments that
    do not parse, a ToolError or a tool's own bug become an is_error result the model can read."""
    try:
        args = json.loads(arguments or "{}")
    except (json.JSONDecodeError, RecursionError) as exc:
        return ToolResult(f"The arguments of {tool.name} are not valid JSON ({getattr(exc, 'msg', exc)}). "
                          "Call it again with a JSON object.", is_error=True)
    if not isinstance(args, dict):
        return ToolResult(f"The arguments of {tool.name} must be a JSON object.", is_error=True)
    try:
        result = tool.run(args, run)
    except ToolError as exc:
        return ToolResult(str(exc), is_error=True)
    except Exception as exc:   # a tool's bug (or an MCP server's garbage) must not end the reply
        return ToolResult(f"{tool.name} failed: {type(exc).__name__}: {str(exc)[:300]}", is_error=True)
    if not isinstance(result, ToolResult):
        return ToolResult(f"{tool.name} returned no result.", is_error=True)
    return result
