"""Issue 23 in the window: a chat where the assistant drew through a tool, exported as JSON by File > Export chat…
and brought into another app (another data folder) by File > Import…, shows the same tool card and picture there;
the call, its result and the picture are in the new database, the picture a file of the new data folder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from chatapp.app import build
from chatapp.conversation import DONE
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
from chatapp.recipes.a1111 import parse_parameters
from chatapp.recipes.png import read_parameters
from chatapp.settings import Settings, resolve_paths
from chatapp.store.exporters import dialog_filters
from chatapp.ui.image_bubble import ImageBubble
from chatapp.ui.tool_card import ToolCard

from .conftest import close_app
from .test_gui_tools import branch, call, finished_reply

ARGS = {"prompt": "a red circle", "seed": 3}
REPLY = "Here is a red circle."


@pytest.fixture
def app_in(qtbot):
    """app_in(folder): the real app on data folder `folder` (the fake model loaded), shut down at the end."""
    built = []

    def make(folder):
        parts = build(resolve_paths(str(folder)), Settings(),
                      llm_engine_factory=FakeChatEngine, image_engine_factory=FakeImageEngine)
        qtbot.addWidget(parts.window)
        parts.window.show()
        built.append(parts)
        parts.session.load_models()
        qtbot.waitUntil(lambda: parts.session.llm_status == "ready", timeout=60000)
        return parts

    yield make
    for parts in built:
        parts.session.shutdown()
        parts.storage.close()


def file_action(window, text: str):
    """The File menu's action called text, as a user picks it."""
    return next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == text)


def notices_of(window, monkeypatch) -> list[str]:
    """What the window says in its view from now on (still shown)."""
    said, show = [], window.view.add_notice
    monkeypatch.setattr(window.view, "add_notice", lambda text: (said.append(text), show(text)))
    return said


