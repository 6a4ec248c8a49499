"""Remote backends when the server misbehaves: down, refused, 401, 404, stalls, malformed or cut streams."""
from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import QTimer

from chatapp import backends
from chatapp.conversation import CANCELLED, DONE, ERROR, RENDERING, STOPPED
from chatapp.recipes.png import read_parameters

from .remote_servers import FaultServer, build_remote_app, free_port, isolate_keys


@pytest.fixture
def fault():
    server = FaultServer()
    yield server
    server.close()


@pytest.fixture
def app(qtbot, data_dir, monkeypatch):
    isolate_keys(monkeypatch)
    built = []
    yield lambda **fields: build_remote_app(qtbot, data_dir, built, **fields)
    for parts in built:
        parts.session.shutdown()
        parts.storage.close()


def chat(qtbot, parts, text="hi", timeout=30000):
    """Send a message; wait for its reply to end; return the reply and the notices shown meanwhile."""
    finished, notices = [], []
    parts.session.reply_finished.connect(finished.append)
    parts.session.notice.connect(notices.append)
    assert parts.session.submit(text)
    qtbot.waitUntil(lambda: bool(finished), timeout=timeout)
    return parts.storage.messages(parts.session.current.id)[-1], notices


def test_stall_mid_stream_times_out_and_keeps_the_partial_reply_as_stopped(app, qtbot, fault):
    parts = app(chat=dict(url=fault.base("stall"), timeout=1.5))
    assert parts.session.llm_status == "ready"
    reply, notices = chat(qtbot, parts)
    assert reply.status == STOPPED and reply.content == "Hello there friend"
    assert any("stopped sending" in n and "kept" in n for n in notices)
    qtbot.waitUntil(lambda: bool(fault.hangups), timeout=30000)   # the connection was closed, not left hanging


def test_stop_closes_the_stream_at_once_and_the_gui_keeps_running(app, qtbot, fault):
    parts = app(chat=dict(url=fault.base("stall"), timeout=600))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    finished = []
    parts.session.reply_finished.connect(finished.append)
    parts.session.submit("hi")
    qtbot.waitUntil(lambda: any(r.text == "Hello there friend" for r in parts.session.replies.active.values()),
                    timeout=30000)
    start_ticks = len(ticks)
    # The server now sends nothing; the event loop must go on regardless.
    qtbot.waitUntil(lambda: len(ticks) >= start_ticks + 20, timeout=30000)
    assert not finished
    parts.session.stop()
    qtbot.waitUntil(lambda: bool(finished), timeout=30000)   # far sooner than the 600 s stall timeout
    reply = parts.storage.messages(parts.session.current.id)[-1]
    assert reply.status == STOPPED and reply.content == "Hello there friend"
    qtbot.waitUntil(lambda: bool(fault.hangups), timeout=30000)
    timer.stop()


def test_401_shows_a_clear_message(app, fault):
    parts = app(chat=dict(url=fault.base("auth")))
    assert parts.session.llm_status == "error"
    assert "401" in parts.window.model_label.toolTip() and "API key" in parts.window.model_label.toolTip()


def test_refused_then_the_server_comes_up(app, qtbot):
    port = free_port()
    parts = app(chat=dict(url=f"http://127.0.0.1:{port}/ok/v1", timeout=5))
    assert parts.session.llm_status == "error"
    assert "Could not reach" in parts.window.model_label.toolTip()
    server = FaultServer(port)   # the server comes up: the next message connects again by itself
    try:
        reply, _ = chat(qtbot, parts)
        assert reply.status == DONE and reply.content == "Hello again"
        assert f"@ 127.0.0.1:{port}" in parts.window.model_label.text()
        assert "tok/s" in parts.window.stats_label.text()
    finally:
        server.close()


def test_server_down_after_connecting(app, qtbot):
    server = FaultServer()
    parts = app(chat=dict(url=server.base("ok"), timeout=5))
    assert parts.session.llm_status == "ready"
    server.close()
    reply, _ = chat(qtbot, parts)
    assert reply.status == ERROR and "Could not reach" in reply.content


