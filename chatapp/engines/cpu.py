"""How many CPU cores this process may use, and how many threads the chat engine takes of them (measured)."""
from __future__ import annotations

import os


def cores() -> int:
    """Cores this process may run on (a `taskset` or container limit counts; os.cpu_count() ignores it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_llm_threads() -> int:
    """Half the cores: decoding gets most of its speed from the first few, and the GUI, the image
    worker and the rest of the system keep a core to themselves."""
    return max(1, cores() // 2)


class ThreadChoice:
    """The chat's llama.cpp threads, chosen by measuring: single-token decode times under each option.

    Measured on 2 cores (docs/PERFORMANCE.md): with both threads decoding ran 1.33x and prompts 1.64x
    faster than with one while nothing else ran, but 0.39x while a picture rendered (ggml's spinning
    thread barrier waits for a thread the OS has given to torch) and 0.71x on one core. So the faster
    option is used, the other re-timed for a few tokens every PROBE_EVERY, and a picture, a compile or
    any other program taking a core moves the choice within a few tokens, and back when it is gone.
    """

    PROBE_EVERY, PROBE_TOKENS = 48, 2

    def __init__(self, options: tuple[int, ...]):
        self.options = tuple(sorted(set(options)))
        self._time: dict[int, float] = {}
        self._step = 0

    def best(self) -> int:
        timed = [n for n in self.options if n in self._time]
        return min(timed, key=self._time.get) if timed else self.options[0]

    def next(self) -> int:
        """Threads for the next single-token decode."""
        if len(self.options) == 1:
            return self.options[0]
        self._step += 1
        untimed = [n for n in self.options if n not in self._time]
        if untimed:
            return untimed[0]
        best = self.best()
        others = [n for n in self.options if n != best]
        # Re-time the options not in use: every PROBE_EVERY tokens when they are close, far less often
        # when far slower (a probe of an option 5x slower costs 4 tokens' time: that one waits 1,200).
        worst = max(self._time[n] for n in others) / max(self._time[best], 1e-9)
        every = int(self.PROBE_EVERY * max(1.0, worst) ** 2)
        if self._step % every < self.PROBE_TOKENS:
            return others[(self._step // every) % len(others)]
        return best

    def timed(self, threads: int, seconds: float) -> None:
        old = self._time.get(threads)
        self._time[threads] = seconds if old is None else 0.5 * old + 0.5 * seconds

    def apply(self, ctx, threads: int) -> bool:
        """Give llama.cpp this many threads (decode and batches); True if that changed anything. The
        first decode after a change also starts threads, so it is not timed."""
        if threads == getattr(self, "current", None):
            return False
        import llama_cpp
        llama_cpp.llama_set_n_threads(ctx, threads, threads)
        self.current = threads
        return True


def chat_thread_options(setting: int) -> tuple[int, ...]:
    """A fixed setting, or (half the cores, all of them) to choose from by measurement."""
    if setting > 0:
        return (setting,)
    n = cores()
    return (default_llm_threads(), n)
