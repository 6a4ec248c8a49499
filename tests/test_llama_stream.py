"""The engine's own decoding loop gives the same tokens and text as raw create_chat_completion streaming."""
from contextlib import contextmanager

import pytest

from chatapp.conversation import GenParams
from chatapp.engines.base import ChatStats
from chatapp.engines.defaults import default_llm_path
from chatapp.engines.events import Reply
from chatapp.engines.llama import LlamaChatEngine, _TextAssembler

MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Write a short poem about a café in Paris, with a few French words."}]
CASES = {
    "greedy": GenParams(temperature=0.0, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=120, seed=1),
    "sampled": GenParams(temperature=0.9, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=120,
                         seed=1234),
}


@pytest.fixture(scope="module")
def engine():
    e = LlamaChatEngine(default_llm_path(), n_ctx=1024)
    e.load()
    return e


def recorded(llm):
    """Wrap llm.generate (used by both paths) to record every token it yields."""
    real, seen = llm.generate, []

    def generate(*args, **kwargs):
        for token in real(*args, **kwargs):
            seen.append(token)
            yield token
    llm.generate = generate
    return seen, lambda: llm.__dict__.pop("generate", None)


def raw_run(llm, params):
    llm.reset()   # both paths start from an empty cache, so prompt evaluation is the same
    seen, undo = recorded(llm)
    text = ""
    try:
        for chunk in llm.create_chat_completion(
                MESSAGES, stream=True, max_tokens=params.max_tokens, temperature=params.temperature,
                top_p=params.top_p, top_k=params.top_k, min_p=params.min_p, repeat_penalty=params.repeat_penalty,
                seed=params.seed):
            text += chunk["choices"][0]["delta"].get("content") or ""
    finally:
        undo()
    return list(seen), text


@contextmanager
def engine_tokens(engine):
    """The tokens the engine's own loop (speculative.decode) turns into text, recorded while the block runs."""
    engine.llm.reset()
    seen, real = [], engine._piece

    def piece(token):
        seen.append(token)
        return real(token)
    engine._piece = piece
    try:
        yield seen
    finally:
        del engine._piece


def engine_run(engine, params, messages=MESSAGES, should_stop=lambda stats: False):
    """Returns (tokens, text, stats) of one reply; should_stop(stats) is asked between tokens."""
    stats = ChatStats()
    with engine_tokens(engine) as seen:
        text = Reply.of(engine.stream(messages, params, lambda: should_stop(stats), stats)).text
    return seen, text, stats


@pytest.mark.real
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_tokens_and_text_as_raw_library(engine, case):
    params = CASES[case]
    raw_tokens, raw_text = raw_run(engine.llm, params)
    app_tokens, app_text, stats = engine_run(engine, params)
    assert len(raw_tokens) > 20
    assert app_tokens == raw_tokens
    assert app_text == raw_text
    assert stats.prompt_tokens > 20 and stats.evaluated_prompt_tokens == stats.prompt_tokens


@pytest.mark.real
def test_sampled_runs_differ_by_seed(engine):
    """The seed reaches the sampler (otherwise the sampled case above would prove little)."""
    a, _, _ = engine_run(engine, CASES["sampled"])
    b, _, _ = engine_run(engine, GenParams(**{**CASES["sampled"].__dict__, "seed": 99}))
    assert a != b


def test_multibyte_characters_are_held_until_complete():
    t = _TextAssembler([])
    assert t.feed(b"Caf") == "Caf"
    assert t.feed(b"\xc3") == ""          # half of "é"
    assert t.feed(b"\xa9 ok") == "é ok"
    assert t.feed("日".encode()[:2]) == ""
    assert t.feed("日".encode()[2:]) == "日"
    assert t.flush() == ""


def test_stop_string_is_cut_and_its_start_held_back():
    t = _TextAssembler(["<|im_end|>"])
    assert t.feed(b"Hello <|im") == "Hello "
    assert not t.stopped
    assert t.feed(b"_end|> trailing") == ""
    assert t.stopped


def test_held_text_is_released_when_it_is_not_a_stop():
    t = _TextAssembler(["<|im_end|>"])
    assert t.feed(b"a <") == "a "
    assert t.feed(b"b>") == "<b>"
    assert t.feed(b"<|") == ""
    assert t.flush() == "<|"
