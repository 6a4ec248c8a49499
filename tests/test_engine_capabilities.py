"""Engines declare what they offer (capabilities); the workers and chatapp serve read them, never probe."""
import pytest

from chatapp.conversation import GenParams, ImageRequest
from chatapp.engines.base import ChatCapabilities, ImageCapabilities
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
from chatapp.engines.llama import LlamaChatEngine
from chatapp.engines.llama_embed import EmbeddingEngine
from chatapp.engines.openai_chat import OpenAIChatEngine
from chatapp.engines.openai_images import OpenAIImageEngine


def test_every_engine_declares_its_capabilities():
    assert LlamaChatEngine.capabilities == ChatCapabilities(warms_next_turn=True, counts_prompt=True, grammars=True)
    assert OpenAIChatEngine.capabilities == ChatCapabilities(tools=True)   # the server refuses what its model cannot
    assert EmbeddingEngine.capabilities.embeddings and not EmbeddingEngine.capabilities.streams
    assert DiffusionImageEngine.capabilities == ImageCapabilities(loras=True, threads=True, yields_to_chat=True,
                                                                  edits=True)
    assert OpenAIImageEngine.capabilities == ImageCapabilities(edits=True)
    # What a capability names exists where it is declared (the worker calls it without asking).
    assert all(callable(getattr(LlamaChatEngine, m)) for m in ("warm_next_turn", "prompt_tokens", "grammar_problem"))
    d = DiffusionImageEngine("nowhere")
    assert d.lora_dirs == [] and d.threads == 0 and d.chat_busy() is False


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
