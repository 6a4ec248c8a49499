"""A tiny MCP server for the tests, written with the SDK's MCPServer: stdio by default, `--http FD` serves
streamable HTTP on a listening socket the test made (loopback, port chosen by the test), so no port races."""
from __future__ import annotations

import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("chatapp-test")


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return f"echo: {text}"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@server.tool()
async def slow(seconds: float, ctx: Context) -> str:
    """Say it started (progress), wait this many seconds, then answer: a hung tool when long."""
    await ctx.report_progress(0, 1, "started")
    await anyio.sleep(seconds)
    return "slept"


@server.tool()
def fail(why: str) -> str:
    """Raise an error: the server turns it into an error result (a ToolError keeps its words)."""
    raise ToolError(f"failed on purpose: {why}")


@server.tool()
def crash() -> str:
    """End the server's process in the middle of the call."""
    print("crashing on purpose", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool()
def pid() -> int:
    """The server's process id (the tests check it is gone after shutdown)."""
    return os.getpid()


@server.tool()
def header(key: str, ctx: Context) -> str:
    """A header of the HTTP request that carried this call ("" over stdio)."""
    return (ctx.headers or {}).get(key.lower(), "")


@server.tool()
def huge(chars: int) -> str:
    """A very long answer."""
    return "x" * chars


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--http":
        import socket

        import uvicorn
        sock = socket.socket(fileno=int(sys.argv[2]))
        app = server.streamable_http_app()
        config = uvicorn.Config(app, log_level="warning")
        anyio.run(lambda: uvicorn.Server(config).serve(sockets=[sock]))
    else:
        server.run()
