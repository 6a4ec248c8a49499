"""The Settings dialog's Test button: start one MCP server, list its tools, stop it (blocks: a worker job)."""
from __future__ import annotations

import asyncio
import tempfile
from contextlib import AsyncExitStack

from .mcp_client import START_TIMEOUT, McpHost, _list_tools
from .mcp_parts import ServerConfig, describe, tail


def probe(entry: dict, key: str = "", timeout: float = START_TIMEOUT) -> list[tuple[str, str]]:
    """Start one server, list its tools and stop it: (tool name, description) pairs. Blocks (a worker job);
    a failure raises RuntimeError in words (the Settings dialog's Test button)."""
    config = ServerConfig.from_entry(entry)
    host = McpHost(get_key=lambda name: key)

    async def look() -> list:
        import anyio
        from mcp.client import Client
        errlog = tempfile.TemporaryFile() if config.command else None
        try:
            with anyio.fail_after(timeout):
                async with AsyncExitStack() as stack:
                    target = await host._target(config, stack, errlog)
                    client = await stack.enter_async_context(Client(target))
                    return await _list_tools(client)
        except TimeoutError:
            raise RuntimeError(f"{config.name} did not answer within {timeout:g} s{tail(errlog)}") from None
        except Exception as exc:
            raise RuntimeError(f"{config.name} could not start: {describe(exc, config)}{tail(errlog)}") from None
        finally:
            if errlog is not None:
                errlog.close()
    listed = asyncio.run(look())
    return [(t.name, (t.description or "").strip()) for t in listed]
