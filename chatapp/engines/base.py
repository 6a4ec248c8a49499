"""The engine protocols every chat and image backend implements, and their errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from ..conversation import GenParams, ImageRequest


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


class ChatEngine(Protocol):
    def load(self) -> ModelInfo: ...

    def stream(self, messages: list[dict], params: GenParams, should_stop: Callable[[], bool],
               stats: ChatStats) -> Iterator[str]: ...


@dataclass
class ImageResult:
    image: object            # PIL.Image
    seed: int
    request: ImageRequest    # fully resolved: every None replaced by what was used


class ImageEngine(Protocol):
    def load(self) -> ModelInfo: ...

    def generate(self, request: ImageRequest, on_step: Callable[[int, int, object], None],
                 should_stop: Callable[[], bool]) -> list[ImageResult]: ...
