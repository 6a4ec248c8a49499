"""Prompt-lookup speculative decoding: draft from n-grams already in the context, verify in one batch."""
from __future__ import annotations

import time
from dataclasses import dataclass

MIN_N, MAX_N = 2, 4        # n-gram sizes looked up, longest first: a longer match is a surer draft
MAX_DRAFT = 16             # more rarely pays on a CPU: a batch's cost grows with its length
MIN_MATCH = 3              # a proposal needs the context's last 3 tokens to match where it comes from


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

    def draft(self, k: int, min_match: int = MIN_N) -> list[int]:
        """Up to k tokens, from a place whose preceding tokens match the context's last min_match or more."""
        toks = self.tokens
        size = len(toks)
        for n in range(MAX_N, MIN_N - 1, -1):
            if size > n:
                at = self._at[n].get(tuple(toks[size - n:]))
                if at is not None:
                    match = n     # how far back the match goes: a long one is text being copied
                    while match < min_match and at - 1 - match >= 0 and toks[at - 1 - match] == toks[size - 1 - match]:
                        match += 1
                    return toks[at:min(at + k, size)] if match >= min_match else []
        return []


class Costs:
    """What a decode of k+1 tokens (one plus a k-token draft) costs, in single-token decodes:
    1 + extra(k) = 1 + fixed + slope * k, fitted to the decode calls' own times.

    Machines differ tenfold here: on one CPU core with the embedded Q4_1 model (ggml has no batched
    kernel for Q4_1 on x86) a batch of 2 costs 1.9 tokens and each further token 0.66 of one; where
    weights are read once per batch (a GPU, a CPU kernel that repacks them) far less. So it is
    measured: a weighted least-squares line through (k, time / single-token time - 1), recent calls
    weighing most, two light prior points keeping the line defined before any drafts.
    """

    PRIOR = ((1, 0.9), (16, 10.9))     # (k, extra): as measured on one core of a 2-core x86 VM, Q4_1
    PRIOR_WEIGHT = 0.2                 # against ~10 for the recent calls

    def __init__(self):
        self.t1 = 0.0
        self._sums = [0.0] * 5         # recent calls: sum of w, w*k, w*k*k, w*y, w*k*y

    def timed(self, m: int, seconds: float) -> None:
        if m == 1:
            self.t1 = seconds if not self.t1 else 0.9 * self.t1 + 0.1 * seconds
        elif self.t1:
            k, y = m - 1, seconds / self.t1 - 1
            self._sums = [0.9 * v + d for v, d in zip(self._sums, (1, k, k * k, y, k * y))]

    def fresh(self) -> None:
        """At a reply's start, older figures (maybe from a busy spell) weigh less, so a drafting
        that measured badly then is tried again now."""
        self._sums = [0.5 * v for v in self._sums]

    def line(self) -> tuple[float, float]:
        w, wk, wkk, wy, wky = self._sums
        for k, y in self.PRIOR:
            p = self.PRIOR_WEIGHT
            w, wk, wkk, wy, wky = w + p, wk + p * k, wkk + p * k * k, wy + p * y, wky + p * k * y
        slope = max(0.0, min(1.5, (w * wky - wk * wy) / (w * wkk - wk * wk)))
        fixed = max(0.0, min(2.0, (wy - slope * wk) / w))
        return fixed, slope

    def extra(self, k: int) -> float:
        fixed, slope = self.line()
        return fixed + slope * k


