"""The engine protocols every chat and image backend implements, and their errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

from ..conversation import GenParams, ImageRequest
from .events import ChatEvent


class EngineError(Exception):
    """A problem with a model or a request that the user can fix; the message says how."""


class ContextOverflow(EngineError):
    pass


@dataclass
class ChatStats:
    """What one reply cost; filled in by the engine while it streams."""
    prompt_tokens: int = 0
    evaluated_prompt_tokens: int = 0   # prompt tokens actually run through the model (prefix re-use skips the rest)
    completion_tokens: int = 0
    n_ctx: int = 0
    dropped_messages: int = 0          # oldest turns left out so the conversation fits the context
    ttft_s: float = 0.0
    total_s: float = 0.0
    stopped: bool = False
    finish_reason: str = ""            # the reply's Usage.finish_reason, for whoever gets only the stats
    max_tokens: int = 0                # the reply's length limit in force (0: none, the context's end)

    @property
    def cut_by_context(self) -> bool:
        """Whether a reply cut off ("length") ran into the context's end rather than its own limit."""
        return self.max_tokens <= 0 or self.completion_tokens < self.max_tokens

    @property
    def tokens_per_s(self) -> float:
        gen = self.total_s - self.ttft_s
        return (self.completion_tokens - 1) / gen if gen > 0 and self.completion_tokens > 1 else 0.0

    @property
    def context_used(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ModelInfo:
    name: str
    path: str
    n_ctx: int = 0
    details: dict = field(default_factory=dict)
    cpu_threads: int = 0    # CPU threads decoding in this process (0: a server or the GPU does the work)


@dataclass(frozen=True)
class ChatCapabilities:
    """What a chat (or embedding) engine offers beyond load() and stream(). Callers read this; they
    never probe an engine for members: a member a capability names exists only where it is True."""
    streams: bool = True           # text arrives as it is made, not all at the end
    tools: bool = False            # takes tool definitions and yields ToolCallDelta events
    vision: bool = False           # takes pictures in user messages
    image_side: int = 0            # vision: the longest side (px) worth sending; larger pictures are scaled (0: unknown)
    embeddings: bool = False       # embed(texts) -> vectors (an embedding engine)
    warms_next_turn: bool = False  # warm_next_turn(reply): evaluates the next prompt's head after a reply
    counts_prompt: bool = False    # prompt_tokens(messages, params): the untrimmed prompt's exact size
    grammars: bool = False         # GenParams.grammar constrains the reply; grammar_problem(gbnf) checks one


class ChatEngine(Protocol):
    capabilities: ChatCapabilities

    def load(self) -> ModelInfo: ...

    def stream(self, messages: list[dict], params: GenParams, should_stop: Callable[[], bool],
               stats: ChatStats | None = None) -> Iterator[ChatEvent]:
        """The reply as events: TextDelta and ToolCallDelta as they come, then one Usage (whose stats
        are `stats` when given: filled in while it streams, so they are there after a failure too).
        Failures raise EngineError; a stop ends the stream early with Usage(stats.stopped=True)."""

    # Present only where the capability says so:
    def warm_next_turn(self, reply: str) -> int:
        """capabilities.warms_next_turn: after a reply, evaluate what the next prompt starts with."""

    def prompt_tokens(self, messages: list[dict], params: GenParams) -> int | None:
        """capabilities.counts_prompt: the prompt's size in tokens, untrimmed (None: cannot say)."""

    def grammar_problem(self, gbnf: str) -> str | None:
        """capabilities.grammars: why a GBNF grammar cannot be used, or None."""


@dataclass
class ImageResult:
    image: object            # PIL.Image
    seed: int
    request: ImageRequest    # fully resolved: every None replaced by what was used
    notes: list[str] = field(default_factory=list)   # things the user should know (e.g. prompt cut short)


@dataclass
class ImageProgress:
    """One event of a render: a denoising step, the start of the VAE decode, or a finished picture."""
    phase: str                   # "step" | "decoding" | "done"
    step: int = 0
    total: int = 0               # the scheduler's real step count (PNDM: N+1, Heun: 2N-1), not the request
    picture: int = 1             # 1-based, of `pictures` (--n)
    pictures: int = 1
    preview: object = None       # PIL image from the engine, QImage once the worker has sent it
    request: ImageRequest | None = None   # the picture's resolved recipe


@dataclass(frozen=True)
class ImageCapabilities:
    """What an image engine offers beyond load() and generate(); read instead of probing for members."""
    loras: bool = False           # <lora:NAME:W> in recipes, looked up in the engine's `lora_dirs`
    threads: bool = False         # its CPU threads follow the `threads` setting (0: auto)
    yields_to_chat: bool = False  # reads `chat_busy()` and gives a core back while a reply streams
    edits: bool = False           # an init picture (img2img, strength) and a mask (inpainting)


class ImageEngine(Protocol):
    capabilities: ImageCapabilities
    model_name: str               # in each picture's recipe
    model_hash: str               # "" where unknown (a server's model)
    # Present only where the capability says so; the image worker sets them before each render:
    lora_dirs: list               # capabilities.loras
    threads: int                  # capabilities.threads
    chat_busy: Callable[[], bool]  # capabilities.yields_to_chat

    def load(self) -> ModelInfo: ...

    def generate(self, request: ImageRequest, on_progress: Callable[[ImageProgress], None],
                 should_stop: Callable[[], bool]) -> list[ImageResult]:
        """All pictures; on a stop, those finished before it (possibly none)."""


def stat_model_path(path: Path, missing: str, what: str = "model") -> int:
    """The path's st_mode, or an EngineError in plain words (missing, unreadable, a NUL in it)."""
    try:
        return path.stat().st_mode
    except FileNotFoundError:
        raise EngineError(missing) from None
    except (OSError, ValueError) as exc:   # ValueError: a NUL in the path
        raise EngineError(f"The {what} path {path} cannot be used: {getattr(exc, 'strerror', None) or exc}.") from None
