"""The small parts of remote backends: registry and reloads, command line, keys, and no socket by default."""
from __future__ import annotations

import os
import socket
import stat
from dataclasses import replace

import pytest

from chatapp import __main__ as cli
from chatapp import backends
from chatapp.backends import secrets
from chatapp.app import apply_backend_args
from chatapp.engines.fake import FakeChatEngine
from chatapp.settings import Settings

from .remote_servers import build_remote_app, isolate_keys


def test_registry_decides_what_needs_a_reload():
    local = Settings()
    assert not backends.chat_needs_reload(local, replace(local, temperature=0.9))
    assert backends.chat_needs_reload(local, replace(local, llm_model="/x.gguf"))
    assert not backends.image_needs_reload(local, replace(local, llm_model="/x.gguf"))
    remote = backends.choose(local, "chat", "openai", url="http://h:1/v1")
    assert backends.chat_needs_reload(local, remote)        # the backend changed
    assert backends.chat_needs_reload(remote, remote)       # a server reconnects on every save (key, server back)
    assert backends.chat_backend(replace(local, llm_backend="bogus")).name == "local"
    assert {b.name for b in backends.CHAT.values()} == {"local", "openai"}


def test_session_reloads_only_what_changed(make_app, qtbot):
    parts = make_app(chat_engine=FakeChatEngine())
    loads = []
    parts.session.llm.request_load = lambda factory: loads.append(factory)
    parts.session.apply_settings(replace(parts.session.settings, temperature=1.1))
    assert loads == []
    parts.session.apply_settings(replace(parts.session.settings, n_ctx=8192))
    assert len(loads) == 1


def test_command_line_picks_servers_and_keys_come_from_the_environment(monkeypatch, tmp_path):
    isolate_keys(monkeypatch)
    args = cli.parse_args(["--llm-url", "http://gpu-box:8000/v1", "--llm-remote-model", "qwen",
                           "--image-url", "http://gpu-box:8080/v1"])
    settings = apply_backend_args(Settings(), args)
    chat, image = backends.options_of("chat", backends.CHAT["openai"], settings), \
        backends.options_of("image", backends.IMAGE["openai"], settings)
    assert (settings.llm_backend, chat.url, chat.model) == ("openai", "http://gpu-box:8000/v1", "qwen")
    assert (settings.image_backend, image.url, image.model) == ("openai", "http://gpu-box:8080/v1", "")
    monkeypatch.setenv("CHATAPP_LLM_API_KEY", "from-env")
    assert secrets.get_key("llm", tmp_path) == "from-env" and secrets.get_key("image", tmp_path) == ""
    with pytest.raises(SystemExit):   # never a key on the command line, where `ps` shows it
        cli.parse_args(["--llm-api-key", "x"])


def test_serve_subcommand_refuses_a_public_bind_without_a_key(monkeypatch, capsys):
    monkeypatch.delenv("CHATAPP_SERVE_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.run(["serve", "--host", "0.0.0.0"])
    assert exit_info.value.code == 2 and "CHATAPP_SERVE_API_KEY" in capsys.readouterr().err


def test_keys_without_a_keychain_go_to_an_owner_only_file(monkeypatch, tmp_path):
    isolate_keys(monkeypatch)
    assert "No system keychain" in secrets.where(tmp_path)
    secrets.set_key("llm", "k-123", tmp_path)
    path = tmp_path / secrets.FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secrets.get_key("llm", tmp_path) == "k-123"
    secrets.set_key("llm", "", tmp_path)
    assert secrets.get_key("llm", tmp_path) == ""


@pytest.mark.real
def test_no_socket_at_all_without_a_remote_backend(qtbot, data_dir, monkeypatch):
    """Default settings, the real local model through the registry, one reply: not one socket opened."""
    opened = []
    real_connect, real_create = socket.socket.connect, socket.create_connection

    def connect(self, address):
        if self.family != socket.AF_UNIX:
            opened.append(address)
        return real_connect(self, address)

    def create(address, *a, **k):
        opened.append(address)
        return real_create(address, *a, **k)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create)
    built = []
    parts = build_remote_app(qtbot, data_dir, built, max_tokens=4)
    try:
        assert parts.session.llm_status == "ready"
        finished = []
        parts.session.reply_finished.connect(finished.append)
        parts.session.submit("hello")
        qtbot.waitUntil(lambda: bool(finished), timeout=60000)
    finally:
        parts.session.shutdown()
        parts.storage.close()
    assert opened == []


def test_keys_go_to_the_keychain_when_there_is_one(monkeypatch, tmp_path):
    import keyring
    from keyring.backend import KeyringBackend
    isolate_keys(monkeypatch)

    class MemoryKeyring(KeyringBackend):
        priority = 1
        store: dict = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            self.store.pop((service, username), None)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        assert "system keychain" in secrets.where(tmp_path)
        secrets.set_key("image", "img-key", tmp_path)
        assert MemoryKeyring.store == {("chatapp", "image"): "img-key"}
        assert not (tmp_path / secrets.FILE_NAME).exists()
        assert secrets.get_key("image", tmp_path) == "img-key"
    finally:
        keyring.set_keyring(previous)
