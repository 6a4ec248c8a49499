"""GGUF chat through llama-cpp-python: load, warm up, stream with prefix re-use, stop between tokens."""
from __future__ import annotations

import dataclasses
import json
import random
import time
from pathlib import Path
from typing import Callable, Iterator

from ..conversation import GenParams, reply_reserve
from .base import ChatCapabilities, ChatStats, ContextOverflow, EngineError, ModelInfo
from .context import fit_messages
from .events import ChatEvent, Usage
from .cpu import ThreadChoice, chat_thread_options
from .gguf_file import check_gguf_file, refuse_what_cannot_chat
from .handler_capture import HandlerCapture
from .llama_tools import ReplyTools, offered_tools, special_pieces
from .reasoning import SPECIALS as THINKING_SPECIALS, ThinkingSplitter, answer_through, opened_thinking
from .llama_vision import Vision, check_messages, check_projector
from .sampler_chain import bias_first
from .speculative import Costs, DraftStats, decode
from .system_role import folded_system, takes_system
from .text_assembler import TextAssembler as _TextAssembler, shared_prefix as _shared_prefix
from .tool_calls.formats import TemplateTools, history_for_template, probe


class LlamaChatEngine:
    """Owns one llama_cpp.Llama; used by exactly one thread (the LLM worker) for its whole life."""

    capabilities = ChatCapabilities(warms_next_turn=True, counts_prompt=True, grammars=True)

    def __init__(self, model_path: str | Path, *, n_ctx: int = 2048, n_threads: int = 0,
                 n_gpu_layers: int = 0, seed: int = 0, prompt_lookup: bool = True, projector: str | Path | None = None):
        self.model_path = Path(model_path)
        self.projector = Path(projector) if projector else None   # a vision projector (mmproj): sees pictures
        self._vision: Vision | None = None
        # Prompt-lookup drafting (speculative.py): never changes the reply, only how fast it comes.
        self.prompt_lookup = prompt_lookup
        self.draft_stats = DraftStats()
        self._draft_costs = Costs()    # what a drafted batch costs on this machine, measured as replies run
        self.n_ctx, self.n_threads, self.n_gpu_layers, self.seed = n_ctx, n_threads, n_gpu_layers, seed
        self.llm = None
        self._pieces: dict[int, bytes | None] = {}
        self._template = TemplateTools()   # what the chat template does with tools (probed at load)
        self._folds_system = False         # the template refuses or drops a system message (probed at load)
        self._last_calls: list[dict] = []

    def load(self) -> ModelInfo:
        check_gguf_file(self.model_path)
        refuse_what_cannot_chat(self.model_path)
        projector = check_projector(self.model_path, self.projector) if self.projector else None
        import llama_cpp  # heavy: imported here, on the worker thread
        self._pieces = {}
        # Prompt batches default to one thread per core; when torch (the image worker) or
        # anything else is busy on those cores, ggml's spinning thread barrier slows prompt
        # processing ~100x (measured: 7.8 s instead of 0.08 s for 30 tokens on 2 cores).
        # So batches use the same thread count as generation, which leaves a core free.
        # Starts with half the cores; replies then use whichever of the options decodes faster now
        # (cpu.ThreadChoice: all cores help on a quiet machine and hurt while a picture renders).
        self._threads = ThreadChoice(chat_thread_options(self.n_threads))
        threads = self._threads.current = self._threads.options[0]
        try:
            # Flash attention: on the CPU it computes a drafted batch's attention with the same sums as
            # one token at a time (without it, logits differed by up to 0.7 from the 11th token on), so
            # drafting keeps greedy replies identical; measured no slower (docs/PERFORMANCE.md).
            self.llm = llama_cpp.Llama(
                model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=threads, n_threads_batch=threads,
                n_gpu_layers=self.n_gpu_layers, seed=self.seed, flash_attn=True, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineError(f"llama.cpp could not load {self.model_path.name}: the file may be truncated "
                              f"or of an unsupported architecture ({exc}).") from exc
        # Magistral's [THINK] and [/THINK], gpt-oss's <|channel|> and the like are control tokens, which plain
        # detokenizing hides: shown as their text, so the thinking can be told from the answer.
        self._pieces.update(special_pieces(self.llm, THINKING_SPECIALS))
        if projector is not None:
            self._load_vision(projector)
        self._warm_up()
        # Tools only where the template shows them to the model and its calls can be read back.
        self._template = probe(self._render)
        self._folds_system = not takes_system(self._render)   # Gemma 2: "System role not supported"
        self.capabilities = dataclasses.replace(LlamaChatEngine.capabilities, tools=self._template.can_call)
        if self._vision:   # the handler evaluates every prompt (pictures again each turn): nothing to warm or count ahead
            self.capabilities = dataclasses.replace(self.capabilities, vision=True, image_side=self._vision.image_side,
                                                    counts_prompt=False, warms_next_turn=False)
        meta = self.llm.metadata
        name = self.model_path.stem  # what the user chose; general.name is often a build label
        return ModelInfo(name=name, path=str(self.model_path), n_ctx=self.llm.n_ctx(),
                         details={"architecture": meta.get("general.architecture", ""),
                                  "n_vocab": self.llm.n_vocab()},
                         cpu_threads=threads if self.n_gpu_layers == 0 else 0)

    def _load_vision(self, header) -> None:
        try:
            self._vision = Vision(self.projector, self.llm, header, use_gpu=self.n_gpu_layers != 0)
        except EngineError:
            self.llm.close()
            self.llm = None
            raise

    def _warm_up(self) -> None:
        # The first completion after load pays a one-time cost (~4 s here); pay it now, off screen.
        try:
            for _ in self.llm.create_chat_completion([{"role": "user", "content": "hi"}], max_tokens=1, stream=True):
                pass
        except Exception as exc:  # a broken chat template shows up here first
            raise EngineError(self._template_message(exc)) from exc

    @staticmethod
    def _template_message(exc: Exception) -> str:
        from jinja2.exceptions import SecurityError, TemplateError
        if isinstance(exc, SecurityError):
            return ("This model's chat template tried to do something unsafe and was blocked. "
                    "Use another GGUF file.")
        if isinstance(exc, TemplateError):
            return f"This model's chat template is broken ({exc}). Use another GGUF file."
        return f"The model failed to start a reply: {exc}"

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=False))

    def _perf(self) -> tuple[int, int]:
        import llama_cpp
        data = llama_cpp.llama_perf_context(self.llm._ctx.ctx)
        return data.n_p_eval, data.n_eval

    def stream(self, messages: list[dict], params: GenParams, should_stop: Callable[[], bool],
               stats: ChatStats | None = None) -> Iterator[ChatEvent]:
        """Stream a reply token by token: the same tokens create_chat_completion would produce, without
        re-decoding the whole reply at every token (its per-token cost grows with the reply; this stays flat)."""
        if self.llm is None:
            raise EngineError("No language model is loaded.")
        stats = stats if stats is not None else ChatStats()
        messages = check_messages(messages, self._vision is not None)   # pictures: data URLs, a projector
        if self._vision:
            self._vision.check(messages)
        tools = offered_tools(self._template, params, self.model_path.stem)
        if tools and params.grammar:
            raise EngineError("A reply cannot follow a grammar and call tools at once: offer no tools, or no grammar.")
        n_ctx = self.llm.n_ctx()
        reserve = reply_reserve(params.max_tokens, n_ctx)
        if tools:   # the tools' definitions take room in the prompt (the template's system block) too
            reserve += self.count_tokens(json.dumps(tools))
        if params.fit_context:
            fitted, stats.dropped_messages = fit_messages(messages, self.count_tokens, n_ctx, reserve,
                                                          self._vision and self._vision.image_tokens)
        else:   # an API's caller trims (or is told): ContextOverflow below if it does not fit
            fitted = messages
        self._last_turn, self._last_calls = (fitted, params), []
        stats.n_ctx = n_ctx
        p_eval0, _ = self._perf()
        start = time.perf_counter()
        args = self._completion_args(fitted, params)
        if args is None:  # a handler that does not go through create_completion: let the library stream
            finish = yield from self._stream_library(fitted, params, should_stop, stats, start, p_eval0)
            yield Usage(stats, finish)
            return
        prompt = list(args["prompt"])
        stats.prompt_tokens = self._vision.prompt_cells(fitted, len(prompt)) if self._vision else len(prompt)
        if len(prompt) >= n_ctx:
            raise ContextOverflow(f"The conversation does not fit the model's context (Requested tokens "
                                  f"({len(prompt)}) exceed context window of {n_ctx}).")
        # The limits and seed exactly as Llama._create_completion sets them.
        max_tokens = args.get("max_tokens")
        if max_tokens is None or max_tokens <= 0:
            max_tokens = n_ctx - len(prompt)
        max_tokens = min(max_tokens, n_ctx - len(prompt))
        seed = args.get("seed")
        self.llm.set_seed(seed if seed is not None else random.Random(self.llm._seed).randint(0, 2**32))
        stop = args.get("stop") or []
        text = _TextAssembler(([stop] if isinstance(stop, str) else list(stop)) + list(params.stop))
        grammar = self._grammar(params)
        # Only real token ids: the vision handler's prompt holds its pictures' positions as placeholders, and
        # detokenizing one out of the vocabulary aborts the process (seen once in a whole-suite run).
        n_vocab = self.llm.n_vocab()
        tail = [t for t in prompt[-8:] if 0 <= t < n_vocab]
        prompt_tail = self.llm.detokenize(tail, special=True).decode(errors="ignore")
        opened = opened_thinking(prompt_tail)   # R1's, QwQ's and Qwen3.5's templates open the thinking themselves
        thinking = ThinkingSplitter(opened)
        calls = ReplyTools(self._template, params, opened) if tools else None
        # The sampler exactly as Llama.generate builds it; the loop is ours (speculative.decode).
        sampler = self.llm._init_sampler(
            top_k=args["top_k"], top_p=args["top_p"], min_p=args["min_p"], typical_p=args["typical_p"],
            temp=args["temperature"], tfs_z=args["tfs_z"], mirostat_mode=args["mirostat_mode"],
            mirostat_tau=args["mirostat_tau"], mirostat_eta=args["mirostat_eta"],
            frequency_penalty=args["frequency_penalty"], presence_penalty=args["presence_penalty"],
            repeat_penalty=args["repeat_penalty"], grammar=grammar)
        if params.logit_bias:
            sampler = bias_first(sampler, self.llm.n_vocab(), dict(params.logit_bias))
        if calls:   # last: at "auto"'s marker it changes the finished chain in place
            sampler = calls.sampler(self.llm, sampler)
        self.draft_stats = DraftStats()
        # A grammar's state moves with each accepted token: no drafting beside it (simplest sure rule),
        # except tools' "auto": most replies never reach a marker, and one that does drafts no worse.
        forced = grammar is not None or (calls is not None and not calls.lazy)
        tokens = decode(self.llm, prompt, sampler, limit=max_tokens, draft=self.prompt_lookup and not forced,
                        stats=self.draft_stats, stopping_criteria=args.get("stopping_criteria"), costs=self._draft_costs,
                        clock=time.thread_time if self._threads.options == (1,) else time.perf_counter,
                        threads=self._threads)
        finish = "stop"   # "length" when the reply ends at max_tokens or the context's end
        try:
            for token in tokens:
                piece = self._piece(token)
                if piece is None:        # end of generation (EOS, <|im_end|>, ...)
                    break
                if calls:
                    piece = calls.watch(token, piece, thinking.inside)   # a special-token marker shows as text
                stats.completion_tokens += 1
                shown = text.feed(piece)
                if shown:
                    if not stats.ttft_s:
                        stats.ttft_s = time.perf_counter() - start
                    yield from answer_through(thinking.feed(shown), calls)
                if text.stopped:
                    break
                if stats.completion_tokens >= max_tokens:
                    finish = "length"
                    break
                if should_stop():
                    stats.stopped = True
                    break
            rest = text.flush() if not text.stopped and not stats.stopped else ""
            yield from answer_through([*thinking.feed(rest), *thinking.finish()], calls)
            if calls and not stats.stopped:
                yield from calls.finish()
                finish, self._last_calls = calls.finish_reason(finish), calls.calls
        except ValueError as exc:
            raise ContextOverflow(f"The conversation does not fit the model's context ({exc}).") from exc
        finally:
            tokens.close()
            stats.total_s = time.perf_counter() - start
            # The vision handler evaluated the whole prompt itself (pictures included) before decode began.
            stats.evaluated_prompt_tokens = stats.prompt_tokens if self._vision else self.draft_stats.prompt_evaluated
        yield Usage(stats, finish)

    def warm_next_turn(self, reply: str) -> int:
        """After a reply, while the user reads it: evaluate what the next turn's prompt will start with.

        That is the reply as the chat template tokenizes it (a few tokens differ from the ones generated)
        and its end-of-turn tokens; the follow-up question then evaluates only itself (issue 16: turn 10
        evaluated 23 tokens to turn 1's 17). Found by rendering two next turns that differ only in the
        question: their common prefix is certain. Returns the tokens evaluated; any failure only costs
        the next turn its head start.
        """
        last, calls = getattr(self, "_last_turn", None), self._last_calls
        if self.llm is None or last is None or not (reply or calls):
            return 0
        fitted, params = last
        history = [*fitted, {"role": "assistant", "content": reply, **({"tool_calls": calls} if calls else {})}]
        # After calls the next turn starts with their results, else with the user's question.
        nxt = (lambda x: {"role": "tool", "tool_call_id": calls[0]["id"], "content": x}) if calls else (
            lambda x: {"role": "user", "content": x})
        try:
            a = self._completion_args([*history, nxt("A")], params)
            b = self._completion_args([*history, nxt("B")], params)
            if a is None or b is None:
                return 0
            head = list(a["prompt"][:_shared_prefix(a["prompt"], b["prompt"])])
            if not head or len(head) >= self.llm.n_ctx():
                return 0
            same = _shared_prefix(self.llm._input_ids, head)
            if same == len(head):
                return 0
            self.llm.n_tokens = same   # eval() drops the cache beyond this point first
            self.llm.eval(head[same:])
            import llama_cpp
            # llama.cpp counts evaluated tokens at the next synchronisation: do it now, or the next
            # reply's "evaluated prompt tokens" would include these.
            llama_cpp.llama_synchronize(self.llm._ctx.ctx)
            return len(head) - same
        except Exception:
            self.llm.n_tokens = 0      # a half-done eval must not be taken for a valid prefix
            return 0

    def grammar_problem(self, gbnf: str) -> str | None:
        """Why llama.cpp cannot use a GBNF grammar, or None. Asked first: a grammar that does not parse
        gives a null sampler, which would crash the process once added to the chain."""
        import llama_cpp
        probe = llama_cpp.llama_sampler_init_grammar(self.llm._model.vocab, gbnf.encode("utf-8"), b"root")
        if not probe:
            return "llama.cpp could not parse the grammar (a syntax error or an undefined rule)"
        llama_cpp.llama_sampler_free(probe)
        return None

    def _grammar(self, params: GenParams):
        if not params.grammar:
            return None
        problem = self.grammar_problem(params.grammar)
        if problem:
            raise EngineError(f"The reply's grammar cannot be used: {problem}.")
        from llama_cpp import LlamaGrammar
        return LlamaGrammar.from_string(params.grammar, verbose=False)

    def prompt_tokens(self, messages: list[dict], params: GenParams) -> int | None:
        """How many tokens the conversation's prompt is, untrimmed (None: this chat handler cannot say)."""
        args = self._completion_args(messages, params)
        return None if args is None else len(args["prompt"])

    def _completion_args(self, messages: list[dict], params: GenParams) -> dict | None:
        """What create_chat_completion would pass to create_completion: from the model's own chat handler
        (its GGUF template), so the prompt tokens are identical and prefix re-use keeps working. Offered
        tools go to the template too (never tool_choice: the handler would set a grammar of its own)."""
        tools = list(params.tools) if params.tools and params.tool_choice != "none" and self._template.can_call else None
        messages = folded_system(messages) if self._folds_system else messages
        return self._format(history_for_template(messages, self._template), tools, params)

    def _render(self, messages: list[dict], tools: list[dict] | None) -> str | None:
        """The template's text for these messages and tools (the tool probe reads it)."""
        args = self._format(messages, tools, GenParams())
        return None if args is None else self.llm.detokenize(list(args["prompt"]), special=True).decode("utf-8", "replace")

    def _format(self, messages: list[dict], tools: list[dict] | None, params: GenParams) -> dict | None:
        from llama_cpp import llama_chat_format
        llm = self.llm
        handler = (llm.chat_handler or llm._chat_handlers.get(llm.chat_format)
                   or llama_chat_format.get_chat_completion_handler(llm.chat_format))
        capture = HandlerCapture(llm)
        try:
            handler(llama=capture, messages=messages, stream=True, stop=[], max_tokens=params.max_tokens,
                    **({"tools": tools} if tools else {}), **self._sampling(params))
        except ValueError as exc:  # the template's own raise_exception(), or the vision handler's
            raise (self._vision.error(exc) if self._vision else
                   EngineError(f"This model's chat template refused the conversation ({exc}).")) from exc
        except Exception as exc:
            raise EngineError(self._template_message(exc)) from exc
        args = capture.completion_args
        if args is None or any(args.get(k) is not None for k in ("grammar", "logits_processor", "logit_bias", "logprobs")):
            return None
        return args

    @staticmethod
    def _sampling(params: GenParams) -> dict:
        # create_chat_completion's own defaults for everything GenParams does not set.
        return dict(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k, min_p=params.min_p,
                    typical_p=1.0, repeat_penalty=params.repeat_penalty, presence_penalty=params.presence_penalty,
                    frequency_penalty=params.frequency_penalty, tfs_z=1.0, mirostat_mode=0, mirostat_tau=5.0, mirostat_eta=0.1,
                    seed=params.seed if params.seed >= 0 else None)

    def _piece(self, token: int) -> bytes | None:
        """The token's bytes, or None for an end-of-generation token; cached (one FFI call per new token id)."""
        try:
            return self._pieces[token]
        except KeyError:
            import llama_cpp
            model = self.llm._model
            piece = None if llama_cpp.llama_vocab_is_eog(model.vocab, token) else model.detokenize([token])
            self._pieces[token] = piece
            return piece

    def _stream_library(self, messages, params, should_stop, stats, start, p_eval0):
        """The library's own streaming, for chat handlers this engine cannot drive itself: text events,
        then returns the finish reason."""
        finish = "stop"
        thinking = ThinkingSplitter()
        messages = folded_system(messages) if self._folds_system else messages
        sampling = self._sampling(params)
        sampling.update(grammar=self._grammar(params), logit_bias=dict(params.logit_bias) or None)
        chunks = self.llm.create_chat_completion(messages=messages, stream=True, max_tokens=params.max_tokens,
                                                 stop=list(params.stop), **sampling)
        try:
            for chunk in chunks:
                if chunk["choices"][0].get("finish_reason") == "length":
                    finish = "length"
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    if stats.completion_tokens == 0:
                        stats.ttft_s = time.perf_counter() - start
                    stats.completion_tokens += 1
                    yield from thinking.feed(piece)
                if should_stop():
                    stats.stopped = True
                    break
            yield from thinking.finish()
        except ValueError as exc:
            raise ContextOverflow(f"The conversation does not fit the model's context ({exc}).") from exc
        finally:
            chunks.close()
            stats.total_s = time.perf_counter() - start
            stats.evaluated_prompt_tokens = self._perf()[0] - p_eval0
            stats.prompt_tokens = max(0, self.llm.n_tokens - stats.completion_tokens)
        return finish
