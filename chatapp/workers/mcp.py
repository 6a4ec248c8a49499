"""McpWorker: the MCP host (tools/mcp_client.py, its own asyncio thread) as one of the family; its news as Qt signals."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Signal

from ..backends import secrets
from ..tools.mcp_client import CLOSE_TIMEOUT, McpHost
from ..tools.mcp_parts import ServerConfig
from .base import Worker


class McpWorker(Worker):
    """Starts the MCP servers of the settings, restarts them when the settings change, closes them at quit.

    The host's servers live on its asyncio thread; what they have to say (a server that failed or
    stopped, the tool list changed) leaves as signals, which Qt queues to the GUI thread. A tool's call
    blocks a worker thread (Tool.run), never the GUI thread."""

    notice = Signal(str)          # a server could not start, stopped, or a tool's name clashed
    tools_changed = Signal()      # TOOLS gained or lost a server's tools
    _posted = Signal(object)      # a change of TOOLS, run on the GUI thread (which reads TOOLS)

    def __init__(self, config_dir: Path | None, parent: QObject | None = None):
        super().__init__(parent)
        self._config_dir = config_dir
        self._posted.connect(self._run_posted)   # a bound method of a GUI-thread object: Qt queues it here
        self.host = McpHost(notice=self.notice.emit, changed=self.tools_changed.emit, get_key=self._key,
                            post=self._posted.emit)

    def _run_posted(self, fn) -> None:
        fn()

    def _key(self, name: str) -> str:
        # On the host's thread: the keychain may ask D-Bus, never on the GUI thread.
        return secrets.get_key(name, self._config_dir) if self._config_dir is not None else ""

    def apply(self, entries: list[dict]) -> None:
        """Run the servers of settings.mcp_servers; returns at once. New and changed servers (re)start, and
        so do those that failed to start (Settings saved: a fixed command may work now); running ones go on."""
        self.host.configure([ServerConfig.from_entry(e) for e in entries])

    def begin_shutdown(self) -> None:
        """Start closing the servers (returns at once); shutdown() waits for them."""
        self.host.begin_close()

    def _wait(self, timeout_ms: int) -> bool:
        # Not less than the SDK's own escalation (stdin closed, 2 s, SIGTERM, 2 s, SIGKILL): a server that
        # ignores the first two must still be gone before the app is.
        closed = self.host.close(max(timeout_ms / 1000, CLOSE_TIMEOUT))
        QCoreApplication.sendPostedEvents(self)   # the servers' tools leave TOOLS now, not at the next turn
        return closed
