"""Opening a chat costs what is on screen: the conversation view's bubbles far from the viewport
show only the start of their text until the user comes near them (a ConversationView mixin)."""
from __future__ import annotations

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent

from .bubble_base import MessageWidget, slices

# A page's bubbles are made with only the start of their text (cheap), and those in or near the
# viewport get their whole text, rendered, in slices of the GUI thread's time. 15 hostile replies
# cost 0.4-0.6 s in one frame when all were laid out at once.
NEAR_SCREENS = 0.5       # how far above and below the viewport bubbles are realized, in viewport heights


class NearScreen:
    """Uses the view's widgets, column, follow, _message_widgets, _hold_anchor, _anchor and _apply_anchor."""

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._realize_near()   # a chat opened before the window was shown (start-up)

    def _realize_near(self) -> None:
        # Only while some bubble waits for its text: a streaming reply changes the range every frame.
        if any(getattr(w, "deferred", False) for w in self.widgets.values()):
            slices().add(self._realize_one)

    def _realize_one(self) -> bool:
        """Give one deferred bubble in or near the viewport its whole text; True while there may be
        more (the shared GUI slices call it again, within their budget per event-loop turn)."""
        if not shiboken6.isValid(self) or not self.isVisible() or (w := self._next_to_realize()) is None:
            return False
        if not self.follow:
            self._hold_anchor()           # what the user reads stays where it is while bubbles above grow
        w.realize()
        self.realized_count += 1
        # Laid out now, at its real width (cached), so this slice pays for it, not one later frame.
        w.heightForWidth(self.column.width())
        if self._anchor is not None:
            self._apply_anchor()
        return True

    def _next_to_realize(self) -> MessageWidget | None:
        # Positions and the scroll range as they are now (the last bubble realized grew): the
        # layout requests it posted, up the column to the scroll area, are handled at once.
        for _ in range(3):
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        height = self.viewport().height()
        top = self.verticalScrollBar().value() - self.column.y()
        margin = height * NEAR_SCREENS
        shown, above, below = [], [], []
        for w in self._message_widgets():
            y, end = w.y(), w.geometry().bottom()
            if end < top - margin or y > top + height + margin:
                continue
            if getattr(w, "_rendering", False):
                return None     # its height is not known until its render is shown: what is near then may change
            if getattr(w, "deferred", False):
                (shown if end >= top and y <= top + height else above if end < top else below).append(w)
        # On screen first, from the end the user reads from (a bubble that grows pushes the others
        # away from there), then the nearest above (the anchor keeps the screen still), then below.
        if shown:
            return shown[-1] if self.follow else shown[0]
        return above[-1] if above else below[0] if below else None
