"""Issue 23's per-chat tools switch and the LoRAs the picture tools offer: the switch is the chat's own (saved with
it, exported, imported, gone with it; older settings files' list moved into the chats), and the draw tool's schema
names the LoRAs that exist while a call naming one that does not gets a card saying so."""
import json
import shutil

import pytest

from PySide6.QtCore import Qt

from chatapp.conversation import DONE
from chatapp.engines.defaults import SHAPES_IMAGE_MODEL
from chatapp.engines.fake import FakeChatEngine
from chatapp.settings import Settings, load_settings, save_settings
from chatapp.storage import Storage
from chatapp.store.export import export
from chatapp.store.ingest import import_file

from .conftest import close_app
from .test_gui_tools import branch, call, finished_reply
from .test_lora_parse import WHITE, sd15_checkpoint, sd15_lora


def test_the_switch_is_the_chats_own_it_survives_a_restart_and_goes_with_the_chat(make_app, qtbot):
    chat = FakeChatEngine(["first", "second"])
    parts = make_app(chat)
    button = parts.window.tools_button
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)   # off, before the chat exists
    assert parts.session.submit("hello")
    qtbot.waitUntil(lambda: finished_reply(parts, "first") is not None, timeout=30000)
    cid = parts.session.current.id
    assert chat.params[0].tools == () and parts.storage.conversation(cid).tools_off
    assert load_settings(parts.paths.settings_file)[0].tools_off_chats == []   # nothing about it in Settings
    parts.session.new_conversation()
    assert button.isChecked()   # a new chat has its tools on
    close_app(parts)
    again = make_app(FakeChatEngine(["third"]))
    again.session.open_conversation(cid)
    assert not again.window.tools_button.isChecked()
    again.session.delete_conversation(cid)
    assert again.storage.conversation(cid) is None   # its switch with it: no list of ids outlives the chat


def test_an_older_settings_files_list_moves_into_its_chats_and_is_emptied(make_app, data_dir, qtbot):
    storage = Storage(data_dir / "chatapp.sqlite3")
    off, on = storage.create_conversation("tools were off"), storage.create_conversation("tools were on")
    storage.close()
    config = data_dir / "config" / "settings.json"
    save_settings(Settings(tools_off_chats=[off.id, 999]), config)   # 999: a chat deleted since
    parts = make_app(FakeChatEngine(), settings=load_settings(config)[0])
    assert parts.storage.conversation(off.id).tools_off and not parts.storage.conversation(on.id).tools_off
    assert json.loads(config.read_text())["tools_off_chats"] == [] and parts.session.settings.tools_off_chats == []
    parts.session.open_conversation(off.id)
    assert not parts.window.tools_button.isChecked()
    parts.session.open_conversation(on.id)
    assert parts.window.tools_button.isChecked()


