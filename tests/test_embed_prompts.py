"""Embedding models trained with query/passage prompts get them; others get plain text; vectors never mix."""
import numpy as np
import pytest

from chatapp.documents.hybrid import Hybrid
from chatapp.engines.embed_prompts import NONE, prompts_for

from .test_documents_hybrid import ConceptEngine, setup  # noqa: F401  (the fixture)


@pytest.mark.parametrize("file_name, metadata, query, document", [
    ("nomic-embed-text-v1.5.Q8_0.gguf", {}, "search_query: ", "search_document: "),
    ("model.gguf", {"general.architecture": "nomic-bert"}, "search_query: ", "search_document: "),
    ("multilingual-e5-small-q8_0.gguf", {}, "query: ", "passage: "),
    ("e5-base-v2.f16.gguf", {}, "query: ", "passage: "),
    ("bge-small-en-v1.5-f32.gguf", {}, "Represent this sentence for searching relevant passages: ", ""),
    ("mxbai-embed-large-v1-f16.gguf", {}, "Represent this sentence for searching relevant passages: ", ""),
    ("embeddinggemma-300M-Q8_0.gguf", {}, "task: search result | query: ", "title: none | text: "),
    ("Qwen3-Embedding-0.6B-Q8_0.gguf", {}, "Instruct: Given a web search query, retrieve relevant passages "
     "that answer the query\nQuery:", ""),
])
def test_known_models_get_the_prompts_their_cards_give(file_name, metadata, query, document):
    prompts = prompts_for(file_name, metadata)
    assert (prompts.query, prompts.document) == (query, document) and prompts.name


@pytest.mark.parametrize("file_name, metadata", [
    ("SmolLM2-360M-Instruct-Q8_0.gguf", {"general.architecture": "llama"}),
    ("all-MiniLM-L6-v2.Q8_0.gguf", {"general.architecture": "bert"}),
    ("bge-m3-Q8_0.gguf", {}),                       # bge-m3 takes no instruction
    ("some-model.gguf", {"general.name": "lite5-embed"}),   # "e5-" only as its own word
])
def test_other_models_get_plain_text(file_name, metadata):
    assert prompts_for(file_name, metadata) == NONE


class PromptedEngine(ConceptEngine):
    """The concept engine as a model trained with prompts: it records what it is given."""

    def __init__(self):
        super().__init__(identity="concepts-v1:nomic")
        self.prompts = prompts_for("nomic-embed-text-v1.5.gguf")
        self.seen = []

    def embed(self, texts):
        self.seen.extend(texts)
        return super().embed(texts)


def test_passages_and_questions_are_embedded_with_the_models_prompts(setup):  # noqa: F811
    storage, conv, index = setup
    engine = PromptedEngine()
    hybrid = Hybrid("nomic-embed-text-v1.5.gguf", make_engine=lambda: engine)
    assert hybrid.fill(index, lambda: False) == 4
    assert len(engine.seen) == 4 and all(t.startswith("search_document: ") for t in engine.seen)
    engine.seen.clear()
    best = hybrid.rank(index, "When is payment of the bill due?", conv.id, False, 1)
    assert engine.seen == ["search_query: When is payment of the bill due?"]
    assert index.hits([best[0][0]])[0].name == "invoice.txt"
    # The stored vector is the prompted passage's, so a question meets passages made the same way.
    chunk, blob = index._db.execute("SELECT chunk_id, vector FROM chunk_vectors LIMIT 1").fetchone()
    text = index._db.execute("SELECT text FROM chunks WHERE id=?", (chunk,)).fetchone()[0]
    assert np.allclose(np.frombuffer(blob, "<f4"), ConceptEngine().embed(["search_document: " + text])[0])


def test_the_real_engine_names_its_vectors_by_model_and_prompts(tmp_path):
    """Prompted vectors get their own identity (the index rebuilds rather than mixing them)."""
    from chatapp.engines.defaults import default_llm_path
    from chatapp.engines.llama_embed import EmbeddingEngine
    plain = EmbeddingEngine(default_llm_path())
    plain.load()
    try:
        assert plain.prompts == NONE and not plain.identity.endswith(":nomic")
    finally:
        plain.close()
    renamed = tmp_path / "nomic-embed-text-v1.5.gguf"   # the same weights under a prompted model's name
    renamed.symlink_to(default_llm_path())
    prompted = EmbeddingEngine(renamed)
    prompted.load()
    try:
        assert prompted.prompts.query == "search_query: " and prompted.identity.endswith(":nomic")
        assert prompted.identity != plain.identity
    finally:
        prompted.close()
