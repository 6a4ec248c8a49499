"""A rich label that shows markdown: short texts rendered on the spot, long ones on the thread pool, layout share bounded."""
from __future__ import annotations

import time
import weakref

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QGuiApplication

from ..workers import Calls
from . import markdown
from .bubble_base import RichLabel, slices

# Markdown of up to this many characters is rendered on the spot (a few ms, ~35 ms for the worst
# input known); longer text is rendered on the thread pool, as parsing 20,000 hostile characters
# can take half a second. Only the (budgeted) layout of the result happens on the GUI thread.
SYNC_CHARS = 2_000
RENDER_SHARE = 0.15   # while a long reply streams, its layout takes at most ~15% of the GUI thread


class _Renderer(QObject):
    """Markdown for long texts rendered on the thread pool; each result goes to the label that asked."""
    shown = Signal()    # a result was shown: a label's height changed

    def __init__(self):
        super().__init__()
        self.calls = Calls()
        self.calls.done.connect(self._done)
        self._asked: dict[int, tuple[weakref.ref, str]] = {}
        # Results are shown a few per event-loop turn: each is laid out at once (10-50 ms for a
        # hostile reply), and 15 that came back together held one frame for half a second.

    def request(self, label: MarkdownLabel, text: str, remember: bool) -> None:
        call_id = self.calls.call(markdown.render, text, remember)
        self._asked[call_id] = (weakref.ref(label), text)

    def _done(self, call_id: int, result, error) -> None:
        slices().add(lambda: self._show_one(call_id, result, error))

    def _show_one(self, call_id: int, result, error) -> None:
        ref, text = self._asked.pop(call_id, (None, ""))
        label = ref() if ref else None
        if label is not None and shiboken6.isValid(label):
            label.rendered(text, result if error is None else (markdown.plain_block(text), []))
            self.shown.emit()
        return False


_renderer: _Renderer | None = None


def _background() -> _Renderer:
    global _renderer
    if _renderer is None:
        _renderer = _Renderer()
    return _renderer


def render_shown() -> Signal:
    """Emitted whenever a long text's render has been shown (the conversation view listens)."""
    return _background().shown


class MarkdownLabel(RichLabel):
    """Shows the newest markdown asked for; Copy links of its code blocks copy them."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.code_blocks: list[str] = []
        self.rendering = False     # a render of a long text is on the thread pool
        self.wanted = ""          # the newest text asked for
        self._remember = False
        self._shown = False
        self.linkActivated.connect(self._copy_link)

    def show_markdown(self, text: str, finished: bool) -> None:
        """Finished texts are cached (reopening a chat does not pay again); streaming prefixes are not."""
        self.wanted, self._remember = text, finished
        hit = markdown.cached(text)
        if hit is None and len(text) <= SYNC_CHARS:
            hit = markdown.render(text, finished)
        if hit is not None:
            self._show(hit)
        elif not self.rendering:
            if not self._shown:
                self._show((markdown.plain_block(text), []))   # readable at once; formatted when ready
            self.rendering = True
            _background().request(self, text, finished)
        # else: the render in flight comes back to rendered(), which asks again for the newest text

    def preview_shown(self) -> None:
        """The label shows the start of its text: a long one stays so until its render is ready,
        rather than being laid out twice (plain, then formatted: ~50 ms each for 20,000 characters)."""
        self._shown = True

    def rendered(self, text: str, result: tuple[str, list[str]]) -> None:
        start = time.perf_counter()
        self._show(result)
        if self.isVisible():   # lay it out now, at its real width, to know what it cost
            self.heightForWidth(self.width())
        if text == self.wanted:
            self.rendering = False
        else:   # more text came meanwhile: render it, after a pause that keeps layout's share small
            spent_ms = (time.perf_counter() - start) * 1000
            QTimer.singleShot(int(spent_ms / RENDER_SHARE), self, self._render_newest)

    def _render_newest(self) -> None:
        self.rendering = False
        self.show_markdown(self.wanted, self._remember)

    def _show(self, result: tuple[str, list[str]]) -> None:
        body, self.code_blocks = result
        self._shown = True
        shown = markdown.wrappable(body)
        if shown != self.text():   # a long plain text comes back from the pool unchanged
            self.setText(shown)

    def _copy_link(self, url: str) -> None:
        if url.startswith("copy:"):
            index = int(url[5:])
            if 0 <= index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])
