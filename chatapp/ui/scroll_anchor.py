"""Keeping the bubble the user reads in place while bubbles above it come, go or grow (a mixin of the view)."""
from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QObject

from .bubble_base import MessageWidget


class ScrollAnchor:
    """The anchor is (bubble, its offset from the top of the screen), held until the user scrolls.

    The anchored bubble's own Move event puts the view back at once: a bubble above it that grows moves
    it in the column's layout pass, and the scroll range catches up only in a later pass (posted layout
    requests up to the scroll area). Waiting for the range change left a turn of the event loop in which
    the bubble had moved and the view had not: a frame drawn then jumped (seen on a busy machine).
    """

    _anchor_held: tuple[MessageWidget, int] | None = None
    _anchoring = False

    @property
    def _anchor(self) -> tuple[MessageWidget, int] | None:
        return self._anchor_held

    @_anchor.setter
    def _anchor(self, anchor: tuple[MessageWidget, int] | None) -> None:
        old = self._anchor_held
        if old is not None and shiboken6.isValid(old[0]):
            old[0].removeEventFilter(self)
        self._anchor_held = anchor
        if anchor is not None:
            anchor[0].installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        anchor = self._anchor_held
        if (event.type() == QEvent.Type.Move and anchor is not None and obj is anchor[0]
                and not self._anchoring):
            self._scroll_to_anchor(anchor)
        return super().eventFilter(obj, event)

    def _top_visible(self) -> MessageWidget | None:
        top = self.verticalScrollBar().value()
        for w in self._message_widgets():
            if w.geometry().bottom() >= top:
                return w
        return None

    def _hold_anchor(self) -> None:
        """Keep the bubble at the top of the screen where it is while bubbles come and go around it.

        Held until the user scrolls: late layout passes (a label's height settling) still apply it.
        """
        w = self._top_visible()
        if w is not None and self._anchor is None:
            self._anchor = (w, w.y() - self.verticalScrollBar().value())

    def _apply_anchor(self) -> None:
        w, _offset = self._anchor
        if not (shiboken6.isValid(w) and self.widgets.get(w.message.id) is w):
            self._anchor = None
            return
        # The bubbles' positions are updated by the column's own pending layout pass, which may
        # come after the scroll range changed: run it now, so the anchor reads where w really is.
        self.column_layout.activate()
        self._scroll_to_anchor(self._anchor)

    def _scroll_to_anchor(self, anchor: tuple[MessageWidget, int]) -> None:
        w, offset = anchor
        self._anchoring = True
        try:
            self.verticalScrollBar().setValue(w.y() - offset)
        finally:
            self._anchoring = False
