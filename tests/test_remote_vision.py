"""The remote chat engine sends pictures to a server whose model sees: learnt from the server where it says
(llama-server's /props, which `chatapp serve` speaks too; Ollama's /api/show; LM Studio's /api/v0), else the
user's Settings option; a server's 400 about a picture is a clear error, never a resend without it."""
from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from chatapp.conversation import GenParams
from chatapp.engines.base import EngineError
from chatapp.engines.fake import FakeChatEngine
from chatapp.engines.context import IMAGE_TOKENS_ESTIMATE as IMAGE_TOKENS
from chatapp.engines.openai_chat import OpenAIChatEngine

from .remote_servers import FaultServer, JsonHandler, LoopbackServer, serving_chat_engines
from .test_serve_vision_refusal import SeeingEngine, picture_of


def data_url(color=(200, 30, 30), size=(16, 12)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def picture_message(text="What is in this picture?", *urls: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text},
                                        *({"type": "image_url", "image_url": {"url": u}} for u in urls or [data_url()])]}


def reply(engine: OpenAIChatEngine, messages: list[dict]) -> str:
    return "".join(getattr(e, "text", "") for e in engine.stream(messages, GenParams(max_tokens=32), lambda: False))


@pytest.fixture(scope="module")
def chatapp_serve():
    """chatapp serve on loopback with a model that sees and one that cannot."""
    engines = {"seeing": SeeingEngine(), "blind": FakeChatEngine()}
    with serving_chat_engines(engines) as url:
        yield engines, url


def test_chatapp_serve_says_its_model_sees_and_gets_the_picture(chatapp_serve):
    served, url = chatapp_serve
    engine = OpenAIChatEngine(url, "seeing")   # the user did not tick "This model can see pictures"
    info = engine.load()
    assert engine.capabilities.vision and engine.capabilities.image_side == 0
    assert info.details["vision"] is True and info.details["vision_said_by"] == "llama-server's /props"
    served["seeing"].enqueue("A red rectangle.")
    messages = [{"role": "system", "content": "Be brief."}, picture_message("What is this?", data_url())]
    assert reply(engine, messages) == "A red rectangle."
    system, user = served["seeing"].seen[-1]
    assert system == messages[0] and user["content"][0] == {"type": "text", "text": "What is this?"}
    sent = picture_of(user["content"][1])
    assert sent.size == (16, 12) and sent.getpixel((4, 4)) == (200, 30, 30)


def test_the_servers_word_beats_the_option_and_its_400_is_said_not_worked_around(chatapp_serve):
    served, url = chatapp_serve
    engine = OpenAIChatEngine(url, "blind", sees=True)   # ticked, but the server knows better
    engine.load()
    assert not engine.capabilities.vision and engine.vision_said_by == "llama-server's /props"
    before = len(served["blind"].received)
    with pytest.raises(EngineError) as err:
        reply(engine, [picture_message()])
    message = str(err.value)
    assert message.startswith(f"The chat server at {url[7:-3]} would not take the pictures for 'blind'")
    assert "image_url is only supported by certain models" in message   # the server's own words
    assert "Choose a model that sees pictures" in message
    assert len(served["blind"].received) == before   # never asked again without the picture


@pytest.fixture
def fault():
    server = FaultServer()
    yield server
    server.close()


@pytest.mark.parametrize("sees", [False, True])
def test_a_server_that_does_not_say_follows_the_option(fault, sees):
    engine = OpenAIChatEngine(fault.base("ok"), "m1", sees=sees)
    info = engine.load()
    assert engine.capabilities.vision is sees and info.details["vision_said_by"] == "Settings"


def test_a_ticked_option_on_a_server_that_cannot_see_is_said_in_its_words(fault):
    engine = OpenAIChatEngine(fault.base("noimage"), "m1", sees=True)
    engine.load()
    assert engine.capabilities.vision
    with pytest.raises(EngineError) as err:
        reply(engine, [picture_message()])
    message = str(err.value)
    assert "would not take the pictures for 'm1' (image input is not supported - hint:" in message
    assert 'Turn off "This model can see pictures" in Settings' in message
    chats = [body for path, body in fault.requests if path.endswith("/chat/completions")]
    assert len(chats) == 1   # asked once, never again without the picture


def test_pictures_go_as_sent_and_count_in_trimming(fault):
    engine = OpenAIChatEngine(fault.base("ok"), "m1", sees=True, n_ctx=2 * IMAGE_TOKENS + 200)
    engine.load()
    old = picture_message("Look at these two.", data_url((0, 0, 255)), data_url((0, 255, 0)))
    new = picture_message("And this one?", data_url())
    messages = [{"role": "system", "content": "Be brief."}, old, {"role": "assistant", "content": "Two squares."}, new]
    assert reply(engine, messages) == "Hello again"
    _, body = fault.requests[-1]
    # The old turn's two pictures do not fit beside the new one: it went whole, the new one as it was sent.
    assert body["messages"] == [messages[0], new]
    engine.n_ctx = 4 * IMAGE_TOKENS
    reply(engine, messages)
    assert fault.requests[-1][1]["messages"] == messages


