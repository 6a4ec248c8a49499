"""The words some embedding models expect before a search query and before a passage, told from the model's name."""
from __future__ import annotations

import re
from dataclasses import dataclass

# "Represent this sentence..." is BGE's retrieval instruction; mxbai-embed-large was trained with it too.
_BGE_QUERY = "Represent this sentence for searching relevant passages: "
_QWEN_QUERY = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"


@dataclass(frozen=True)
class EmbedPrompts:
    """Prefixes for a model trained with them; a model without them gets none (name "")."""
    name: str = ""
    query: str = ""
    document: str = ""


NONE = EmbedPrompts()

# (pattern over "<file name> <general.name> <architecture>", lower case; prompts). First match wins.
# Each is the usage its model card gives; vectors made without them rank noticeably worse.
KNOWN: tuple[tuple[str, EmbedPrompts], ...] = (
    (r"nomic-embed|nomic-bert", EmbedPrompts("nomic", "search_query: ", "search_document: ")),
    (r"e5-mistral|e5-.*instruct", EmbedPrompts("e5-instruct", "Instruct: Given a web search query, retrieve "
                                               "relevant passages that answer the query\nQuery: ")),
    (r"(^|[^a-z])e5-", EmbedPrompts("e5", "query: ", "passage: ")),
    (r"bge-(small|base|large)-(en|zh)", EmbedPrompts("bge", _BGE_QUERY)),
    (r"mxbai-embed-large", EmbedPrompts("mxbai", _BGE_QUERY)),
    (r"qwen3-embedding", EmbedPrompts("qwen3-embedding", _QWEN_QUERY)),
    (r"embeddinggemma|embedding-gemma", EmbedPrompts("embeddinggemma", "task: search result | query: ",
                                                     "title: none | text: ")),
)


def prompts_for(file_name: str, metadata: dict | None = None) -> EmbedPrompts:
    """The prompts a model expects, from its file name and GGUF header (general.name, architecture)."""
    metadata = metadata or {}
    words = " ".join([file_name, str(metadata.get("general.name", "")),
                      str(metadata.get("general.architecture", ""))]).lower().replace("_", "-")
    for pattern, prompts in KNOWN:
        if re.search(pattern, words):
            return prompts
    return NONE
