"""One widget per message: text bubbles (markdown, rendered off the GUI thread when long); the rest is re-exported."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout

from ..conversation import ERROR, STOPPED, STREAMING, Message, not_included_note, unfinished_note
from . import markdown
from .bubble_base import (DISPLAY_LIMIT, DISPLAY_LINES, SAFE_SCHEMES, THUMB, USER_MAX_WIDTH, BranchSwitcher, MessageWidget,  # noqa: F401
                          RichLabel, clipped, link_button, open_link)
from .image_bubble import ImageBubble, PictureLabel, scaled_for_display  # noqa: F401
from .markdown_label import MarkdownLabel
from .sources import SourceList, passages_note
from .thinking_box import ThinkingBox
from .user_pictures import PictureRow, pictures_of

CHUNK_CHARS = 1_200   # while streaming, finished blocks join the last label until it holds this much
WIDEST_LINES = 64     # a user bubble's width is that of its longest lines, by characters
PREVIEW_CHARS = 120   # what a bubble far from the screen shows until it comes near (cheap to lay out)


def ideal_width(text: str, metrics) -> int:
    """How wide a plain text is unwrapped. A QTextDocument laid out just to ask (idealWidth) cost
    ~0.1 s for a paste of 100,000 short lines; the longest lines by characters decide it."""
    lines = sorted(set(text.split("\n")), key=len, reverse=True)[:WIDEST_LINES]
    return max((metrics.horizontalAdvance(line) for line in lines), default=0)


class TextBubble(MessageWidget):
    def __init__(self, message: Message, parent=None, deferred: bool = False):
        super().__init__(message, parent)
        # A bubble of an opened page shows its start, plain, until the view brings it near the
        # screen (realize()): opening a chat of long hostile replies lays out only what is seen.
        self.deferred = deferred and message.status != STREAMING
        self._split: markdown.StreamSplit | None = None   # while streaming: where the finished blocks end
        self.tail: MarkdownLabel | None = None   # while streaming: the unfinished last block, laid out alone
        self._chunks: list[MarkdownLabel] = []   # while streaming: the finished blocks, a label each
        # The styled box sits in a full-width row: a user's box is pushed right by a stretch,
        # which (unlike layout alignment) still lets wrapped text grow in height.
        self.box = QFrame(self)
        self.box.setObjectName("userBubble" if message.role == "user" else
                               "noticeBubble" if message.role == "notice" else "assistantBubble")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        if message.role == "user":
            row.addStretch(1)
            self.box.setMaximumWidth(USER_MAX_WIDTH + 28)
        row.addWidget(self.box, 0 if message.role == "user" else 1)
        layout = QVBoxLayout(self.box)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)
        self.label = MarkdownLabel(self.box)
        self.label.fills_width = message.role != "user"
        self.label.linkActivated.connect(open_link)
        layout.addWidget(self.label)
        self.footer = QLabel(self.box)
        self.footer.setObjectName("messageFooter")
        self.footer.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.footer)
        self.sources = None         # passages from the user's files this reply was given (made when there are some)
        self.thinking: ThinkingBox | None = None   # a reasoning model's thinking (made when a reply has some)
        self.pictures = None        # a user's pictures under the text (made when the message has some)
        self.switcher = self._actions = None
        if message.role in ("user", "assistant"):   # Copy, Regenerate / Edit, Delete: bubble_actions
            row = self._actions = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            self.add_action_buttons(message.role, self.box, row)
            row.addStretch(1)
            layout.addLayout(row)
        self.regenerate_button = self.action_buttons.get("regenerate")
        self.edit_button = self.action_buttons.get("edit")
        self.update_message(message)

    def realize(self) -> None:
        """Show the whole text (rendered), if it was deferred."""
        if self.deferred:
            self.deferred = False
            self.set_text(self.message.content)

    def set_text(self, text: str) -> None:
        if self.deferred and self.message.status != STREAMING:
            # One short line: made before the bubble has its width, it is laid out ~100 px wide.
            self.label.setText(markdown.plain_html(" ".join(text[:PREVIEW_CHARS].split())))
            self.label.preview_shown()
            return
        self.deferred = False
        text, more = clipped(text, DISPLAY_LINES if self.message.role == "user" else None)
        if more:
            self.footer.setText(more)
            self.footer.show()
        if self.message.role == "user":
            html = markdown.plain_html(text)
            self.label.setText(html)
            # A right-aligned bubble gets only its size hint, which for wrapped rich text is
            # narrow: ask for the text's natural width, up to a readable maximum.
            self.label.ensurePolished()  # the stylesheet's font size applies from here on
            self.label.hint_width = min(ideal_width(text, self.label.fontMetrics()) + 4, USER_MAX_WIDTH)
            self.label.setMinimumWidth(self.label.hint_width)
            return
        if self.message.status == STREAMING and self.message.role == "assistant":
            if text and self.thinking is not None and self.thinking.live:   # the answer began: thinking closes
                self.thinking.show_done(self.thinking.full, None)
            self._show_streaming(text)
            return
        if self.tail is not None:   # finished: one label again, so a selection can span the whole reply
            for part in (*self._chunks, self.tail):
                part.hide()
                part.deleteLater()
            self.tail, self._split, self._chunks = None, None, []
        self.label.show()
        self.label.show_markdown(text, True)

    def set_thinking(self, text: str) -> None:
        """A reasoning model's thinking so far, while the reply streams."""
        if self.thinking is None:
            self.thinking = ThinkingBox(self.box)
            self.box.layout().insertWidget(0, self.thinking)
            self.thinking.show()   # made after the bubble was shown: a new child stays hidden until told
        if self.message.status == STREAMING and self.tail is None:
            self.label.hide()   # no answer yet: the box says it is thinking
            self.thinking.show_live(text)

    def _show_pictures(self, pictures: list[dict]) -> None:
        if self.pictures is not None and self.pictures.pictures == pictures:
            return
        if self.pictures is not None:
            self.pictures.hide()
            self.pictures.deleteLater()
            self.pictures = None
        if pictures:
            self.pictures = PictureRow(pictures, self.box)
            layout = self.box.layout()
            layout.insertWidget(layout.indexOf(self.label) + 1, self.pictures)
        self.label.setVisible(bool(self.message.content) or not pictures)   # pictures alone: no empty line above

    def _show_streaming(self, text: str) -> None:
        """Each finished block gets a label of its own, rendered and laid out once; only the
        unfinished last block is redone per update. Laying out one label with the whole reply cost
        50-140 ms per update at 5,000-14,000 characters of HTML; this way a long reply costs the
        GUI thread the same per token as a short one."""
        layout = self.box.layout()
        if self.tail is None:
            self._split = markdown.StreamSplit()
            self.tail = self._part()
            layout.insertWidget(layout.indexOf(self.label) + 1, self.tail)
            self.label.hide()
        cut = self._split.feed(text)
        done = sum(len(c.wanted) for c in self._chunks)
        if cut > done:
            last = self._chunks[-1] if self._chunks else None
            if last is not None and len(last.wanted) < CHUNK_CHARS:
                # Short blocks share a label: a reply of 2,000 one-line blocks must not become 2,000 widgets.
                last.show_markdown(last.wanted + text[done:cut], False)
            else:
                chunk = self._part()
                chunk.setContentsMargins(0, 0, 0, 8)   # with the layout's 4: the gap Qt puts between blocks
                layout.insertWidget(layout.indexOf(self.tail), chunk)
                chunk.show_markdown(text[done:cut], False)
                self._chunks.append(chunk)
        self.tail.show_markdown(text[cut:], False)

    def _part(self) -> MarkdownLabel:
        part = MarkdownLabel(self.box)
        part.fills_width = True
        part.linkActivated.connect(open_link)
        return part

    @property
    def code_blocks(self) -> list[str]:
        return [code for part in (self.label, *self._chunks, *filter(None, [self.tail])) for code in part.code_blocks]

    @property
    def _rendering(self) -> bool:
        return any(part.rendering for part in (self.label, *self._chunks, *filter(None, [self.tail])))

    def shown_html(self) -> str:
        """What the bubble shows (tests and screenshots read it): the whole text, so a deferred bubble is realized."""
        self.realize()
        parts = [self.label] if self.tail is None else [*self._chunks, self.tail]
        return "".join(part.text() for part in parts).replace("\u200b", "")   # break points are not text

    def update_message(self, message: Message) -> None:
        super().update_message(message)
        m = message
        if m.meta.get("reasoning") and m.status != STREAMING:
            self.set_thinking(m.meta["reasoning"])
            # Open where it is all there is: a model may have answered inside a thinking it never closed.
            alone = not m.content.strip() and not m.meta.get("tool_calls")
            self.thinking.show_done(m.meta["reasoning"], m.meta.get("thought_s"), open_=alone or None)
        if m.status == STREAMING and not m.content and self.thinking is not None:
            pass   # the thinking box shows what is happening
        elif m.status == STREAMING and not m.content:
            waiting = m.meta.get("waiting")
            self.label.setText("<i>Waiting for the model to load…</i>" if waiting else "<i>Thinking…</i>")
        elif not m.content and m.meta.get("tool_calls"):   # a reply that only called tools: their cards follow
            names = ", ".join(str(c.get("function", {}).get("name", "")) for c in m.meta["tool_calls"]
                              if isinstance(c, dict))
            self.label.setText(markdown.plain_html(f"Using {names}…"))
        else:
            self.set_text(m.content)
            if self.thinking is not None and not m.content:   # stopped while it thought: no empty line
                self.label.hide()
        dropped = m.meta.get("dropped")
        footer = " · ".join(part for part in (
            {STOPPED: "Stopped", ERROR: "⚠ Could not answer"}.get(m.status, ""),
            clipped(m.content, DISPLAY_LINES if m.role == "user" else None)[1],
            f"{dropped} older messages were left out to fit the model's context" if dropped else "",
            not_included_note(m.meta), unfinished_note(m.meta, m.content),
            passages_note(m.meta)) if part)
        if m.meta.get("sources") and self.sources is None:
            # Made only for replies that used the user's files: a long chat builds many bubbles.
            self.sources = SourceList(self.box)
            box_layout = self.box.layout()
            box_layout.insertWidget(box_layout.indexOf(self.footer) + 1, self.sources)
        if self.sources is not None:
            self.sources.set_sources(m.meta.get("sources"))
        if m.role == "user":
            self._show_pictures(pictures_of(m.meta))
        self.footer.setText(footer)
        self.footer.setVisible(bool(footer))
        self.show_action_buttons(m)
        if self.switcher is None and m.branch[1] > 1 and self._actions is not None:
            # Made only when needed: most messages have no other versions, and a long chat
            # builds many bubbles.
            self.switcher = BranchSwitcher(self)
            self._actions.insertWidget(0, self.switcher)
        if self.switcher is not None:
            self.switcher.show_branch(m.branch)
