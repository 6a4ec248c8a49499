"""Issue 23 item 4: MCP servers' tools through the official SDK, against a real MCPServer (tests/mcp_servers/echo_server.py)
over stdio and over streamable HTTP on loopback: listing, calls, errors, timeouts, Stop, crashes, shutdown."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest

from chatapp.tools.base import ToolRegistry, ToolResult, ToolRun
from chatapp.tools import mcp_client
from chatapp.tools.mcp_client import McpHost
from chatapp.tools.mcp_probe import probe
from chatapp.tools.mcp_parts import MAX_RESULT_CHARS, ServerConfig, tool_name

ECHO = str(Path(__file__).parent / "mcp_servers" / "echo_server.py")
STDIO = {"name": "echo", "command": sys.executable, "args": [ECHO]}
TOOL_NAMES = {"echo", "add", "slow", "fail", "crash", "pid", "header", "huge"}


class Host:
    """A host with its own registry, its notices kept, closed at the end."""

    def __init__(self, qtbot, keys=None):
        self.qtbot, self.notices, self.registry = qtbot, [], ToolRegistry("test tool")
        self.host = McpHost(notice=self.notices.append, registry=self.registry, get_key=(keys or {}).get)

    def start(self, *entries, state="ready"):
        self.host.configure([ServerConfig.from_entry(e) for e in entries])
        for e in entries:
            self.wait_state(e["name"], state)
        return self

    def wait_state(self, name, state):
        self.qtbot.waitUntil(lambda: self.host.states().get(name, ("",))[0] == state, timeout=60_000)

    def run(self, name, stop=lambda: False, progress=None, **arguments) -> ToolResult:
        tool = self.registry[name]
        return tool.run(arguments, ToolRun("call-1", 1, stop, progress or (lambda text, fraction: None), None))


@pytest.fixture
def hosts(qtbot):
    made = []

    def make(keys=None):
        made.append(Host(qtbot, keys))
        return made[-1]
    yield make
    for h in made:
        assert h.host.close(), "an MCP server was still running after close()"


@pytest.fixture
def http_url():
    """The echo server over streamable HTTP, on a loopback socket this test made and listens on (no port race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    child = subprocess.Popen([sys.executable, ECHO, "--http", str(sock.fileno())], pass_fds=[sock.fileno()])
    port = sock.getsockname()[1]
    sock.close()   # the child's copy listens; when the child dies, connecting is refused at once
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        child.kill()
        child.wait()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_model_sees_each_tool_under_a_name_openai_takes():
    assert tool_name("files", "read.text") == "files__read_text"
    long = tool_name("s" * 32, "t" * 60)
    assert len(long) == 64 and long != tool_name("s" * 32, "t" * 59 + "u")


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_servers_tools_are_registered_with_their_schema_and_answer(hosts, transport, request):
    entry = STDIO if transport == "stdio" else {"name": "echo", "url": request.getfixturevalue("http_url")}
    h = hosts().start(entry)
    assert set(h.registry) == {f"echo__{t}" for t in TOOL_NAMES}
    echo = h.registry["echo__echo"]
    assert echo.source == "mcp:echo" and echo.asks_first
    assert echo.parameters["type"] == "object" and echo.parameters["required"] == ["text"]
    assert echo.parameters["properties"]["text"]["type"] == "string"
    assert "Say the text back" in echo.description
    assert h.run("echo__echo", text="hi") == ToolResult("echo: hi")
    assert h.run("echo__add", a=2, b=3).content == "5"
    failed = h.run("echo__fail", why="testing")
    assert failed.is_error and "failed on purpose: testing" in failed.content
    refused = h.run("echo__add", a="two", b=3)            # arguments the tool's schema refuses
    assert refused.is_error
    huge = h.run("echo__huge", chars=MAX_RESULT_CHARS * 3)
    assert not huge.is_error and len(huge.content) < MAX_RESULT_CHARS + 200 and "cut" in huge.content


def test_an_http_server_gets_its_headers_and_key(hosts, http_url):
    h = hosts(keys={"mcp_web": "sk-test"}).start({"name": "web", "url": http_url, "headers": {"X-Team": "blue"}})
    assert h.run("web__header", key="X-Team").content == "blue"
    assert h.run("web__header", key="Authorization").content == "Bearer sk-test"


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_hung_tool_ends_in_a_clear_error_and_the_server_goes_on(hosts, transport, request):
    entry = STDIO if transport == "stdio" else {"name": "echo", "url": request.getfixturevalue("http_url")}
    h = hosts().start({**entry, "timeout": 1})
    result = h.run("echo__slow", seconds=600)
    assert result.is_error and "did not answer within 1 s" in result.content
    assert h.run("echo__echo", text="still here") == ToolResult("echo: still here")


def test_a_call_runs_off_the_gui_thread_which_stays_free(hosts, qtbot):
    from PySide6.QtCore import QTimer

    from chatapp.workers import Calls
    h = hosts().start({**STDIO, "timeout": 2})
    calls, ticks = Calls(), []
    with qtbot.waitSignal(calls.done, timeout=60_000) as done:
        calls.call(partial(h.run, "echo__slow", seconds=600))
        QTimer.singleShot(0, lambda: ticks.append(len(done.args or ())))   # runs while the call waits
    # The GUI thread turned its event loop while the call was still waiting for the server.
    assert ticks == [0]
    assert "did not answer" in done.args[1].content


def test_stop_cancels_a_running_call(hosts):
    h = hosts().start(STDIO)
    started = threading.Event()
    result = h.run("echo__slow", stop=started.is_set, progress=lambda text, fraction: started.set(), seconds=600)
    assert started.is_set()                            # the tool had started (its progress came) when Stop came
    assert result.is_error and result.content.startswith("Stopped")
    assert h.run("echo__echo", text="after").content == "echo: after"


def test_a_server_that_crashes_mid_call_gives_a_clear_error_and_restarts_on_next_use(hosts):
    h = hosts().start(STDIO)
    first = int(h.run("echo__pid").content)
    crashed = h.run("echo__crash")
    assert crashed.is_error and "stopped during the call" in crashed.content
    h.wait_state("echo", "down")
    assert any("'echo' stopped" in n and "crashing on purpose" in n for n in h.notices)
    assert h.run("echo__echo", text="again").content == "echo: again"   # started again by this call
    second = int(h.run("echo__pid").content)
    assert second != first and gone(first)


def test_an_http_server_that_dies_mid_call_gives_a_clear_error(hosts, http_url):
    h = hosts().start({"name": "web", "url": http_url, "timeout": 30})
    crashed = h.run("web__crash")
    assert crashed.is_error and "'web'" in crashed.content
    assert "stopped during the call" in crashed.content
    again = h.run("web__echo", text="anyone?")         # nobody listens any more: a clear error, no hang
    assert again.is_error and f"nothing answered at {http_url}" in again.content
    h.wait_state("web", "failed")
    assert not h.registry                              # a server that cannot start offers no tools


@pytest.mark.parametrize("entry, words", [
    ({"command": "/no/such/server"}, "the command '/no/such/server' was not found"),
    ({"command": sys.executable, "args": ["-c", "import sys; print('bad config file', file=sys.stderr); sys.exit(2)"]},
     "bad config file"),
    ({"url": "http://127.0.0.1:9/mcp"}, "nothing answered at http://127.0.0.1:9/mcp"),
])
def test_a_server_that_cannot_start_is_marked_failed_with_a_clear_notice(hosts, entry, words):
    h = hosts().start({"name": "broken", **entry}, state="failed")
    assert not h.registry
    assert h.host.states()["broken"][1] and words in h.host.states()["broken"][1]
    assert len(h.notices) == 1 and "'broken' could not start" in h.notices[0] and words in h.notices[0]


def test_a_server_that_never_answers_at_start_is_given_up_on(hosts, monkeypatch):
    monkeypatch.setattr(mcp_client, "START_TIMEOUT", 1.0)
    hang = {"name": "mute", "command": sys.executable, "args": ["-c", "import time; time.sleep(600)"]}
    h = hosts().start(hang, state="failed")
    assert "did not start within 1 s" in h.notices[0]


def test_shutdown_leaves_no_server_process(qtbot):
    h = Host(qtbot).start(STDIO)
    pid = int(h.run("echo__pid").content)
    assert not gone(pid)
    assert h.host.close()
    assert gone(pid) and not h.registry
    late = h.host.call("echo", "echo", {"text": "late"}, ToolRun("call-2", 1, lambda: False, lambda t, f: None, None))
    assert late.is_error and "not running" in late.content


def test_a_removed_server_stops_and_its_tools_go(hosts):
    h = hosts().start(STDIO, {**STDIO, "name": "other"})
    pid = int(h.run("other__pid").content)
    h.host.configure([ServerConfig.from_entry(STDIO)])
    h.qtbot.waitUntil(lambda: "other" not in h.host.states(), timeout=30_000)
    assert not any(name.startswith("other__") for name in h.registry) and "echo__echo" in h.registry
    assert gone(pid)


def test_the_settings_test_button_lists_tools_or_says_why_not():
    assert {name for name, _ in probe(STDIO)} == TOOL_NAMES
    with pytest.raises(RuntimeError, match="was not found"):
        probe({"name": "x", "command": "/no/such/server"})


GARBAGE = str(Path(__file__).parent / "mcp_servers" / "garbage_server.py")


def test_a_server_that_answers_garbage_gives_a_clear_error_and_a_stray_line_is_ignored(hosts):
    h = hosts().start({"name": "odd", "command": sys.executable, "args": [GARBAGE, "shape"]},
                      {"name": "noisy", "command": sys.executable, "args": [GARBAGE, "line"]})
    bad = h.run("odd__odd")
    assert bad.is_error and "answered with something chatapp cannot read" in bad.content
    assert h.run("noisy__odd") == ToolResult("fine after all")


def test_a_command_that_is_no_mcp_server_is_given_up_on(hosts, monkeypatch):
    monkeypatch.setattr(mcp_client, "START_TIMEOUT", 1.0)
    chatter = {"name": "chatter", "command": sys.executable,
               "args": ["-c", "import sys\nfor line in sys.stdin: print('hello?', flush=True)"]}
    h = hosts().start(chatter, state="failed")
    assert "did not start within 1 s" in h.notices[0] and not h.registry
