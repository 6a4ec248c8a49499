"""LlmWorker: owns the chat engine on its own thread; its events out through a TokenPump, Stop as a flag."""
from __future__ import annotations

import threading
import traceback
from dataclasses import replace

from PySide6.QtCore import Signal, Slot

from ..conversation import GenParams
from ..engines.base import ChatStats, EngineError
from ..engines.events import Reply, Usage
from .base import EngineWorker
from .token_pump import TokenPump


class LlmWorker(EngineWorker):
    _generate_requested = Signal(int, object, object)

    def __init__(self):
        super().__init__("llm-worker")
        # The reply's signals come from a pump on the GUI thread, at most one hand-over per frame:
        # token(request id, text of one or more tokens), tool_call(request id, ToolCallDelta),
        # finished(request id, ChatStats; stats.stopped tells a stop from an end), failed(request id,
        # message). Text and tool calls arrive in the order the engine made them, all before the end.
        self.pump = TokenPump()
        self.token, self.reasoning, self.tool_call = self.pump.pieces, self.pump.reasoning, self.pump.tool_call
        self.finished, self.failed = self.pump.finished, self.pump.failed
        self.busy = threading.Event()   # set while a reply is computed; the image engine gives a core back
        self._generate_requested.connect(self._generate)

    def request_reply(self, request_id: int, messages: list[dict], params: GenParams) -> None:
        self._generate_requested.emit(request_id, messages, params)

    @Slot(int, object, object)
    def _generate(self, request_id: int, messages: list[dict], params: GenParams) -> None:
        stats = ChatStats(max_tokens=params.max_tokens)
        reply = Reply()
        try:
            if self.flags.is_set(request_id):
                stats.stopped = True
            elif self.engine is None:
                raise EngineError(self.no_engine_message())
            else:
                self.busy.set()
                if params.tools and not self.engine.capabilities.tools:
                    # The desktop offers its tools to whichever model is loaded; one that cannot call them
                    # answers in words (`chatapp serve` refuses such a request instead).
                    params = replace(params, tools=(), tool_choice="auto")
                for event in self.engine.stream(messages, params, lambda: self.flags.is_set(request_id), stats):
                    if not isinstance(reply.add(event), Usage):   # the end goes out as finished, below
                        self.pump.put(request_id, event)
            stats.finish_reason = reply.usage.finish_reason if reply.usage else ""
            self.pump.finish(request_id, stats)
            if self.engine is not None and self.engine.capabilities.warms_next_turn and not stats.stopped:
                self.engine.warm_next_turn(reply.text)   # the user reads the reply meanwhile
        except EngineError as exc:
            self.pump.fail(request_id, str(exc))
        except Exception as exc:
            traceback.print_exc()
            self.pump.fail(request_id, f"The model stopped with an error: {exc}")
        finally:
            self.busy.clear()
            self.flags.forget(request_id)
