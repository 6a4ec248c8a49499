"""GGUF chat through llama-cpp-python: load, warm up, stream with prefix re-use, stop between tokens."""
from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Callable, Iterator

from ..conversation import GenParams
from .base import ChatStats, ContextOverflow, EngineError, ModelInfo
from .context import fit_messages

GGUF_MAGIC = b"GGUF"


def check_gguf_file(path: Path) -> None:
    """Fail early, with words a user understands, before llama.cpp sees a bad file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise EngineError(f"Model file not found: {path}. Choose another in Settings.") from None
    except (OSError, ValueError) as exc:   # ValueError: a NUL in the path
        raise EngineError(f"The model path {path} cannot be used: {getattr(exc, 'strerror', None) or exc}.") from None
    if stat.S_ISDIR(mode):
        raise EngineError(f"{path} is a folder, not a GGUF model file.")
    if not stat.S_ISREG(mode):
        # Checked before opening: reading a FIFO would wait forever, /dev/zero never ends.
        raise EngineError(f"{path} is not a regular file (it is a device, pipe or socket). "
                          "Choose a .gguf model file in Settings.")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except PermissionError:
        raise EngineError(f"chatapp is not allowed to read {path}. Check the file's permissions, "
                          "or choose another model in Settings.") from None
    except OSError as exc:
        raise EngineError(f"{path.name} could not be read: {exc.strerror or exc}.") from None
    if magic != GGUF_MAGIC:
        raise EngineError(f"{path.name} is not a GGUF model file. chatapp needs a .gguf file "
                          "(for example from a llama.cpp conversion).")


class LlamaChatEngine:
    """Owns one llama_cpp.Llama; used by exactly one thread (the LLM worker) for its whole life."""

    def __init__(self, model_path: str | Path, *, n_ctx: int = 2048, n_threads: int = 0,
                 n_gpu_layers: int = 0, seed: int = 0):
        self.model_path = Path(model_path)
        self.n_ctx, self.n_threads, self.n_gpu_layers, self.seed = n_ctx, n_threads, n_gpu_layers, seed
        self.llm = None

    def load(self) -> ModelInfo:
        check_gguf_file(self.model_path)
        import llama_cpp  # heavy: imported here, on the worker thread
        # Prompt batches default to one thread per core; when torch (the image worker) or
        # anything else is busy on those cores, ggml's spinning thread barrier slows prompt
        # processing ~100x (measured: 7.8 s instead of 0.08 s for 30 tokens on 2 cores).
        # So batches use the same thread count as generation, which leaves a core free.
        threads = self.n_threads or max(1, (os.cpu_count() or 2) // 2)
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=threads, n_threads_batch=threads,
                n_gpu_layers=self.n_gpu_layers, seed=self.seed, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineError(f"llama.cpp could not load {self.model_path.name}: the file may be truncated "
                              f"or of an unsupported architecture ({exc}).") from exc
        self._warm_up()
        meta = self.llm.metadata
        name = self.model_path.stem  # what the user chose; general.name is often a build label
        return ModelInfo(name=name, path=str(self.model_path), n_ctx=self.llm.n_ctx(),
                         details={"architecture": meta.get("general.architecture", "")})

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
               stats: ChatStats) -> Iterator[str]:
        if self.llm is None:
            raise EngineError("No language model is loaded.")
        n_ctx = self.llm.n_ctx()
        reserve = min(params.max_tokens, n_ctx // 2)
        fitted, stats.dropped_messages = fit_messages(messages, self.count_tokens, n_ctx, reserve)
        stats.n_ctx = n_ctx
        p_eval0, eval0 = self._perf()
        start = time.perf_counter()
        try:
            chunks = self.llm.create_chat_completion(
                messages=fitted, stream=True, max_tokens=params.max_tokens, temperature=params.temperature,
                top_p=params.top_p, top_k=params.top_k, min_p=params.min_p,
                repeat_penalty=params.repeat_penalty, seed=params.seed if params.seed >= 0 else None)
        except ValueError as exc:  # prompt over the context after all (template overhead was larger)
            raise ContextOverflow(f"The conversation does not fit the model's context ({exc}).") from exc
        except Exception as exc:
            raise EngineError(self._template_message(exc)) from exc
        try:
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    if stats.completion_tokens == 0:
                        stats.ttft_s = time.perf_counter() - start
                    stats.completion_tokens += 1
                    yield piece
                if should_stop():
                    stats.stopped = True
                    break
        except ValueError as exc:
            raise ContextOverflow(f"The conversation does not fit the model's context ({exc}).") from exc
        finally:
            chunks.close()
            stats.total_s = time.perf_counter() - start
            p_eval1, _ = self._perf()
            stats.evaluated_prompt_tokens = p_eval1 - p_eval0
            stats.prompt_tokens = max(0, self.llm.n_tokens - stats.completion_tokens)
