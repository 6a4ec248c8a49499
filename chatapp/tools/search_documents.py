"""The search_documents tool: passages about a question from this chat's files and the library."""
from __future__ import annotations

from .base import TOOLS, Tool, ToolError, ToolResult, ToolRun
from .picture_args import typed_argument

SCOPES = ("all", "chat", "library")


def run_search(args: dict, run: ToolRun) -> ToolResult:
    query = (typed_argument(args, "query", str, "search_documents") or "").strip()
    scope = typed_argument(args, "scope", str, "search_documents") or "all"
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


SEARCH = {"type": "object", "additionalProperties": False, "required": ["query"], "properties": {
    "query": {"type": "string", "minLength": 1, "description": "The words or question to look for."},
    "scope": {"type": "string", "enum": list(SCOPES),
              "description": "Where: the files attached to this chat, the library folder, or both (default all)."}}}

TOOLS.register("search_documents", Tool(
    "search_documents", "Search the files attached to this chat and the library for passages about a question.",
    SEARCH, run_search))
