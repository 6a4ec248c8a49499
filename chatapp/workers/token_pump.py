"""TokenPump: hands a reply's events from the decoding thread to the GUI thread at most once per frame."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal, Slot

from ..engines.events import ChatEvent, ReasoningDelta, TextDelta, ToolCallDelta

# One hand-over per frame of the view's streaming repaint (50 ms). A signal per token woke the GUI
# thread ~70 times a second for bookkeeping the screen only shows 20 times a second; on a machine
# where the GUI and decoding share a core, that was time the decoding lost.
FRAME_S = 0.05


def _joined(events: list[ChatEvent]) -> list[ChatEvent]:
    """Runs of text (of thinking) joined into one delta, runs of one tool call's parts into one part; order kept."""
    out: list[ChatEvent] = []
    for e in events:
        last = out[-1] if out else None
        if isinstance(e, (TextDelta, ReasoningDelta)) and type(last) is type(e):
            out[-1] = type(e)(last.text + e.text)
        elif isinstance(e, ToolCallDelta) and isinstance(last, ToolCallDelta) and e.index == last.index:
            out[-1] = replace(last, id=last.id or e.id, name=last.name or e.name, arguments=last.arguments + e.arguments)
        else:
            out.append(e)
    return out


class TokenPump(QObject):
    """Lives on the GUI thread. The worker puts events in; the GUI gets them joined, in order: text
    as `pieces`, thinking as `reasoning`, a tool call's parts as `tool_call`.

    The first piece of a reply goes at once (time to first token). Later pieces wait at most one
    frame, by a GUI-side timer, so a stream that pauses (a slow server) never holds text back.
    A reply's end is delivered through the pump too, after every piece before it.
    """

    pieces = Signal(int, str)       # request id, text (one or more tokens); all five on the GUI thread
    reasoning = Signal(int, str)    # request id, thinking (one or more tokens)
    tool_call = Signal(int, object)  # request id, ToolCallDelta (one call's parts of this frame joined)
    finished = Signal(int, object)  # request id, ChatStats
    failed = Signal(int, str)       # request id, message
    _wake = Signal()                # worker thread -> GUI thread: something is waiting
    _end = Signal(int, str, object)

    def __init__(self, clock=time.monotonic):
        super().__init__()
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[int, list[ChatEvent]] = {}
        self._started: set[int] = set()     # requests whose first piece has been handed over
        self._woken = False                 # a wake-up is on its way or a delivery is scheduled
        self._last = float("-inf")
        self.frame_s = FRAME_S      # the view sets its own frame time: text comes no more often than it is shown
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.deliver)
        self._wake.connect(self._on_wake)
        self._end.connect(self._on_end)

    # --- worker thread ------------------------------------------------------------------------
    def put(self, request_id: int, event: ChatEvent) -> None:
        with self._lock:
            self._pending.setdefault(request_id, []).append(event)
            if self._woken:
                return
            self._woken = True
        self._wake.emit()

    def finish(self, request_id: int, stats) -> None:
        self._end.emit(request_id, "finished", stats)

    def fail(self, request_id: int, message: str) -> None:
        self._end.emit(request_id, "failed", message)

    # --- GUI thread ---------------------------------------------------------------------------
    @Slot()
    def _on_wake(self) -> None:
        with self._lock:
            first = any(rid not in self._started for rid in self._pending)
        wait = self.frame_s - (self._clock() - self._last)
        if first or wait <= 0:
            self.deliver()
        elif not self._timer.isActive():
            self._timer.start(max(1, round(wait * 1000)))

    @Slot()
    def deliver(self) -> None:
        """Hand over everything waiting now (also called at shutdown, so no piece is lost)."""
        self._timer.stop()
        with self._lock:
            pending, self._pending = self._pending, {}
            self._woken = False
            self._started.update(pending)
        if pending:
            self._last = self._clock()
        for rid, events in pending.items():
            for e in _joined(events):
                if isinstance(e, TextDelta):
                    self.pieces.emit(rid, e.text)
                elif isinstance(e, ReasoningDelta):
                    self.reasoning.emit(rid, e.text)
                else:
                    self.tool_call.emit(rid, e)

    @Slot(int, str, object)
    def _on_end(self, request_id: int, kind: str, payload) -> None:
        self.deliver()
        with self._lock:
            self._started.discard(request_id)
        if kind == "finished":
            self.finished.emit(request_id, payload)
        else:
            self.failed.emit(request_id, payload)

    def deliver_posted(self) -> None:
        """Run the wake-ups and ends the worker posted and the GUI has not handled yet (shutdown)."""
        QCoreApplication.sendPostedEvents(self)
        self.deliver()
