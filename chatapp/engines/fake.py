"""Scripted engines for fast tests of the GUI and workers (like simonw/llm's MockModel)."""
from __future__ import annotations

import random
import threading
import time
from typing import Callable, Iterator

from ..conversation import GenParams
from ..recipes import RecipeError
from ..recipes.request import ImageRequest, ModelLimits
from .base import ChatCapabilities, ChatStats, EngineError, ImageCapabilities, ImageProgress, ImageResult, ModelInfo
from .events import ChatEvent, TextDelta, ToolCallDelta, Usage


class FakeChatEngine:
    """Streams queued replies word by word; with nothing queued, echoes the last user message.
    A queued reply may also be a list of events (ToolCallDelta...) streamed as they are."""

    capabilities = ChatCapabilities(tools=True)

    def __init__(self, replies: list[str] | None = None, *, token_delay: float = 0.0,
                 load_delay: float = 0.0, fail_load: str | None = None, n_ctx: int = 4096,
                 hold_after: int | None = None, cpu_threads: int = 0, finish_reason: str = ""):
        self.replies = list(replies or [])
        self.finish_reason = finish_reason   # how every reply says it ended ("length": cut at max_tokens); "": as it did
        self.cpu_threads = cpu_threads   # what load() reports as decoding on this machine's cores
        self.token_delay, self.load_delay, self.fail_load, self.n_ctx = token_delay, load_delay, fail_load, n_ctx
        # After `hold_after` tokens the reply pauses until it is stopped or `release` is set, so a
        # test can stop a reply mid-way on any machine, however slow, without racing its end.
        self.hold_after = hold_after
        self.release = threading.Event()
        self.received: list[list[dict]] = []
        self.params: list[GenParams] = []   # what each reply was asked with (the tools offered)
        self.load_thread: threading.Thread | None = None
        self.stream_threads: list[threading.Thread] = []

    def enqueue(self, *replies: str | list) -> None:
        self.replies.extend(replies)

    def load(self) -> ModelInfo:
        self.load_thread = threading.current_thread()
        time.sleep(self.load_delay)
        if self.fail_load:
            raise EngineError(self.fail_load)
        return ModelInfo(name="Fake model", path="fake", n_ctx=self.n_ctx, cpu_threads=self.cpu_threads)

    def stream(self, messages: list[dict], params: GenParams, should_stop: Callable[[], bool],
               stats: ChatStats | None = None) -> Iterator[ChatEvent]:
        stats = stats if stats is not None else ChatStats()
        self.stream_threads.append(threading.current_thread())
        self.received.append(list(messages))
        self.params.append(params)
        reply = self.replies.pop(0) if self.replies else f"You said: {messages[-1]['content']}"
        events = reply if isinstance(reply, list) else \
            [TextDelta(w if i == 0 else " " + w) for i, w in enumerate(reply.split(" "))]
        start = time.perf_counter()
        stats.n_ctx = self.n_ctx
        stats.prompt_tokens = sum(len((m.get("content") or "").split()) for m in messages)   # a call's may be None
        stats.evaluated_prompt_tokens = stats.prompt_tokens
        for i, event in enumerate(events):
            if i == self.hold_after:
                while not should_stop() and not self.release.wait(0.005):
                    pass
            if should_stop():
                stats.stopped = True
                break
            time.sleep(self.token_delay)
            if i == 0:
                stats.ttft_s = time.perf_counter() - start
            stats.completion_tokens += 1
            yield event
        stats.total_s = time.perf_counter() - start
        calls = any(isinstance(e, ToolCallDelta) for e in events) and not stats.stopped
        yield Usage(stats, self.finish_reason or ("tool_calls" if calls else "stop"))


class FakeImageEngine:
    """Draws a flat picture whose colour depends on the seed, one fake step at a time."""

    capabilities = ImageCapabilities()
    model_name = model_hash = ""   # its pictures' recipes name no model

    def __init__(self, *, step_delay: float = 0.0, default_steps: int = 4, size: int = 32, load_delay: float = 0.0):
        self.step_delay, self.default_steps, self.size, self.load_delay = step_delay, default_steps, size, load_delay
        self.defaults = {"steps": default_steps, "cfg": 4.0, "width": size, "height": size, "scheduler": "fake"}

    def load(self) -> ModelInfo:
        time.sleep(self.load_delay)
        return ModelInfo(name="Fake image model", path="fake-image", details={"scheduler": "fake"})

    def generate(self, request: ImageRequest, on_progress: Callable[[ImageProgress], None],
                 should_stop: Callable[[], bool]) -> list[ImageResult]:
        from PIL import Image
        try:   # as the diffusion engine: the model's limits are checked here too
            request.validate(ModelLimits.from_defaults("Fake image model", self.defaults))
        except RecipeError as exc:
            raise EngineError(str(exc)) from None
        steps = request.steps or self.default_steps
        results = []
        for n in range(request.count):
            seed = (request.seed if request.seed is not None else random.randrange(2**32)) + n
            w, h = request.width or self.size, request.height or self.size
            resolved = ImageRequest(prompt=request.prompt, negative=request.negative, steps=steps,
                                    cfg=request.cfg or 4.0, seed=seed, width=w, height=h,
                                    scheduler=request.scheduler or self.defaults["scheduler"], count=1)
            for step in range(1, steps + 1):
                if should_stop():
                    return results
                time.sleep(self.step_delay)
                on_progress(ImageProgress("step", step, steps, n + 1, request.count, None, resolved))
            on_progress(ImageProgress("decoding", steps, steps, n + 1, request.count, None, resolved))
            if should_stop():
                return results
            time.sleep(self.step_delay)
            rng = random.Random(seed)
            colour = tuple(rng.randrange(256) for _ in range(3))
            results.append(ImageResult(Image.new("RGB", (w, h), colour), seed, resolved))
            on_progress(ImageProgress("done", 0, 0, n + 1, request.count, None, resolved))
        return results
