"""How many CPU cores this process may use, and how many threads the chat engine takes of them by default."""
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
