"""One local reply's tool side for LlamaChatEngine: which tools the template shows, the grammar in the sampler chain, calls out of the text."""
from __future__ import annotations

from ..conversation import GenParams
from .base import EngineError
from .events import ChatEvent, Reply
from .tool_calls.formats import TemplateTools
from .tool_calls.parser import call_parser
from .sampler_chain import grammar_last, insert_after_penalties
from .tool_calls.grammar import calls_gbnf, chosen_tools, grammar_sampler


def offered_tools(template: TemplateTools, params: GenParams, model: str) -> list[dict]:
    """The tools to render into the prompt ([] for none, or tool_choice "none"); EngineError for a model
    whose template cannot take them or whose calls this engine cannot read (refused, never ignored)."""
    if not params.tools or params.tool_choice == "none":
        return []
    if not template.can_call:
        why = ("its chat template has no place for them" if not template.takes_tools
               else "its chat template writes tool calls in a form chatapp cannot read yet")
        raise EngineError(f"{model} cannot call tools: {why}. Choose a model whose template takes tools "
                          f"(Qwen 2.5, 3 or 3.5, Hermes, Llama 3.x, Mistral, Gemma 4 and the like), or turn "
                          f"tools off for this chat.")
    chosen_tools(params.tools, params.tool_choice)   # a named choice must name an offered tool
    return list(params.tools)


def special_pieces(llm, markers) -> dict[int, bytes]:
    """{token: text} for each marker that is one special token in llm's vocabulary whose plain
    detokenizing hides it (a control token gives b"", as llama.py's pieces are made). Never an end-of-generation
    token: shown as text, it would no longer end the reply (Phi-3's <|end|> is one; gpt-oss's is not)."""
    import llama_cpp
    out = {}
    for marker in markers:
        tokens = llm.tokenize(marker.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) == 1 and llm._model.detokenize(tokens) != marker.encode("utf-8") \
                and not llama_cpp.llama_vocab_is_eog(llm._model.vocab, tokens[0]):
            out[tokens[0]] = marker.encode("utf-8")
    return out


class ReplyTools:
    """Tools offered to one reply. "required" or a named function: a call from the first token (the
    grammar is in the sampler chain at once). "auto": the model writes freely until its own opening
    marker, then the grammar goes into the chain for the rest.

    Why not llama.cpp's lazy grammar sampler: where the marker is several tokens it searches the whole
    reply with a regex at every token (quadratic), and on a match replays the token's text past the
    marker into the grammar, which throws a C++ exception through ctypes (an abort) when that text
    cannot start a call. Here the marker is looked for in the last few bytes, and a grammar is made
    only for a continuation that can be a call.
    """

    # The grammar checks the chain's pick and only on a refusal the whole vocabulary (sampler_chain.grammar_last);
    # False: the grammar in the chain after the penalties, every candidate every token (bench/tools.py compares).
    grammar_last = True

    def __init__(self, template: TemplateTools, params: GenParams, close_thinking: str | None = None):
        self.fmt = template.format
        self.close_thinking = close_thinking   # the prompt opened the thinking: a forced call closes it first
        self.lazy = params.tool_choice == "auto"
        self.tools = chosen_tools(params.tools, params.tool_choice)
        self.parallel = params.parallel_tool_calls and not isinstance(params.tool_choice, dict)   # named: one call
        self.parser = call_parser(self.fmt, self.tools, template.short_ids)
        self._reply = Reply()
        self._chain, self._llm, self._seen_bytes, self._marker = None, None, b"", self.fmt.open.encode("utf-8")
        self._specials: dict[int, bytes] = {}
        self.grammar_stats = None   # sampler_chain.GrammarLastStats once the grammar is in, with grammar_last

    def sampler(self, llm, sampler):
        """sampler (the reply's whole chain) with the calls' grammar after its penalties, now or at the marker.
        The grammar is built here in both cases, so a schema llama.cpp cannot take fails before the reply."""
        self._specials = special_pieces(llm, self.fmt.specials)
        ptr = grammar_sampler(llm, calls_gbnf(self.fmt, self.tools, self.parallel,
                                              close_thinking=None if self.lazy else self.close_thinking))
        if self.lazy:
            import llama_cpp
            llama_cpp.llama_sampler_free(ptr)
            self._chain, self._llm = sampler, llm
        else:
            self._add_grammar(sampler, ptr)
        return sampler

    def _add_grammar(self, sampler, ptr) -> None:
        if self.grammar_last:
            self.grammar_stats = grammar_last(sampler, ptr)
        else:
            insert_after_penalties(sampler, ptr)

    def watch(self, token: int, piece: bytes, thinking: bool = False) -> bytes:
        """Each token and its bytes, before the next token is sampled: at the opening marker the grammar
        starts (not while the model thinks: a marker there is no call). Returns the token's text for the reply:
        a family marker that is a special token (Mistral's [TOOL_CALLS], Gemma's <|tool_call>) shows as its
        text, so one parser reads it as token or as text."""
        piece = self._specials.get(token, piece)
        if not thinking:
            self._watch(piece)
        return piece

    def _watch(self, piece: bytes) -> None:
        if self._chain is None:
            return
        seen = self._seen_bytes + piece
        if self.fmt.start_only:    # the call is the reply: its first character decides
            after = seen.lstrip()
            if not after:
                self._seen_bytes = seen[-64:]
                return
            if not after.startswith(self.fmt.head[:1].encode("utf-8")):
                self._chain = None   # prose: this reply calls nothing
                return
        else:
            at = seen.find(self._marker)
            if at < 0:
                self._seen_bytes = seen[-(len(self._marker) + 16):]
                return
            after = seen[at + len(self._marker):]
        chain, self._chain = self._chain, None
        gbnf = calls_gbnf(self.fmt, self.tools, self.parallel, after=after.decode("utf-8", "replace"))
        if gbnf is not None:
            self._add_grammar(chain, grammar_sampler(self._llm, gbnf))

    def feed(self, text: str) -> list[ChatEvent]:
        return self._seen(self.parser.feed(text))
    def finish(self) -> list[ChatEvent]:
        return self._seen(self.parser.finish())

    def finish_reason(self, finish: str) -> str:
        return "tool_calls" if self.parser.calls and finish == "stop" else finish

    @property
    def calls(self) -> list[dict]:
        """The whole calls so far, as an assistant message's tool_calls (for warming the next turn)."""
        return [call.openai() for call in self._reply.tool_calls]

    def _seen(self, events: list[ChatEvent]) -> list[ChatEvent]:
        for event in events:
            self._reply.add(event)
        return events
