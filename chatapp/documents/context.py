"""Pick the passages for one question within a token budget, number them, and wrap the question with them."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

from .chunking import OVERLAP_CHARS
from .index import READY, DocumentIndex, Hit

CHARS_PER_TOKEN = 3.0       # a cautious estimate (English is ~4 chars/token): the GUI thread has no tokenizer
WHOLE_FILE_SHARE = 0.5      # attachments whose text fits in this share of the budget go in whole
RELATIVE_CUT = 0.4          # passages scoring under this share of the best are noise, not context
MAX_PASSAGES = 8
MIN_BUDGET = 200            # below this many tokens there is no room worth filling
RRF_K = 60                  # reciprocal rank fusion constant (Cormack et al. 2009)
VECTOR_MARGIN = 0.1         # vector hits whose cosine is this far under the best are dropped

# Sources first, the instruction and the question last: small models (SmolLM2-135M) follow what
# they read last, and with this order they answer from the passage and cite it as "[1]".
INSTRUCTION = ("Answer the question from the sources, and cite the source number in brackets like [1] "
               "after the answer.")


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


@dataclass
class Source:
    n: int
    name: str
    path: str
    location: str          # "page 21", "lines 10-34", "whole file"
    text: str
    document_id: int
    chunk_id: int | None

    def as_meta(self) -> dict:
        return asdict(self)


def rrf(*rankings: list[int], k: int = RRF_K) -> list[int]:
    """Reciprocal rank fusion of several ranked id lists: sum of 1/(k + rank)."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            score[item] = score.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(score, key=lambda i: -score[i])


# (question, conversation id, library on, limit) -> [(chunk id, cosine)], best first, or a callable that
# returns them (a ranking still running on another thread); the document worker's embedding model
# answers it (documents/hybrid.py).
VectorRank = Callable[[str, "int | None", bool, int], "list[tuple[int, float]] | Callable"]


def retrieve(index: DocumentIndex, question: str, conversation_id: int | None, *, library: bool = True,
             limit: int = MAX_PASSAGES, vector_rank: VectorRank | None = None) -> list[Hit]:
    """BM25 hits, fused with vector similarity by reciprocal rank fusion when vector_rank is given (hybrid)."""
    # Vectors first: their ranking may run on another thread (numpy) while SQLite runs BM25 here;
    # both release the GIL.
    ranked = vector_rank(question, conversation_id, library, limit) if vector_rank is not None else None
    hits = index.search(question, conversation_id, library=library, limit=limit * 3)
    if hits:
        best = hits[0].score
        hits = [h for h in hits if h.score >= best * RELATIVE_CUT]
    if callable(ranked):
        ranked = ranked()
    if not ranked:
        return hits[:limit]
    # Passages much less alike than the best one are noise, as with BM25's relative cut.
    ranked = [i for i, cos in ranked if cos >= ranked[0][1] - VECTOR_MARGIN]
    fused = rrf([h.chunk_id for h in hits], ranked)[:limit]
    by_id = {h.chunk_id: h for h in hits}
    by_id.update({h.chunk_id: h for h in index.hits([i for i in fused if i not in by_id])})
    return [by_id[i] for i in fused if i in by_id]


def select_sources(index: DocumentIndex, question: str, conversation_id: int | None, budget_tokens: int, *,
                   library: bool = True, vector_rank: VectorRank | None = None) -> list[Source]:
    """What goes into the prompt: small attachments whole, else the best passages that fit the budget."""
    if budget_tokens < MIN_BUDGET:
        return []
    attached = [d for d in index.documents(conversation_id) if d.status == READY] if conversation_id else []
    whole_tokens = sum(int(d.chars / CHARS_PER_TOKEN) + 12 for d in attached)
    sources: list[Source] = []
    used = 0
    if attached and whole_tokens <= budget_tokens * WHOLE_FILE_SHARE:
        for d in attached:
            text = "\n".join(h.text for h in _without_overlap(index.chunks_of(d.id)))
            sources.append(Source(len(sources) + 1, d.name, d.path, "whole file", text, d.id, None))
        used = whole_tokens
        conversation_id = None   # its attachments are in whole; passages come from the library only
        if not library:
            return sources
    for h in retrieve(index, question, conversation_id, library=library, vector_rank=vector_rank):
        cost = estimate_tokens(h.text) + 12
        if used + cost > budget_tokens:
            continue
        used += cost
        sources.append(Source(len(sources) + 1, h.name, h.path, h.location() or "whole file", h.text,
                              h.document_id, h.chunk_id))
    return sources


def _without_overlap(hits: list[Hit]) -> list[Hit]:
    # Chunks repeat up to OVERLAP_CHARS of their predecessor; a whole file is their union, so trim it.
    out: list[Hit] = []
    for h in hits:
        if out:
            prev = out[-1].text
            for size in range(min(len(prev), len(h.text), 4 * OVERLAP_CHARS), 0, -1):
                if prev.endswith(h.text[:size]):
                    h = Hit(h.chunk_id, h.document_id, h.name, h.path, h.text[size:].lstrip("\n"), h.page,
                            h.line_start, h.line_end, h.score)
                    break
        out.append(h)
    return out


def question_with_sources(question: str, sources: list[Source]) -> str:
    """The user turn sent to the model: instruction, numbered sources, then the question."""
    if not sources:
        return question
    blocks = [f"[{s.n}] {s.name}, {s.location}:\n{s.text.strip()}" for s in sources]
    return "Sources:\n" + "\n\n".join(blocks) + f"\n\n{INSTRUCTION}\nQuestion: {question}"