def test_unknown_model_404(app, qtbot, fault):
    parts = app(chat=dict(url=fault.base("nomodel"), model="m1"))
    reply, _ = chat(qtbot, parts)
    assert reply.status == ERROR and "404" in reply.content and "m1" in reply.content


def test_model_missing_from_the_servers_list(app, fault):
    parts = app(chat=dict(url=fault.base("ok"), model="not-there"))
    assert parts.session.llm_status == "error" and "not-there" in parts.window.model_label.toolTip()


@pytest.mark.parametrize("mode, words", [("malformed", "could not read"), ("cut", "closed the stream")])
def test_malformed_or_cut_stream_keeps_what_arrived(app, qtbot, fault, mode, words):
    parts = app(chat=dict(url=fault.base(mode)))
    reply, notices = chat(qtbot, parts)
    assert reply.status == STOPPED and reply.content.startswith("Hello")
    assert any(words in n for n in notices)


def test_bad_url_is_explained(app):
    parts = app(chat=dict(url="ftp://gpu-box/v1"))
    assert "http(s)" in parts.window.model_label.toolTip()


def test_remote_picture_carries_its_recipe(app, qtbot, fault):
    parts = app(image=dict(url=fault.base("ok")))
    done = []
    parts.session.message_changed.connect(lambda m: m.status == DONE and m.kind == "image" and done.append(m))
    assert parts.session.submit("/image a red square --seed 5 --steps 7 --negative blurry")
    qtbot.waitUntil(lambda: bool(done), timeout=30000)
    path, body = done[0].image_path, fault.requests[-1][1]
    assert body["response_format"] == "b64_json" and body["seed"] == 5 and body["steps"] == 7
    assert body["negative_prompt"] == "blurry"
    assert Image.open(path).size == (40, 24)
    text = read_parameters(path)
    assert "Seed: 5" in text and "Steps: 7" in text and "Size: 40x24" in text and "Negative prompt: blurry" in text


def test_cancel_drops_a_remote_picture(app, qtbot, fault):
    parts = app(image=dict(url=fault.base("stall")))
    removed = []
    parts.session.message_removed.connect(removed.append)
    parts.session.submit("/image a blue circle")
    qtbot.waitUntil(lambda: any(j.message.status == RENDERING for j in parts.session.images.jobs.values()),
                    timeout=30000)
    qtbot.waitUntil(lambda: any(p.endswith("/images/generations") for p, _ in fault.requests), timeout=30000)
    mid = next(iter(parts.session.images.jobs.values())).message.id
    parts.session.images.cancel_message(mid)
    # A cancelled picture leaves a short "Cancelled" note (issue 17), not a half picture.
    qtbot.waitUntil(lambda: parts.storage.message(mid).status == CANCELLED, timeout=30000)
    assert mid not in removed
    qtbot.waitUntil(lambda: any(p.endswith("/images/generations") for p in fault.hangups), timeout=30000)
    assert not list(parts.paths.images.glob("*.png"))


def test_settings_dialog_lists_models_and_keeps_the_key_out_of_settings(qtbot, fault, tmp_path, monkeypatch):
    from chatapp.backends import secrets
    from chatapp.settings import Settings
    from chatapp.ui.settings_dialog import SettingsDialog
    isolate_keys(monkeypatch)
    settings = backends.choose(Settings(), "chat", "openai", url=fault.base("ok"))
    dialog = SettingsDialog(backends.choose(settings, "image", "openai", url=fault.base("auth")), config_dir=tmp_path)
    qtbot.addWidget(dialog)
    chat_server, image_server = dialog.forms["chat"]["openai"].remote, dialog.forms["image"]["openai"].remote
    qtbot.waitUntil(lambda: chat_server.model.count() == 1, timeout=30000)
    assert chat_server.model.itemText(0) == "m1" and not dialog.llm_model.isVisibleTo(dialog)
    qtbot.waitUntil(lambda: "401" in image_server.status.text(), timeout=30000)
    chat_server.key.setText("sk-typed")
    dialog.accept()
    result = dialog.result_settings()
    assert result.backend_options["chat.openai"].model == "" and result.image_backend == "openai"
    assert secrets.get_key("llm", tmp_path) == "sk-typed" and "sk-typed" not in repr(result)