class SayingServer(LoopbackServer):
    """An Ollama- or LM Studio-shaped server: its own endpoint says which model sees (no real one runs
    offline); /v1/models lists them, /props is unknown (404)."""

    def __init__(self, kind: str, seeing: set[str]):
        outer = self
        self.asked: list[str] = []

        class Handler(JsonHandler):
            def do_GET(self):
                outer.asked.append(f"GET {self.path}")
                if self.path == "/v1/models":
                    return self._json(200, {"object": "list", "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": kind} for m in ("llava:7b", "qwen3:8b")]})
                if kind == "lmstudio" and self.path.startswith("/api/v0/models/"):
                    name = self.path.rsplit("/", 1)[1].replace("%3A", ":")
                    return self._json(200, {"id": name, "object": "model", "type": "vlm" if name in seeing else "llm"})
                self._json(404, {"error": "not found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.asked.append(f"POST {self.path}")
                if kind == "ollama" and self.path == "/api/show":
                    caps = ["completion", "vision"] if body.get("model") in seeing else ["completion", "tools"]
                    return self._json(200, {"details": {"format": "gguf"}, "capabilities": caps})
                self._json(404, {"error": "not found"})
        super().__init__(Handler)


@pytest.mark.parametrize("kind, said_by", [("ollama", "Ollama's /api/show"), ("lmstudio", "LM Studio's /api/v0/models")])
def test_ollama_and_lm_studio_say_which_model_sees(kind, said_by):
    server = SayingServer(kind, {"llava:7b"})
    try:
        for model, sees in (("llava:7b", True), ("qwen3:8b", False)):
            engine = OpenAIChatEngine(server.url + "/v1", model, sees=not sees)   # the option is not asked
            info = engine.load()
            assert engine.capabilities.vision is sees and info.details["vision_said_by"] == said_by
    finally:
        server.close()
    assert "GET /props?model=llava%3A7b" in server.asked   # llama-server's way was tried first


def test_the_option_is_a_settings_checkbox_that_reaches_the_engine(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QCheckBox

    from chatapp import backends
    from chatapp.settings import Settings
    from chatapp.ui.settings_dialog import SettingsDialog

    from .remote_servers import isolate_keys
    isolate_keys(monkeypatch)
    settings = backends.choose(Settings(), "chat", "openai", url="http://127.0.0.1:9/v1", sees=True)
    assert backends.chat_factory(settings)().sees is True
    dialog = SettingsDialog(settings, config_dir=tmp_path)
    qtbot.addWidget(dialog)
    box = dialog.widget("chat.openai.sees")
    assert isinstance(box, QCheckBox) and box.text() == "This model can see pictures" and box.isChecked()
    box.setChecked(False)
    assert dialog.result_settings().backend_options["chat.openai"].sees is False


def test_a_picture_attached_on_the_desktop_reaches_the_servers_model(chatapp_serve, qtbot, data_dir, tmp_path,
                                                                     monkeypatch):
    """The whole remote path: the session's picture -> list content -> the remote engine -> chatapp serve ->
    its model; a model the server says cannot see gets the session's note and no request at all."""
    from .remote_servers import build_remote_app, isolate_keys
    from .test_session_pictures import attach, photo
    isolate_keys(monkeypatch)
    served, url = chatapp_serve
    built = []
    try:
        parts = build_remote_app(qtbot, data_dir, built, chat={"url": url, "model": "seeing"})
        session = parts.session
        assert session.llm_status == "ready" and session.chat_capabilities.vision
        served["seeing"].enqueue("A green square.")
        attach(qtbot, session, [photo(tmp_path, "leaf.png", (300, 200), (30, 180, 40))])
        with qtbot.waitSignal(session.reply_finished, timeout=60000):
            assert session.submit("What colour is this?")
        assert parts.storage.branch(session.current.id)[-1].content == "A green square."
        user = served["seeing"].seen[-1][-1]
        assert user["content"][0] == {"type": "text", "text": "What colour is this?"}
        sent = picture_of(user["content"][1])
        assert sent.size == (300, 200) and sent.getpixel((150, 100)) == (30, 180, 40)
        session.shutdown()
        parts.storage.close()
        built.clear()

        parts = build_remote_app(qtbot, data_dir, built, chat={"url": url, "model": "blind", "sees": True})
        session = parts.session
        assert session.llm_status == "ready" and not session.chat_capabilities.vision
        before = len(served["blind"].received)
        attach(qtbot, session, [photo(tmp_path, "leaf.png", (300, 200), (30, 180, 40))])
        assert session.submit("What colour is this?")
        qtbot.waitUntil(lambda: "cannot see pictures" in parts.storage.branch(session.current.id)[-1].content,
                        timeout=30000)
        assert len(served["blind"].received) == before   # nothing was asked of a model that would make it up
    finally:
        for parts in built:
            parts.session.shutdown()
            parts.storage.close()