def test_export_and_import_keep_the_switch_and_a_bad_one_is_refused_by_name(tmp_path):
    src = Storage(tmp_path / "a.sqlite3")
    off, on = src.create_conversation("off"), src.create_conversation("on")
    src.set_tools_off(off.id, True)
    for c in (off, on):
        src.add_message(c.id, "user", "hi")
    out = tmp_path / "all.json"
    export(src, None, "json", out)
    dst = Storage(tmp_path / "b.sqlite3")
    assert import_file(dst, out, tmp_path / "images").conversations == 2
    assert {c.title: c.tools_off for c in dst.conversations()} == {"off": True, "on": False}
    doc = json.loads(out.read_text())
    doc["conversations"][0]["tools_off"] = "yes"
    del doc["conversations"][1]["tools_off"]   # a file from before the switch: tools on
    doc["conversations"][1]["origin"] = {"source": "chatapp", "key": "another"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    third = Storage(tmp_path / "c.sqlite3")
    got = import_file(third, bad, tmp_path / "images")
    assert got.conversations == 1 and "tools_off is not true or false" in " ".join(map(str, got.damaged))
    assert [c.tools_off for c in third.conversations()] == [False]


def test_the_draw_tool_offers_the_loras_there_and_a_call_naming_another_gets_a_card_saying_so(make_app, data_dir,
                                                                                                qtbot):
    (data_dir / "loras").mkdir(parents=True)
    shutil.copy(WHITE, data_dir / "loras" / "ink-lines.safetensors")   # made for tiny-shapes, the image model here
    chat = FakeChatEngine([call("draw_picture", {"prompt": "a cat", "loras": [{"name": "watercolour"}]}), "Sorry."])
    parts = make_app(chat, settings=Settings(image_model=str(SHAPES_IMAGE_MODEL)))
    qtbot.waitUntil(lambda: "ink-lines" in parts.session.tools.loras, timeout=30000)   # listed off the GUI thread
    assert parts.session.submit("draw a cat in watercolour")
    qtbot.waitUntil(lambda: finished_reply(parts, "Sorry.") is not None, timeout=30000)
    draw = next(t["function"]["parameters"] for t in chat.params[0].tools if t["function"]["name"] == "draw_picture")
    names = draw["properties"]["loras"]["items"]["properties"]["name"]["enum"]
    assert names[0] == "ink-lines" and "watercolour" not in names
    card = next(m for m in branch(parts) if m.kind == "tool")
    assert card.meta["state"] == "failed" and "There is no LoRA named 'watercolour'" in card.content
    assert "ink-lines" in card.content and not any(m.kind == "image" for m in branch(parts))
    assert parts.window.view.widgets[card.id].isVisible() and finished_reply(parts, "Sorry.").status == DONE


def test_the_draw_tool_offers_only_the_loras_made_for_the_image_model(make_app, data_dir, tmp_path, qtbot):
    """A Stable Diffusion 1.x checkpoint (told from its header; the fake engine never loads it): the shipped
    tiny-shapes LoRAs are not offered, the SD 1.x one is."""
    (data_dir / "loras").mkdir(parents=True)
    sd15_lora(data_dir / "loras" / "portrait.safetensors")
    shutil.copy(WHITE, data_dir / "loras" / "ink-lines.safetensors")
    parts = make_app(settings=Settings(image_model=str(sd15_checkpoint(tmp_path / "sd15.safetensors"))))
    qtbot.waitUntil(lambda: "portrait" in parts.session.tools.loras, timeout=30000)   # listed off the GUI thread
    assert parts.session.tools.loras == ("portrait",)


def test_a_context_too_small_for_the_tools_leaves_them_out_says_so_once_and_offers_draw_this(make_app, qtbot):
    chat = FakeChatEngine(["one", "two"], n_ctx=2048)   # the old default: 512 for the reply + ~1,700 for the tools
    parts = make_app(chat)   # replies of no set length: a quarter of the context, 512, kept for the reply
    said = []
    parts.session.notice.connect(said.append)
    for text, answer in (("hello", "one"), ("draw me a lighthouse at dusk", "two")):
        assert parts.session.submit(text)
        qtbot.waitUntil(lambda: finished_reply(parts, answer) is not None, timeout=30000)
    assert [p.tools for p in chat.params] == [(), ()]
    short = [s for s in said if s.startswith("Tools were left out")]
    assert len(short) == 1 and "2,048" in short[0] and "Context length" in short[0]
    asked = [m for m in branch(parts) if m.role == "user"][-1]
    assert asked.meta["draw_this"] == {"prompt": "a lighthouse at dusk"}   # it cannot draw here: the chip instead


@pytest.mark.real
def test_a_real_model_that_calls_tools_answers_at_a_context_too_small_for_them(make_app, qtbot):
    # Offered the tools at 1,024 tokens, the engine could fit no message beside them and refused every reply.
    from chatapp.engines.llama import LlamaChatEngine

    from .tool_model import tool_model_path
    parts = make_app(LlamaChatEngine(tool_model_path(), n_ctx=1024), settings=Settings(max_tokens=24, seed=1,
                                                                                         temperature=0.0))
    assert parts.session.chat_capabilities.tools
    assert parts.session.submit("Hello! Who are you?")
    qtbot.waitUntil(lambda: not parts.window.composer.busy, timeout=120000)
    reply = branch(parts)[-1]
    assert (reply.role, reply.status) == ("assistant", DONE) and reply.content.strip()


def test_a_reply_sent_while_the_model_loads_gets_no_tools_its_context_cannot_hold(make_app, qtbot):
    from .test_gui_draw_this import StillLoading
    chat = StillLoading(["one", "two"], tools=True, n_ctx=2048)
    parts = make_app(chat, settings=Settings(n_ctx=2048), load=False)
    said = []
    parts.session.notice.connect(said.append)
    try:
        parts.session.load_models()
        assert parts.session.submit("draw me a lighthouse at dusk")   # waits for the model, its tools chosen now
    finally:
        chat.loaded.set()
    qtbot.waitUntil(lambda: finished_reply(parts, "one") is not None, timeout=30000)
    assert chat.params[0].tools == ()
    asked = [m for m in branch(parts) if m.role == "user"][-1]
    qtbot.waitUntil(lambda: "draw_this" in parts.storage.message(asked.id).meta, timeout=30000)   # and Draw this
    assert not [s for s in said if s.startswith("Tools were left out")]   # not known then to call tools: not said
    assert parts.session.submit("hello")
    qtbot.waitUntil(lambda: finished_reply(parts, "two") is not None, timeout=30000)
    assert chat.params[1].tools == () and [s for s in said if s.startswith("Tools were left out")]
