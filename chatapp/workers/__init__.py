"""The only place that crosses threads: the workers, each a QObject on its own QThread
(or a job on Qt's thread pool).

Requests go in through plain methods that emit private signals (queued into the worker's thread);
results come out as signals. Cancel is a flag read between tokens / steps, never a queued call,
because the worker's thread is busy inside the loop that must notice it.
"""
from .base import _CancelFlags, _Worker  # noqa: F401
from .chat import LlmWorker  # noqa: F401
from .image import ImageWorker, pil_to_qimage  # noqa: F401
from .jobs import DocumentWorker, ModelScanWorker, StoreJob  # noqa: F401
from .pool import BackgroundCall, PoolCalls  # noqa: F401