def test_a_drawn_chat_exported_as_json_and_imported_elsewhere_shows_its_card_and_picture(
        make_app, app_in, qtbot, data_dir, tmp_path, monkeypatch):
    # 1. In the first app a worded request makes a tool card and a picture, and the reply goes on.
    parts = make_app(FakeChatEngine([call("draw_picture", ARGS), REPLY]), FakeImageEngine())
    assert parts.session.submit("draw me a red circle")
    qtbot.waitUntil(lambda: finished_reply(parts, REPLY) is not None, timeout=30000)
    user, asked, card, picture, answer = branch(parts)
    assert (card.kind, card.meta["state"], picture.kind, picture.status) == ("tool", "done", "image", DONE)
    assert isinstance(parts.window.view.widgets[card.id], ToolCard)
    drawn = Path(picture.image_path).read_bytes()

    # 2. File > Export chat…, the save dialog answering with a .json file and the JSON filter.
    said = notices_of(parts.window, monkeypatch)
    target = tmp_path / "out" / "drawn chat.json"
    json_filter = next(f for f, key in dialog_filters().items() if key == "json")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), json_filter))
    file_action(parts.window, "Export chat…").trigger()
    qtbot.waitUntil(lambda: len(said) == 1, timeout=30000)
    assert said[0] == "Exported 1 conversation (5 messages, 1 picture) to drawn chat.json.", said
    exported = json.loads(target.read_text())["conversations"]
    assert len(exported) == 1 and [m["role"] for m in exported[0]["messages"]].count("tool") == 1
    # The first app and its data folder go: nothing in the other app may lean on them.
    close_app(parts)
    shutil.rmtree(data_dir)

    # 3. Another app, another data folder, with a chat of its own (so its database numbers messages otherwise):
    # File > Import… with the open dialog answering the file.
    other_dir = tmp_path / "other data"
    again = app_in(other_dir)
    w = again.window
    assert again.session.submit("a chat of this app's own")
    qtbot.waitUntil(lambda: finished_reply(again, "You said: a chat of this app's own") is not None, timeout=30000)
    own = again.session.current.id
    assert w.sidebar.list.count() == 1
    said = notices_of(w, monkeypatch)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(target), "Chats (*.json)"))
    file_action(w, "Import…").trigger()
    qtbot.waitUntil(lambda: len(said) == 1, timeout=30000)
    assert said[0].startswith("Imported 1 conversation (5 messages, 1 picture)"), said
    qtbot.waitUntil(lambda: w.sidebar.list.count() == 2, timeout=30000)   # the sidebar lists it
    assert again.session.current.id == own   # the import did not switch the chat shown

    # 4. Open it as a user does: a click on it in the sidebar.
    items = [w.sidebar.list.item(i) for i in range(w.sidebar.list.count())]
    item = next(i for i in items if i.data(Qt.ItemDataRole.UserRole) != own)
    assert item.text() == exported[0]["title"]
    imported_id = item.data(Qt.ItemDataRole.UserRole)
    qtbot.mouseClick(w.sidebar.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=w.sidebar.list.visualItemRect(item).center())   # (the sidebar redraws its items)
    qtbot.waitUntil(lambda: again.session.current.id == imported_id, timeout=30000)

    # The new database holds the whole turn: the call, its result, the picture under it, the reply after it.
    n_user, n_asked, n_card, n_picture, n_answer = again.storage.branch(imported_id)
    assert (n_user.role, n_user.content) == ("user", "draw me a red circle")
    assert n_asked.meta["tool_calls"] == asked.meta["tool_calls"]
    assert n_asked.meta["tool_calls"][0]["function"]["name"] == "draw_picture"
    assert (n_card.role, n_card.kind, n_card.status, n_card.parent_id) == ("tool", "tool", DONE, n_asked.id)
    assert {k: n_card.meta[k] for k in ("name", "state", "tool_call_id", "arguments")} == \
        {"name": "draw_picture", "state": "done", "tool_call_id": "call_1", "arguments": json.dumps(ARGS)}
    assert n_card.content == card.content
    assert n_card.content.startswith("Drew picture #1") and "seed 3" in n_card.content
    assert (n_picture.kind, n_picture.status, n_picture.parent_id) == ("image", DONE, n_card.id)
    assert (n_picture.meta["number"], n_picture.meta["tool_call_id"]) == (1, "call_1")
    assert n_picture.id != picture.id   # this database gave the imported messages other ids ...
    assert n_card.meta["message_ids"] == [n_picture.id]   # ... and the card names its picture by the new one
    assert (n_answer.role, n_answer.content, n_answer.status, n_answer.parent_id) == \
        ("assistant", REPLY, DONE, n_picture.id)
    # The picture is a file of the new data folder, the same PNG with its recipe.
    new_images = resolve_paths(str(other_dir)).images.resolve()
    shown_file = (other_dir / n_picture.image_path).resolve()
    assert shown_file.is_file() and shown_file.is_relative_to(new_images), n_picture.image_path
    assert not shown_file.is_relative_to(data_dir.resolve())
    assert shown_file.read_bytes() == drawn
    recipe = parse_parameters(read_parameters(shown_file))
    assert (recipe.prompt, recipe.seed) == ("a red circle", 3)

    # The view shows the card (tool, done, arguments, result) and the picture, loaded.
    view = w.view
    shown_card = view.widgets[n_card.id]
    assert isinstance(shown_card, ToolCard)
    assert "draw_picture" in shown_card.toggle.text() and shown_card.state.text() == "Done"
    assert json.loads(shown_card.arguments.toPlainText()) == ARGS
    assert shown_card.result.text().startswith("Drew picture #1") and "seed 3" in shown_card.result.text()
    assert shown_card.summary.text().startswith("Drew picture #1")
    bubble = view.widgets[n_picture.id]
    assert isinstance(bubble, ImageBubble)
    qtbot.waitUntil(bubble.picture_loaded, timeout=30000)
    pixmap = bubble.picture.pixmap()
    assert not pixmap.isNull() and pixmap.width() > 0
    assert n_answer.id in view.widgets
