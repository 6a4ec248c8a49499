"""Surgery on the sampler chain Llama._init_sampler builds: a logit bias ahead of it, a grammar after its penalties or checking its pick."""
from __future__ import annotations

import itertools


def bias_first(sampler, n_vocab: int, bias: dict[int, float]):
    """OpenAI's logit_bias ahead of the chain Llama._init_sampler built: appended after its final pick
    (greedy or dist) a bias would change nothing."""
    import llama_cpp
    from llama_cpp._internals import LlamaSampler
    chain = LlamaSampler()
    chain.add_logit_bias(n_vocab, bias)
    while llama_cpp.llama_sampler_chain_n(sampler.sampler):   # moved, not copied: each is freed once
        llama_cpp.llama_sampler_chain_add(chain.sampler, llama_cpp.llama_sampler_chain_remove(sampler.sampler, 0))
    return chain


def insert_after_penalties(sampler, smpl) -> None:
    """smpl (a raw sampler pointer, then owned by the chain) into the chain right after its penalties,
    where Llama._init_sampler puts a grammar. In place: a decoding loop holding the chain samples
    with it from its next token on, and every sampler keeps its state (the RNG, recent tokens)."""
    import llama_cpp
    chain = sampler.sampler
    n = llama_cpp.llama_sampler_chain_n(chain)
    at = next((i + 1 for i in range(n)
               if llama_cpp.llama_sampler_name(llama_cpp.llama_sampler_chain_get(chain, i)) == b"penalties"), 0)
    rest = [llama_cpp.llama_sampler_chain_remove(chain, at) for _ in range(n - at)]
    llama_cpp.llama_sampler_chain_add(chain, smpl)
    for s in rest:
        llama_cpp.llama_sampler_chain_add(chain, s)


class GrammarLastStats:
    """How a grammar-last sampler's tokens went: drawn freely and fitting the grammar, or drawn again within it."""

    def __init__(self):
        self.fitted = 0
        self.redrawn = 0


class _State:
    def __init__(self, inner, grammar, llama_cpp):
        self.inner, self.grammar, self.stats = inner, grammar, GrammarLastStats()
        self.saved, self.one = None, (llama_cpp.llama_token_data * 1)()


_STATES: dict[int, _State] = {}   # a grammar-last sampler's ctx -> its state
_NAME = b"grammar-last"           # kept alive: llama.cpp reads the name through the pointer the callback returns
_IFACE: tuple | None = None
_NEXT = itertools.count(1)   # next() on a count is atomic: engines on two threads never share an id


def _iface():
    """The one interface of every grammar-last sampler (its callbacks live as long as the process, so a chain
    freed after the Python objects that made it never calls into freed code); per-sampler state in _STATES."""
    global _IFACE
    if _IFACE is not None:
        return _IFACE
    import ctypes

    import llama_cpp
    size = ctypes.sizeof(llama_cpp.llama_token_data)
    states = _STATES   # held by the closures: at interpreter exit a chain may be freed after module globals

    def name(smpl):
        return _NAME

    def accept(smpl, token):
        state = states[smpl.contents.ctx]
        llama_cpp.llama_sampler_accept(state.inner, token)
        llama_cpp.llama_sampler_accept(state.grammar, token)

    def apply(smpl, cur_p):
        state = states[smpl.contents.ctx]
        arr = cur_p.contents
        n, was_sorted = arr.size, arr.sorted
        if state.saved is None or len(state.saved) < n:
            state.saved = (llama_cpp.llama_token_data * n)()
        ctypes.memmove(state.saved, arr.data, n * size)
        llama_cpp.llama_sampler_apply(state.inner, cur_p)
        # The pick, alone, through the grammar: most tokens of a call are ones the grammar allows anyway.
        one = state.one
        one[0].id, one[0].logit, one[0].p = arr.data[arr.selected].id, 1.0, 0.0
        single = llama_cpp.llama_token_data_array(one, 1, -1, False)
        llama_cpp.llama_sampler_apply(state.grammar, ctypes.byref(single))
        if one[0].logit != float("-inf"):
            state.stats.fitted += 1
            return
        # Refused: the whole vocabulary through the grammar first, then the chain again, as llama.cpp's
        # common sampler does (the chain's RNG draws twice for this token; penalties see the same history).
        state.stats.redrawn += 1
        ctypes.memmove(arr.data, state.saved, n * size)
        arr.size, arr.sorted, arr.selected = n, was_sorted, -1
        llama_cpp.llama_sampler_apply(state.grammar, cur_p)
        llama_cpp.llama_sampler_apply(state.inner, cur_p)

    def free(smpl):
        state = states.pop(smpl.contents.ctx)
        llama_cpp.llama_sampler_free(state.inner)
        llama_cpp.llama_sampler_free(state.grammar)

    thunks = (llama_cpp.llama_sampler_i_name(name), llama_cpp.llama_sampler_i_accept(accept),
              llama_cpp.llama_sampler_i_apply(apply), llama_cpp.llama_sampler_i_free(free))
    iface = llama_cpp.llama_sampler_i()
    iface.name, iface.accept, iface.apply, iface.free = thunks
    _IFACE = (iface, *thunks)
    for obj in _IFACE:   # immortal: a chain freed late (a reply cut off at exit) must not call freed thunks
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    return _IFACE


def grammar_last(sampler, grammar) -> GrammarLastStats:
    """The chain (in place) draws its token first without the grammar (a raw pointer, then owned here) and
    checks only that token against it; only a token the grammar refuses sends the whole vocabulary through
    the grammar and the chain draws again (llama.cpp's common_sampler_sample). As with a grammar in the
    chain, every token fits it and a greedy pick is the same token; the grammar's pass over the whole
    vocabulary, a small model's main cost per token while it writes a call, happens only on a refusal."""
    import ctypes

    import llama_cpp
    iface = _iface()[0]
    chain = sampler.sampler
    inner = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    while llama_cpp.llama_sampler_chain_n(chain):   # moved, not copied: each is freed once
        llama_cpp.llama_sampler_chain_add(inner, llama_cpp.llama_sampler_chain_remove(chain, 0))
    ctx = next(_NEXT)
    state = _STATES[ctx] = _State(inner, grammar, llama_cpp)
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init(ctypes.byref(iface), ctx))
    return state.stats
