"""MCP servers' tools in TOOLS (no Qt): one asyncio loop on its own thread, one owner task per server holding its mcp Client."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from .base import TOOLS, Tool, ToolResult, ToolRun
from .mcp_parts import ServerConfig, describe, description, result_text, schema, tail, tool_name

log = logging.getLogger(__name__)

START_TIMEOUT = 20.0      # s to start a server and list its tools (a Python server imports for seconds on 2 busy cores)
CLOSE_TIMEOUT = 8.0       # s at quit: the SDK closes stdin, waits 2 s, SIGTERMs the group, 2 s, SIGKILLs
POLL_S = 0.05             # how often a waiting call looks at Stop


# --- the host -------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Request:
    tool: str
    arguments: dict
    future: concurrent.futures.Future
    progress: Callable[[str, float | None], None] | None = None
    scope: Any = None            # its anyio CancelScope while it runs (loop thread only)
    cancelled: bool = False


@dataclass(eq=False)
class _Server:
    config: ServerConfig
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    scope: Any = None            # the owner task's anyio CancelScope: cancelled to stop the server
    task: asyncio.Task | None = None
    state: str = "starting"      # "starting" | "ready" | "down" (restarts on its next call) | "failed" | "stopped"
    detail: str = ""
    tools: dict[str, str] = field(default_factory=dict)   # exposed name -> the server's tool name (where posted)
    lost: bool = False


class McpHost:
    """Keeps the configured MCP servers running and their tools in TOOLS.

    configure(), call() and close() are called from any thread; the servers live on this object's loop
    thread. Each server is one owner task that enters its mcp Client, serves calls, and exits the Client in
    the same task (anyio's cancel scopes must be left by the task that entered them).
    """

    def __init__(self, *, notice: Callable[[str], None] = lambda text: None,
                 changed: Callable[[], None] = lambda: None, get_key: Callable[[str], str] = lambda name: "",
                 registry=TOOLS, post: Callable[[Callable[[], None]], None] = lambda fn: fn()):
        self._notice, self._changed, self._get_key, self._registry = notice, changed, get_key, registry
        # Where TOOLS changes: the app posts to its GUI thread, which reads TOOLS (tests: at once, here).
        self._post = post
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: dict[str, _Server] = {}      # touched on the loop thread only
        self._configs: dict[str, ServerConfig] = {}  # what configure() asked for (any thread reads it)
        self._closed = False
        self._closing: concurrent.futures.Future | None = None
        self._lock = threading.Lock()
        self._applying: asyncio.Lock | None = None   # one configure at a time (made on the loop)

    # --- from any thread ---
    def configure(self, configs: list[ServerConfig]) -> None:
        """Run exactly these servers (enabled ones): new or changed ones (re)start, others stop. Returns at once."""
        wanted = {c.name: c for c in configs if c.enabled}
        with self._lock:
            if self._closed:
                return
            self._configs = wanted
            if not wanted and self._loop is None:
                return
            loop = self._ensure_loop()
        asyncio.run_coroutine_threadsafe(self._apply(wanted), loop)

    def states(self) -> dict[str, tuple[str, str]]:
        """Each server's state and its detail ("failed", "the command 'x' was not found")."""
        return {name: (s.state, s.detail) for name, s in list(self._servers.items())}

    def call(self, server: str, tool: str, arguments: dict, run: ToolRun) -> ToolResult:
        """Call a server's tool; blocks (a worker thread's job) until it answers, fails, times out or Stop."""
        config = self._configs.get(server)
        loop = self._loop
        if config is None or loop is None or self._closed:
            return ToolResult(f"The MCP server {server!r} is not running (it was removed or turned off in "
                              "Settings).", is_error=True)
        req = _Request(tool, arguments, concurrent.futures.Future(), run.progress)
        loop.call_soon_threadsafe(self._enqueue, server, req)
        # The server's own timeout ends a call; this is the net under it (a restart first, then the call).
        deadline = time.monotonic() + START_TIMEOUT + config.timeout + 5
        while True:
            try:
                return req.future.result(timeout=POLL_S)
            except concurrent.futures.TimeoutError:
                pass
            if run.should_stop() or time.monotonic() > deadline:
                stopped = run.should_stop()
                loop.call_soon_threadsafe(self._cancel, req)
                try:   # the cancel tells the server (notifications/cancelled) and answers at once
                    req.future.result(timeout=2)
                except concurrent.futures.TimeoutError:
                    pass
                if stopped:
                    return ToolResult("Stopped: the call was cancelled before the tool answered.", is_error=True)
                return ToolResult(f"The MCP server {server!r} did not answer in time.", is_error=True)

    def begin_close(self) -> None:
        """Start stopping every server (returns at once): close() waits, so quit can do other work meanwhile."""
        with self._lock:
            self._closed = True
            if self._loop is not None and self._closing is None:
                self._closing = asyncio.run_coroutine_threadsafe(self._apply({}), self._loop)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Stop every server and the loop; True when all of them ended within the timeout."""
        self.begin_close()
        if self._closing is None:
            return True
        try:
            self._closing.result(timeout)
        except Exception:   # the wait ran out: the loop goes on, so the SDK's SIGTERM/SIGKILL still comes
            return False
        try:
            self._loop.call_soon_threadsafe(self._loop.stop)
        except RuntimeError:   # closed twice: the loop is gone already
            pass
        self._thread.join(1.0)
        return not self._thread.is_alive()

    # --- the loop thread ---
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main():
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                finally:
                    loop.close()
            # A daemon: a server stuck past close() must never keep the app from exiting.
            self._thread = threading.Thread(target=main, name="mcp-host", daemon=True)
            self._thread.start()
            ready.wait()
            self._loop = loop
        return self._loop

    def _enqueue(self, name: str, req: _Request) -> None:
        server = self._servers.get(name)
        if server is None:
            req.future.set_result(ToolResult(f"The MCP server {name!r} is not running.", is_error=True))
        else:
            server.queue.put_nowait(req)

    def _cancel(self, req: _Request) -> None:
        req.cancelled = True
        if req.scope is not None:
            req.scope.cancel()
        elif not req.future.done():
            req.future.set_result(ToolResult("Stopped before the call was sent.", is_error=True))

    async def _apply(self, wanted: dict[str, ServerConfig]) -> None:
        if self._applying is None:
            self._applying = asyncio.Lock()
        async with self._applying:
            await self._apply_now(wanted)

    async def _apply_now(self, wanted: dict[str, ServerConfig]) -> None:
        # A server that failed to start tries again: the settings were saved, perhaps with a fix.
        going = [s for name, s in self._servers.items() if wanted.get(name) != s.config or s.state == "failed"]
        for server in going:
            if server.scope is not None:
                server.scope.cancel()
        if going:
            await asyncio.wait([s.task for s in going if s.task], timeout=CLOSE_TIMEOUT)
        for server in going:
            self._forget(server)
            if self._servers.get(server.config.name) is server:
                del self._servers[server.config.name]
        for name, config in wanted.items():
            if name not in self._servers:
                server = self._servers[name] = _Server(config)
                server.task = asyncio.get_running_loop().create_task(self._own(server))

    async def _own(self, server: _Server) -> None:
        import anyio
        waiting: list[_Request] = []
        with anyio.CancelScope() as server.scope:
            while True:
                if server.state in ("down", "failed"):   # started again by its next call
                    got = await server.queue.get()
                    waiting.append(got)
                await self._session(server, waiting)
                waiting = []
        server.state = "stopped"
        while not server.queue.empty():   # calls that came while it stopped
            waiting.append(server.queue.get_nowait())
        for req in waiting:
            if not req.future.done():
                req.future.set_result(ToolResult(f"The MCP server {server.config.name!r} was stopped.", is_error=True))

    async def _session(self, server: _Server, first: list[_Request]) -> None:
        """One life of a server: start, list tools, serve calls; ends when it fails or is stopped."""
        import anyio
        from mcp.client import Client
        config, started, why = server.config, False, ""
        server.state, server.detail, server.lost = "starting", "", False
        errlog = tempfile.TemporaryFile() if config.command else None   # its stderr, for the note when it fails
        try:
            with anyio.CancelScope(deadline=anyio.current_time() + START_TIMEOUT) as start:
                async with AsyncExitStack() as stack:
                    target = await self._target(config, stack, errlog)
                    client = await stack.enter_async_context(Client(target))
                    listed = await _list_tools(client)
                    start.deadline = math.inf
                    started = True
                    self._register(server, listed)
                    server.state = "ready"
                    async with anyio.create_task_group() as calls:
                        for req in first:
                            calls.start_soon(self._run_call, server, client, req, calls)
                        while True:
                            req = await server.queue.get()
                            calls.start_soon(self._run_call, server, client, req, calls)
            if start.cancelled_caught and not started:
                raise TimeoutError(f"it did not start within {START_TIMEOUT:g} s")
        except Exception as exc:   # one server's failure never reaches the others or the app
            why = describe(exc, config) + tail(errlog)
            for req in first:
                if not req.future.done():
                    req.future.set_result(ToolResult(f"The MCP server {config.name!r} could not start: {why}.",
                                                     is_error=True))
            server.state, server.detail = ("down" if started else "failed"), why
            if started:
                self._notice(f"MCP server {config.name!r} stopped ({why}); it starts again on its next call.")
            else:
                self._forget(server)
                self._notice(f"MCP server {config.name!r} could not start: {why}. Its tools are not offered; "
                             "check it in Settings (MCP servers) and save to try again.")
            return
        finally:
            if errlog is not None:
                why = tail(errlog) if server.lost else ""
                errlog.close()
        if server.lost:   # the connection ended under a call: the process died or the server hung up
            server.state, server.detail = "down", "the connection was lost" + why
            self._notice(f"MCP server {config.name!r} stopped ({server.detail}); it starts again on its next call.")

    async def _target(self, config: ServerConfig, stack: AsyncExitStack, errlog):
        """What Client connects to: a stdio transport (stderr kept for notes) or a streamable-HTTP one."""
        key = await asyncio.to_thread(self._get_key, config.key_name)
        if config.command:
            from mcp.client.stdio import StdioServerParameters, stdio_client
            params = StdioServerParameters(command=config.command, args=list(config.args), env=dict(config.env) or None,
                                           cwd=config.cwd or None)
            return stdio_client(params, errlog=errlog)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client
        headers = dict(config.headers)
        if key:
            headers.setdefault("Authorization", f"Bearer {key}")
        http = await stack.enter_async_context(httpx2.AsyncClient(
            headers=headers, follow_redirects=True, timeout=httpx2.Timeout(30.0, read=max(300.0, config.timeout))))
        return streamable_http_client(config.url, http_client=http)

    async def _run_call(self, server: _Server, client, req: _Request, calls) -> None:
        import anyio
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT
        name = server.config.name
        if req.cancelled or req.future.done():
            return
        outcome = None
        try:
            with anyio.CancelScope() as req.scope:
                try:
                    result = await client.call_tool(req.tool, req.arguments,
                                                    read_timeout_seconds=server.config.timeout,
                                                    progress_callback=_progress(req))
                    text, is_error = result_text(result)
                    outcome = ToolResult(text, is_error=is_error)
                except MCPError as exc:
                    if exc.code == REQUEST_TIMEOUT:
                        outcome = ToolResult(f"The MCP server {name!r} did not answer within "
                                             f"{server.config.timeout:g} s; the call was cancelled.", is_error=True)
                    elif exc.code == CONNECTION_CLOSED:
                        server.lost = True
                        outcome = ToolResult(f"The MCP server {name!r} stopped during the call (it crashed or closed "
                                             "the connection); it starts again on its next call.", is_error=True)
                        calls.cancel_scope.cancel()   # leave this life: the Client closes, the process is reaped
                    else:
                        outcome = ToolResult(f"The MCP server {name!r} refused the call: {exc.message}", is_error=True)
                except Exception as exc:   # garbage: a result that is not MCP's shape, a transport's fault
                    outcome = ToolResult(f"The MCP server {name!r} answered with something chatapp cannot read "
                                         f"({describe(exc)}).", is_error=True)
            if req.scope.cancelled_caught and outcome is None:
                outcome = ToolResult("Stopped: the call was cancelled before the tool answered.", is_error=True)
        finally:
            if not req.future.done():
                req.future.set_result(outcome or ToolResult(
                    f"The MCP server {name!r} stopped during the call (it crashed, closed the connection or was "
                    "stopped); it starts again on its next call.", is_error=True))

    def _register(self, server: _Server, listed: list) -> None:
        self._post(partial(self._register_now, server, listed))

    def _forget(self, server: _Server) -> None:
        self._post(partial(self._forget_now, server))

    def _register_now(self, server: _Server, listed: list) -> None:
        name = server.config.name
        exposed: dict[str, str] = {}
        for tool in listed:
            public = tool_name(name, tool.name)
            taken = self._registry.get(public)
            if public in exposed or (taken is not None and taken.source != f"mcp:{name}"):
                self._notice(f"MCP server {name!r}: its tool {tool.name!r} clashes with another tool's name; "
                             "it is not offered.")
                continue
            exposed[public] = tool.name
            self._registry.register(public, Tool(
                name=public, description=description(tool, name), parameters=schema(tool),
                run=_runner(self, name, tool.name), source=f"mcp:{name}", asks_first=True), replace=True)
        for gone in set(server.tools) - set(exposed):
            self._unregister(gone, name)
        server.tools = exposed
        self._changed()

    def _forget_now(self, server: _Server) -> None:
        for public in server.tools:
            self._unregister(public, server.config.name)
        if server.tools:
            server.tools = {}
            self._changed()

    def _unregister(self, public: str, server: str) -> None:
        entry = self._registry.get(public)
        if entry is not None and entry.source == f"mcp:{server}":
            self._registry.unregister(public)


def _runner(host: McpHost, server: str, tool: str) -> Callable[[dict, ToolRun], ToolResult]:
    def run(arguments: dict, tool_run: ToolRun) -> ToolResult:
        return host.call(server, tool, arguments, tool_run)
    return run


def _progress(req: _Request):
    if req.progress is None:
        return None

    async def told(progress: float, total: float | None, message: str | None) -> None:
        fraction = progress / total if total else None
        try:
            req.progress(message or (f"{progress:g} of {total:g}" if total else f"{progress:g}"), fraction)
        except Exception:   # the card's trouble must not end the call
            log.exception("progress callback failed")
    return told


async def _list_tools(client) -> list:
    """Every tool the server offers, page by page."""
    tools, cursor = [], None
    for _ in range(100):   # a server that pages forever is cut off
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools
