"""Prompt-lookup drafting: the real engine's replies are the same with and without it, stops still stop."""
import pytest

from chatapp.conversation import GenParams
from chatapp.engines.defaults import default_llm_path
from chatapp.engines.llama import LlamaChatEngine
from chatapp.engines.speculative import Costs, DraftPlanner, PromptLookup

from .test_llama_stream import engine_run

DOCUMENT = (
    "In the winter of 1899 a storm cut the rock off from the mainland for six weeks. The keeper, Thomas "
    "Avery, kept the lamp burning every night by rationing the oil and trimming the wick himself every "
    "four hours. When the supply boat finally reached the rock in March, the crew found him thin but well, "
    "with the logbook filled in for every single night of the storm.")
QUOTING = [{"role": "system", "content": "You are a helpful assistant."},
           {"role": "user", "content": f"Attached document:\n\n{DOCUMENT}\n\nRepeat the document word for word."}]
ORDINARY = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Write a short poem about a café in Paris, with a few French words."}]
GREEDY = GenParams(temperature=0.0, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=120, seed=1)
SAMPLED = GenParams(temperature=0.9, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=120, seed=1234)


def test_lookup_drafts_what_followed_the_last_ngram():
    look = PromptLookup([1, 2, 3, 4, 5, 6, 9, 2, 3])
    assert look.draft(3) == [4, 5, 6]          # "2 3" was followed by 4 5 6
    assert look.draft(10) == [4, 5, 6, 9, 2, 3]   # never past the end of the context


def test_lookup_never_finds_the_suffix_itself_and_prefers_longer_matches():
    assert PromptLookup([7, 8, 9]).draft(4) == []
    # "1 2" last occurred before 5, but "0 1 2" (longer) before 4
    look = PromptLookup([0, 1, 2, 4, 3, 1, 2, 5, 0, 1, 2])
    assert look.draft(1) == [4]
    look.extend([4])
    assert look.draft(2) == [3, 1]


def test_costs_are_measured_from_decode_times():
    costs = Costs()
    for _ in range(40):
        costs.timed(1, 0.010)
        for k in (1, 4, 8):   # a batch costs 0.6 of a token more than one, plus 0.7 per drafted token
            costs.timed(k + 1, 0.010 * (1 + 0.6 + 0.7 * k))
    fixed, slope = costs.line()
    assert fixed == pytest.approx(0.6, abs=0.05) and slope == pytest.approx(0.7, abs=0.02)


def test_planner_drafts_only_where_it_pays():
    expensive, cheap = Costs(), FreeBatches()
    for _ in range(40):
        expensive.timed(1, 0.010)
        for k in (1, 4, 8):
            expensive.timed(k + 1, 0.010 * (1 + 0.6 + 0.7 * k))
    prose = DraftPlanner(expensive)
    for _ in range(10):
        prose.observe(1, 0)                      # proposals that were not what came next
    assert prose.length(16) == 0
    assert DraftPlanner(cheap, kept=6, lost=4).length(16) > 0   # 60% pays where batches are free
    quoting = DraftPlanner(expensive)
    for _ in range(5):
        quoting.observe(16, 16)
    assert quoting.length(16) >= 8                # a long quote: long drafts amortise the batch's cost
    assert quoting.length(2) <= 2                 # never more than the lookup proposed
    assert DraftPlanner(cheap, kept=quoting.kept, lost=quoting.lost).length(16) == 16


class FreeBatches(Costs):
    """A machine where a drafted batch costs nothing extra: the planner drafts wherever the lookup
    proposes, so the real-model tests below verify as many drafts as possible (this CPU drafts far less)."""

    def timed(self, m, seconds):
        pass

    def fresh(self):
        pass

    def line(self):
        return 0.0, 0.0


@pytest.fixture(scope="module")
def engine():
    # One thread: the sums are then the same whether a token is evaluated alone or in a drafted batch
    # (docs/PERFORMANCE.md); that is what makes "identical" a fair thing to demand bit for bit.
    e = LlamaChatEngine(default_llm_path(), n_ctx=1024, n_threads=1)
    e.load()
    e._draft_costs = FreeBatches()
    return e


def run(engine, messages, params, draft, should_stop=lambda stats: False):
    engine.prompt_lookup = draft
    return engine_run(engine, params, messages, should_stop)


@pytest.mark.real
@pytest.mark.parametrize("messages", [QUOTING, ORDINARY], ids=["quoting", "ordinary"])
def test_greedy_reply_is_identical_token_for_token(engine, messages):
    plain_tokens, plain_text, _ = run(engine, messages, GREEDY, draft=False)
    tokens, text, stats = run(engine, messages, GREEDY, draft=True)
    assert len(plain_tokens) > 20
    assert tokens == plain_tokens and text == plain_text
    if messages is QUOTING:   # drafting really ran: most tokens came from verified drafts
        ds = engine.draft_stats
        assert ds.accepted > stats.completion_tokens // 2 and ds.batches < stats.completion_tokens // 2


@pytest.mark.real
def test_sampled_reply_with_a_seed_is_the_same_completion(engine):
    """Drafted tokens are kept only where the sampler draws them: same RNG calls, same reply."""
    plain_tokens, plain_text, _ = run(engine, QUOTING, SAMPLED, draft=False)
    tokens, text, _ = run(engine, QUOTING, SAMPLED, draft=True)
    assert engine.draft_stats.drafted > 0
    assert tokens == plain_tokens and text == plain_text
    other, _, _ = run(engine, QUOTING, GenParams(**{**SAMPLED.__dict__, "seed": 99}), draft=True)
    assert other != tokens   # the seed reaches the sampler


@pytest.mark.real
def test_stop_in_the_middle_of_a_draft_stops_at_that_token(engine):
    _, full, _ = run(engine, QUOTING, GREEDY, draft=True)

    def inside_a_draft(s):   # the model has already verified tokens past this one
        return s.completion_tokens >= 20 and engine.llm.n_tokens > s.prompt_tokens + s.completion_tokens
    tokens, text, stats = run(engine, QUOTING, GREEDY, draft=True, should_stop=inside_a_draft)
    assert stats.stopped and len(tokens) == stats.completion_tokens < 100
    assert engine.llm.n_tokens > stats.prompt_tokens + stats.completion_tokens
    assert full.startswith(text) and 0 < len(text) < len(full)
    # Stopped means stopped: the next reply starts fresh and is whole.
    _, again, _ = run(engine, QUOTING, GREEDY, draft=True)
    assert again == full


@pytest.mark.real
def test_stop_string_inside_an_accepted_draft_is_honoured(engine):
    inside = set()

    def note(s):   # which tokens came while the model had verified past them (inside a draft)
        if engine.llm.n_tokens > s.prompt_tokens + s.completion_tokens:
            inside.add(s.completion_tokens - 1)
        return False
    tokens, full, _ = run(engine, QUOTING, GREEDY, draft=True, should_stop=note)
    words = [engine.llm.detokenize([tokens[i]]).decode() for i in sorted(inside) if i >= 10]
    stop = next(w for w in words if w.strip().isalpha() and len(w.strip()) >= 4 and full.count(w) == 1)
    real = engine._completion_args

    def with_stop(messages, params):
        args = real(messages, params)
        args["stop"] = [*args["stop"], stop]
        return args
    engine._completion_args = with_stop
    try:
        _, text, stats = run(engine, QUOTING, GREEDY, draft=True)
    finally:
        del engine._completion_args
    assert text == full[:full.index(stop)] and len(text) > 20
    assert engine.llm.n_tokens > stats.prompt_tokens + stats.completion_tokens   # verified past the stop
