"""Surgery on the sampler chain Llama._init_sampler builds: a logit bias ahead of it, a grammar after its penalties."""
from __future__ import annotations


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
