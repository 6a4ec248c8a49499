"""Prompt-lookup speculative decoding: draft from n-grams already in the context, verify in one batch."""
from __future__ import annotations

from dataclasses import dataclass

MIN_N, MAX_N = 2, 4        # n-gram sizes looked up, longest first: a longer match is a surer draft
MAX_DRAFT = 16             # more rarely pays on a CPU: a batch's cost grows with its length


class PromptLookup:
    """The context's tokens, indexed by n-gram: draft() proposes what followed the latest earlier
    occurrence of the last n tokens (quoted code, a passage of an attached document, a list repeated).

    O(1) per token: each n-gram is indexed once, when the token after it arrives, so the suffix
    being looked up never finds itself.
    """

    def __init__(self, tokens=()):
        self.tokens: list[int] = []
        self._at: dict[int, dict[tuple, int]] = {n: {} for n in range(MIN_N, MAX_N + 1)}
        self.extend(tokens)

    def extend(self, tokens) -> None:
        toks, maps = self.tokens, self._at
        for t in tokens:
            toks.append(t)
            end = len(toks) - 1          # the n-grams ending here now have a continuation: toks[end]
            for n, index in maps.items():
                if end >= n:
                    index[tuple(toks[end - n:end])] = end

    def draft(self, k: int) -> list[int]:
        toks = self.tokens
        size = len(toks)
        for n in range(MAX_N, MIN_N - 1, -1):
            if size > n:
                at = self._at[n].get(tuple(toks[size - n:]))
                if at is not None:
                    return toks[at:min(at + k, size)]
        return []


class DraftLength:
    """How many tokens to draft, from how the last drafts fared.

    A draft that was taken whole doubles the next one (a quote goes on); a rejected one shrinks to
    what was accepted plus one. Drafts in a reply that does not quote are mostly rejected at once,
    so they shrink to one token, whose verification costs a batch of two instead of one; after
    several misses in a row drafting pauses for a while, so such replies run as fast as without it.
    """

    def __init__(self, start: int = 4, longest: int = MAX_DRAFT, patience: int = 3, pause: int = 16):
        self.k, self.longest, self.patience, self.pause = start, longest, patience, pause
        self._misses = 0
        self._paused = 0

    def next(self) -> int:
        """Draft length for this step (0: do not draft)."""
        if self._paused:
            self._paused -= 1
            return 0
        return self.k

    def update(self, drafted: int, accepted: int) -> None:
        if accepted == drafted:
            self.k = min(self.longest, self.k * 2)
        else:
            self.k = max(1, accepted + 1)
        self._misses = self._misses + 1 if accepted == 0 else 0
        if self._misses >= self.patience:
            self._misses, self._paused = 0, self.pause


@dataclass
class DraftStats:
    drafted: int = 0        # tokens proposed
    accepted: int = 0       # of them, the ones the model produced itself
    batches: int = 0        # decode calls after the prompt (one per produced token without drafting)
    prompt_evaluated: int = 0   # prompt tokens evaluated (the rest came from the cache); llama.cpp's own
                                # counter would count drafted batches as prompt too

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


def decode(llm, prompt: list[int], sampler, *, limit: int, draft: bool, stats: DraftStats, stopping_criteria=None):
    """Yield the reply's tokens from `prompt` (prefix already in llm's cache re-used), at most `limit`.

    stopping_criteria (the chat handler's, e.g. its stop token ids) is asked after each token, with the
    tokens up to it, as Llama.generate asks it before sampling the next one.

    Each step evaluates the last token plus a draft in one batch with logits at every position and
    samples each position with the normal sampler, keeping drafted tokens while they equal the
    sample. With a draft that does not depend on the model's probabilities this is the standard
    speculative sampling rule: a drafted token is kept with exactly its probability p(x), and the
    first differing sample is a draw from p without x. So greedy output is identical, sampled output
    has the same distribution, and the sampler (penalties, RNG) sees the same sequence of calls.
    """
    import llama_cpp
    import numpy as np
    ctx, batch = llm._ctx, llm._batch
    no_logits = np.zeros(0, dtype=np.single)

    def stop_after(token: int) -> bool:
        if stopping_criteria is None:
            return False
        at = len(prompt) + produced - 1
        llm.input_ids[at] = token      # already there for a drafted token; the next slot otherwise
        return stopping_criteria(llm.input_ids[:at + 1], no_logits)

    # Prefix re-use as Llama.generate does it; at least one token is evaluated, for fresh logits.
    same = 0
    for a, b in zip(llm._input_ids[:llm.n_tokens], prompt):
        if a != b:
            break
        same += 1
    same = min(same, len(prompt) - 1)
    if same <= 0 or not ctx.kv_cache_seq_rm(-1, same, -1):
        llm.reset()
        same = 0
    llm.n_tokens = same
    stats.prompt_evaluated = len(prompt) - same
    llm.eval(prompt[same:])           # logits for the last position only
    lookup = PromptLookup(prompt) if draft else None
    length = DraftLength()
    token = llama_cpp.llama_sampler_sample(sampler.sampler, ctx.ctx, -1)
    produced = 0
    try:
        while True:
            produced += 1
            yield token
            if produced >= limit or stop_after(token):
                return
            pending = [token]
            if lookup is not None:
                lookup.extend(pending)
                k = min(length.next(), limit - produced, llm._n_ctx - llm.n_tokens - 1)
                guess = lookup.draft(k) if k > 0 else []
                pending += guess
            n_past = llm.n_tokens
            batch.set_batch(batch=pending, n_past=n_past, logits_all=True)
            ctx.decode(batch)
            llm.input_ids[n_past:n_past + len(pending)] = pending
            llm.n_tokens = n_past + len(pending)
            stats.batches += 1
            # Position 0's logits give the next token; it stands while it equals the draft.
            kept = 0
            token = llama_cpp.llama_sampler_sample(sampler.sampler, ctx.ctx, 0)
            while kept < len(pending) - 1 and token == pending[kept + 1]:
                kept += 1
                produced += 1
                lookup.extend((token,))
                yield token
                if produced >= limit or stop_after(token):
                    return
                token = llama_cpp.llama_sampler_sample(sampler.sampler, ctx.ctx, kept)
            if len(pending) > 1:
                drafted = len(pending) - 1
                stats.drafted += drafted
                stats.accepted += kept
                length.update(drafted, kept)
                if kept < drafted:     # drop the rejected tail from the cache
                    llm.n_tokens = n_past + 1 + kept
                    ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
    finally:
        llm._requires_eval = True     # the last logits may belong to a rejected draft
