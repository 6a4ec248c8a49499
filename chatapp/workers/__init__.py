"""The only place that crosses threads: one family of workers (base.Worker), owner threads and one-shot calls.

Long-lived jobs are OwnerThreads, each a QObject on its own QThread that owns what it works with
(LlmWorker and ImageWorker load an engine there; DocumentWorker, ModelScanWorker). One-shot jobs are
Calls (a function or generator on the thread pool, or on a thread of their own for export/import).
Requests go in through plain methods; results come out as signals queued to the GUI thread. Cancel
is a flag per request read between tokens / steps / items, never a queued call, because the worker's
thread is busy inside the loop that must notice it. TokenPump is the chat worker's streaming channel.
"""
from .base import CancelFlags, Cancelled, EngineWorker, OwnerThread, Worker, failure_message  # noqa: F401
from .calls import Calls  # noqa: F401
from .chat import LlmWorker  # noqa: F401
from .image import ImageWorker, pil_to_qimage  # noqa: F401
from .jobs import DocumentWorker, ModelScanWorker, store_calls  # noqa: F401
