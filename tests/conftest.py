"""Test set-up: offscreen Qt, offline, no network, and builders for the app with fake or real engines."""
from __future__ import annotations

import logging
import os
import socket

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402

from chatapp.app import build, go_offline  # noqa: E402
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine  # noqa: E402
from chatapp.settings import Settings, resolve_paths  # noqa: E402

go_offline()


class _LoggerRegistry(dict):
    """pytest's log capture walks logging's registry of loggers at the start of every test phase
    without logging's lock (pytest 9.2, catching_logs.__enter__). A worker thread that imports a
    library then (torch, diffusers: each module registers a logger) changed the dict mid-walk:
    "RuntimeError: dictionary changed size during iteration" at a teardown in a stress run.
    values() here is a copy taken in one C call, which no other Python thread can interleave with."""

    def values(self):
        return list(super().values())


logging.Logger.manager.loggerDict = _LoggerRegistry(logging.Logger.manager.loggerDict)


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any outgoing connection except to this machine fails the test that makes it."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
            return real_connect(self, address)
        raise NetworkBlocked(f"test tried to connect to {address!r}")
    monkeypatch.setattr(socket.socket, "connect", guarded)
    real_create = socket.create_connection

    def guarded_create(address, *args, **kwargs):
        # Loopback only: the remote-backend tests talk to real servers started on this machine.
        if address[0] in ("127.0.0.1", "::1", "localhost"):
            return real_create(address, *args, **kwargs)
        raise NetworkBlocked(f"connect to {address!r}")
    monkeypatch.setattr(socket, "create_connection", guarded_create)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def make_app(qtbot, data_dir):
    """Build the real app (real SQLite, real widgets) around given engines; shut down at the end."""
    built = []

    def make(chat_engine=None, image_engine=None, settings=None, load=True):
        chat_engine = chat_engine if chat_engine is not None else FakeChatEngine()
        image_engine = image_engine if image_engine is not None else FakeImageEngine()
        parts = build(resolve_paths(str(data_dir)), settings or Settings(),
                      llm_engine_factory=lambda: chat_engine, image_engine_factory=lambda: image_engine)
        qtbot.addWidget(parts.window)
        parts.window.show()
        if load:
            parts.session.load_models()
            # Wait on GUI-thread state, never on a worker's signal: pytest-qt's blocker would
            # then stop its timer from the worker thread.
            qtbot.waitUntil(lambda: parts.session.llm_status in ("ready", "error"), timeout=60000)
        built.append(parts)
        return parts

    yield make
    for parts in built:
        parts.session.shutdown()
        parts.storage.close()


def close_app(parts):
    assert parts.session.shutdown()
    parts.storage.close()


@pytest.fixture(scope="session")
def random_sd_folder(tmp_path_factory):
    from .tiny_pipeline import build_random_pipeline
    return build_random_pipeline(tmp_path_factory.mktemp("random-sd") / "random-sd")
