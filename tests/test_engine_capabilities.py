"""Engines declare what they offer (capabilities) and stream typed events; callers read, never probe."""
import json
from types import SimpleNamespace

import pytest

from chatapp.conversation import GenParams, ImageRequest
from chatapp.engines.base import ChatCapabilities, ImageCapabilities
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.engines.events import Reply, TextDelta, ToolCall, ToolCallDelta, Usage
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
from chatapp.engines.llama import LlamaChatEngine
from chatapp.engines.llama_embed import EmbeddingEngine
from chatapp.engines.openai_chat import OpenAIChatEngine, _events
from chatapp.engines.openai_images import OpenAIImageEngine
from chatapp.serve.chat import _tool_call_delta


def test_every_engine_declares_its_capabilities():
    assert LlamaChatEngine.capabilities == ChatCapabilities(warms_next_turn=True, counts_prompt=True, grammars=True)
    assert OpenAIChatEngine.capabilities == ChatCapabilities()
    assert EmbeddingEngine.capabilities.embeddings and not EmbeddingEngine.capabilities.streams
    assert DiffusionImageEngine.capabilities == ImageCapabilities(loras=True, threads=True, yields_to_chat=True,
                                                                  edits=True)
    assert OpenAIImageEngine.capabilities == ImageCapabilities(edits=True)
    # What a capability names exists where it is declared (the worker calls it without asking).
    assert all(callable(getattr(LlamaChatEngine, m)) for m in ("warm_next_turn", "prompt_tokens", "grammar_problem"))
    d = DiffusionImageEngine("nowhere")
    assert d.lora_dirs == [] and d.threads == 0 and d.chat_busy() is False


def test_reply_joins_tool_call_parts_by_index_in_order():
    reply = Reply.of([TextDelta("Sure. "), ToolCallDelta(1, "b", "search", '{"q"'), ToolCallDelta(0, "a", "draw"),
                      ToolCallDelta(1, arguments=': "cats"}'), ToolCallDelta(0, arguments="{}"), TextDelta("Done."),
                      Usage(SimpleNamespace(), "tool_calls")])
    assert reply.text == "Sure. Done." and reply.usage.finish_reason == "tool_calls"
    assert reply.tool_calls == [ToolCall("a", "draw", "{}"), ToolCall("b", "search", '{"q": "cats"}')]
    assert reply.tool_calls[1].parsed_arguments() == {"q": "cats"}
    assert reply.tool_calls[1].openai() == {"id": "b", "type": "function",
                                            "function": {"name": "search", "arguments": '{"q": "cats"}'}}
    with pytest.raises(ValueError, match="not valid JSON"):
        ToolCall("c", "draw", '{"prompt": ').parsed_arguments()
    with pytest.raises(TypeError):
        Reply().add("plain text is not an event")


def test_openai_stream_deltas_become_events_and_go_back_out_in_the_same_shape():
    """A server's streamed tool_calls parts -> ToolCallDelta -> chatapp serve's chunk: the same fields."""
    from openai.types.chat.chat_completion_chunk import ChoiceDelta
    parts = [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "draw", "arguments": ""}},
             {"index": 0, "function": {"arguments": '{"prompt": "sea"}'}}]
    events = [e for p in parts for e in _events(ChoiceDelta.model_validate({"tool_calls": [p]}))]
    assert events == [ToolCallDelta(0, "call_1", "draw", ""), ToolCallDelta(0, arguments='{"prompt": "sea"}')]
    assert [_tool_call_delta(e) for e in events] == parts
    assert list(_events(ChoiceDelta(content="Hi"))) == [TextDelta("Hi")]


class _Warmable(FakeChatEngine):
    def __init__(self, can_warm: bool):
        super().__init__(["a reply"])
        self.capabilities = ChatCapabilities(warms_next_turn=can_warm)
        self.warmed = []

    def warm_next_turn(self, reply: str) -> int:
        self.warmed.append(reply)
        return 0


def _loaded(qtbot, worker, engine):
    ready = []
    worker.ready.connect(ready.append)
    worker.request_load(lambda: engine)
    qtbot.waitUntil(lambda: bool(ready), timeout=30000)


@pytest.mark.parametrize("can_warm", [True, False])
def test_chat_worker_warms_the_next_turn_only_where_declared(qtbot, can_warm):
    from chatapp.workers.chat import LlmWorker
    worker, engine = LlmWorker(), _Warmable(can_warm)
    try:
        _loaded(qtbot, worker, engine)
        with qtbot.waitSignal(worker.finished, timeout=30000):
            worker.request_reply(1, [{"role": "user", "content": "hi"}], GenParams())
        qtbot.waitUntil(lambda: not worker.busy.is_set(), timeout=30000)
        assert engine.warmed == (["a reply"] if can_warm else [])
    finally:
        assert worker.shutdown(5000)


class _Settable(FakeImageEngine):
    """Has every member the image worker could set; only its capabilities say which it takes."""

    def __init__(self, can: ImageCapabilities):
        super().__init__()
        self.capabilities = can
        self.lora_dirs, self.threads, self.chat_busy = "untouched", "untouched", "untouched"


@pytest.mark.parametrize("declared", [False, True])
def test_image_worker_sets_only_what_the_engine_declares(qtbot, tmp_path, declared):
    import threading

    from chatapp.workers.image import ImageWorker
    worker = ImageWorker()
    engine = _Settable(ImageCapabilities(loras=declared, threads=declared, yields_to_chat=declared))
    worker.chat_busy, worker.threads, worker.lora_dirs = threading.Event(), 3, [tmp_path]
    try:
        _loaded(qtbot, worker, engine)
        done = []   # finished comes from the worker thread: waitSignal's timer must not be touched there
        worker.finished.connect(lambda rid, saved: done.append(saved))
        worker.request_image(1, ImageRequest(prompt="a dot", seed=1), tmp_path)
        qtbot.waitUntil(lambda: bool(done), timeout=30000)
        if declared:
            assert engine.lora_dirs == [tmp_path] and engine.threads == 3 and engine.chat_busy() is False
        else:
            assert (engine.lora_dirs, engine.threads, engine.chat_busy) == ("untouched",) * 3
    finally:
        assert worker.shutdown(5000)


def test_fake_engine_streams_a_scripted_tool_call_with_its_finish_reason():
    engine = FakeChatEngine([[TextDelta("On it."), ToolCallDelta(0, "c", "draw", json.dumps({"prompt": "x"}))]])
    events = list(engine.stream([{"role": "user", "content": "draw x"}], GenParams(), lambda: False))
    assert [type(e) for e in events] == [TextDelta, ToolCallDelta, Usage]
    assert events[-1].finish_reason == "tool_calls" and events[-1].stats.completion_tokens == 2
