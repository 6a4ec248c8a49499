"""Text -> unit-length float32 vectors via llama.cpp's embedding mode (any GGUF; mean pooling if it names none)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from .base import ChatCapabilities, EngineError
from .cpu import default_llm_threads
from .embed_prompts import NONE, prompts_for
from .gguf_file import check_gguf_file

N_CTX = 512            # longest text embedded, in tokens (a ~1,000-character chunk is ~250); longer is cut
IDENTITY_BYTES = 1 << 20   # the identity hashes the header's first MiB: a moved file keeps its vectors


def model_identity(path: Path) -> str:
    """Name, size and a hash of the file's start: changes when the model does, not when it is moved."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        digest.update(f.read(IDENTITY_BYTES))
    return f"{path.name}:{path.stat().st_size}:{digest.hexdigest()[:16]}"


class EmbeddingEngine:
    """One llama.cpp context in embedding mode. Not thread-safe: the document worker owns it for its life."""

    capabilities = ChatCapabilities(streams=False, embeddings=True)

    def __init__(self, path: str | Path, n_threads: int = 0):
        self.path = Path(path).expanduser()
        # Half the cores: a reply may be streaming on the chat worker meanwhile (ggml's spinning
        # barrier crawls when two contexts want every core).
        self.n_threads = n_threads or default_llm_threads()
        self._llm = None
        self.identity = ""
        self.dim = 0
        self.prompts = NONE   # what the model expects before a query and before a passage

    def load(self) -> None:
        """Check the file, then load it on the calling (worker) thread; EngineError in plain words."""
        check_gguf_file(self.path)
        try:
            self.identity = model_identity(self.path)
        except OSError as exc:
            raise EngineError(f"{self.path.name} could not be read: {exc.strerror or exc}.") from None
        import llama_cpp   # heavy: only here, on the worker thread
        try:
            llm = self._open(llama_cpp, llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED)
            if llm.pooling_type() in (llama_cpp.LLAMA_POOLING_TYPE_NONE, llama_cpp.LLAMA_POOLING_TYPE_RANK):
                # A model with no pooling of its own (a chat model such as SmolLM2) would give one
                # vector per token: average them instead (mean pooling).
                llm.close()
                llm = self._open(llama_cpp, llama_cpp.LLAMA_POOLING_TYPE_MEAN)
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineError(f"{self.path.name} could not be loaded as an embedding model ({exc}).") from None
        self._llm = llm
        self.dim = llm.n_embd()
        self.prompts = prompts_for(self.path.name, llm.metadata)
        if self.prompts.name:
            # Vectors made with the prompts are not comparable with vectors made without them.
            self.identity += f":{self.prompts.name}"

    def _open(self, llama_cpp, pooling: int):
        return llama_cpp.Llama(model_path=str(self.path), embedding=True, pooling_type=pooling, n_ctx=N_CTX,
                               n_batch=N_CTX, n_ubatch=N_CTX, n_threads=self.n_threads,
                               n_threads_batch=self.n_threads, verbose=False)

    def embed(self, texts: list[str]):
        """An (n, dim) float32 array of unit vectors, one row per text (cosine = dot product)."""
        import numpy as np
        if self._llm is None:
            raise EngineError("The embedding model is not loaded.")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            # An empty text has no tokens to average; a space gives it a harmless vector.
            rows = self._llm.embed([t if t.strip() else " " for t in texts], truncate=True)
        except (ValueError, RuntimeError) as exc:
            raise EngineError(f"The embedding model failed on this text ({exc}).") from None
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms > 0, norms, 1.0)

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
