"""Closing mid-generation, untrusted links and content, and staying offline."""
import os
import socket
import subprocess
import sys

import pytest

from chatapp.conversation import STOPPED
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.engines.fake import FakeChatEngine
from chatapp.ui import message_widgets


def test_closing_mid_reply_and_mid_render_is_quick_and_clean(make_app, qtbot, random_sd_folder):
    chat = FakeChatEngine([" ".join(["token"] * 5000)], token_delay=0.01, hold_after=100)
    parts = make_app(chat, DiffusionImageEngine(random_sd_folder))
    s = parts.session
    s.submit("/image a red circle --steps 150")
    qtbot.waitUntil(lambda: any(j.started for j in s.images.jobs.values()), timeout=30000)
    s.submit("talk for a long time")
    qtbot.waitUntil(lambda: any(len(r.text) > 50 for r in s.replies.active.values()), timeout=30000)
    reply_id = next(iter(s.replies.active.values())).message.id
    parts.window.close()                       # closeEvent -> session.shutdown()
    # How quickly is a bench figure (bench/live.py); here: both threads do end, on any machine.
    qtbot.waitUntil(lambda: not s.llm.thread_running and not s.images.worker.thread_running, timeout=60000)
    reply = parts.storage.message(reply_id)
    assert reply.status == STOPPED and reply.content.startswith("token token")
    assert [m for m in parts.storage.messages(s.current.id) if m.kind == "image"] == []   # no half picture
    # Wherever a picture or its half-written .part would go under the data folder, there is none.
    assert [p for p in parts.paths.data_dir.rglob("*") if p.suffix in (".png", ".part")] == []


def test_real_process_quits_cleanly_mid_generation(tmp_path):
    """A real `python -m chatapp` closed while streaming exits 0 and prints no QThread warning."""
    script = (
        "import sys; from chatapp.__main__ import parse_args; from chatapp import app as A\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "orig = A.build\n"
        "def build(*a, **k):\n"
        "    parts = orig(*a, **k)\n"
        "    s = parts.session\n"
        # On conditions, not on a clock: ask once the model is ready, quit once the reply streams.
        "    s.llm_state.connect(lambda st, d: st == 'ready' and s.submit('Write a very long story about the sea.'))\n"
        "    s.reply_text.connect(lambda mid, text: len(text) > 40 and QApplication.instance().quit())\n"
        "    return parts\n"
        "A.build = build\n"
        "sys.exit(A.main(parse_args(['--data-dir', sys.argv[1]])))\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "d")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "QThread" not in proc.stderr and "Destroyed while thread" not in proc.stderr
    from chatapp.storage import Storage
    st = Storage(tmp_path / "d" / "chatapp.sqlite3")
    msgs = st.messages(st.conversations()[0].id)
    assert msgs[-1].role == "assistant" and msgs[-1].status in ("stopped", "done") and msgs[-1].content


@pytest.mark.parametrize("url, opened", [
    ("https://example.org/page", True), ("http://example.org", True), ("file:///etc/passwd", False),
    ("javascript:alert(1)", False), ("data:text/html,<script>", False), ("ftp://example.org", False),
])
def test_links_open_only_http_in_the_browser(monkeypatch, url, opened):
    calls = []
    from PySide6.QtGui import QDesktopServices
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda u: calls.append(u.toString()) or True)
    message_widgets.open_link(url)
    assert bool(calls) == opened


def test_view_never_loads_resources(make_app, qtbot, tmp_path):
    secret = tmp_path / "secret.png"
    from PIL import Image
    Image.new("RGB", (4, 4), "red").save(secret)
    evil = (f'<img src="{secret}"> ![x]({secret.as_uri()}) <a href="file://{secret}">f</a> '
            '<iframe src="https://example.org"></iframe> [js](javascript:alert(1))')
    parts = make_app(FakeChatEngine([evil]))
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("show me")
    reply = parts.storage.messages(parts.session.current.id)[-1]
    qtbot.waitUntil(lambda: "&lt;img" in parts.window.view.text_of(reply.id), timeout=30000)
    html = parts.window.view.text_of(reply.id)
    assert "<img" not in html and "<iframe" not in html and 'href="file' not in html and "javascript:" not in \
        html.replace("(javascript:alert(1))", "")
    label = parts.window.view.widgets[reply.id].label
    assert not label.openExternalLinks()


def test_outgoing_connections_fail_in_tests():
    from .conftest import NetworkBlocked
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(NetworkBlocked):
        socket.socket().connect(("198.51.100.7", 443))


def test_app_sets_offline_mode_itself(tmp_path):
    """With none of the hub's variables set by the user, go_offline() makes the hub library refuse a
    download from its empty cache without opening a single socket."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "DIFFUSERS_"))}
    script = (
        "import socket, sys\n"
        "tried = []\n"
        "def refuse(self, address):\n"
        "    tried.append(address)\n"
        "    raise OSError('a socket was opened')\n"
        "socket.socket.connect = refuse\n"
        "from chatapp.app import go_offline\n"
        "go_offline()\n"
        "from huggingface_hub import hf_hub_download\n"
        "from huggingface_hub.errors import LocalEntryNotFoundError\n"
        "try:\n"
        f"    hf_hub_download('someone/model', 'config.json', cache_dir={str(tmp_path / 'cache')!r})\n"
        "except LocalEntryNotFoundError:\n"
        "    print('offline', tried)\n")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["offline", "[]"], out.stderr