class DraftPlanner:
    """How many tokens to draft now: the length that gives the most tokens per second of decoding.

    A draft of k tokens, each kept with chance a after the one before, yields sum(a^i, i=0..k) tokens
    for 1 + extra(k) tokens' time (Costs); not drafting yields 1 for 1. a is learnt from this reply: from
    the drafts made, and, while not drafting, from whether the lookup's proposal was what came next
    (known for free once the token is sampled), so a reply that starts quoting is noticed at once and
    one that does not quote pays nothing.
    """

    LENGTHS = (1, 2, 3, 4, 6, 8, 12, MAX_DRAFT)

    def __init__(self, costs: Costs, kept: float = 2.0, lost: float = 1.0):
        self.costs, self.kept, self.lost = costs, kept, lost    # a prior of a = 2/3, soon outweighed

    @property
    def acceptance(self) -> float:
        return self.kept / (self.kept + self.lost)

    def length(self, available: int) -> int:
        a = self.acceptance
        fixed, slope = self.costs.line()
        best_k, best = 0, 1.0
        gain, p = 1.0, 1.0
        for k in range(1, min(available, MAX_DRAFT) + 1):
            p *= a
            gain += p
            rate = gain / (1 + fixed + slope * k)
            if k in self.LENGTHS and rate > best * 1.01:
                best_k, best = k, rate
        return best_k

    def observe(self, tried: int, kept: int) -> None:
        """tried tokens were (or would have been) drafted; the first `kept` matched the model's."""
        self.kept = 0.9 * self.kept + kept
        self.lost = 0.9 * self.lost + (kept < tried)


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


def decode(llm, prompt: list[int], sampler, *, limit: int, draft: bool, stats: DraftStats, stopping_criteria=None,
           costs: Costs | None = None, clock=time.perf_counter, threads=None):
    """Yield the reply's tokens from `prompt` (prefix already in llm's cache re-used), at most `limit`.

    stopping_criteria (the chat handler's, e.g. its stop token ids) is asked after each token, with the
    tokens up to it, as Llama.generate asks it before sampling the next one. clock times the decode
    calls for Costs: with one llama.cpp thread, the calling thread's CPU time, which other programs'
    load on the machine does not stretch (wall-clock figures there were mostly noise). threads (a
    cpu.ThreadChoice) picks llama.cpp's thread count by timing single-token decodes.

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
    if threads is not None:
        threads.apply(ctx.ctx, threads.best())
    llm.eval(prompt[same:])           # logits for the last position only
    lookup = PromptLookup(prompt) if draft else None
    planner = DraftPlanner(costs or Costs())
    planner.costs.fresh()
    token = llama_cpp.llama_sampler_sample(sampler.sampler, ctx.ctx, -1)
    produced = 0
    try:
        while True:
            produced += 1
            yield token
            if produced >= limit or stop_after(token):
                return
            pending, shadow = [token], None
            if lookup is not None:
                lookup.extend(pending)
                room = min(MAX_DRAFT, limit - produced, llm.n_ctx() - llm.n_tokens - 1)
                guess = lookup.draft(room, MIN_MATCH) if room > 0 else []
                k = planner.length(len(guess)) if guess else 0
                pending += guess[:k]
                shadow = guess[0] if guess and not k else None
            n_past = llm.n_tokens
            batch.set_batch(batch=pending, n_past=n_past, logits_all=True)
            if threads is not None:
                n = threads.next() if len(pending) == 1 else threads.best()
                changed = threads.apply(ctx.ctx, n)
            t, wall = clock(), time.perf_counter()
            ctx.decode(batch)
            planner.costs.timed(len(pending), clock() - t)
            if threads is not None and len(pending) == 1 and not changed:
                threads.timed(n, time.perf_counter() - wall)
            llm.input_ids[n_past:n_past + len(pending)] = pending
            llm.n_tokens = n_past + len(pending)
            stats.batches += 1
            # Position 0's logits give the next token; it stands while it equals the draft.
            kept = 0
            token = llama_cpp.llama_sampler_sample(sampler.sampler, ctx.ctx, 0)
            if shadow is not None:
                planner.observe(1, int(token == shadow))
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
                planner.observe(drafted, kept)
                if kept < drafted:     # drop the rejected tail from the cache
                    llm.n_tokens = n_past + 1 + kept
                    ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
    finally:
        llm._requires_eval = True     # the last logits may belong to a rejected draft
