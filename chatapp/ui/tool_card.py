"""The tool card: a call the assistant made, in the open: the tool, its arguments (editable, Run again), its state
(asking with Allow once / Always / Deny, running with progress, done, failed, denied, cancelled) and its result."""
from __future__ import annotations

import json
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from ..conversation import Message
from .bubble_actions import TOOL
from .bubble_base import DISPLAY_LIMIT, MessageWidget, clipped, link_button

STATES = {"asking": "Asks to run: allow it?", "running": "Running…", "done": "Done", "failed": "⚠ Failed",
          "denied": "Denied", "cancelled": "Cancelled"}
OPEN_WHEN = ("asking", "running", "failed")   # states whose card opens by itself; the others show one line
ARG_LINES = 10          # the arguments box grows to this many lines, then scrolls
SUMMARY_CHARS = 90      # a closed card's line of result


def pretty(arguments: str) -> str:
    """The call's JSON arguments, indented to read and edit; as the model wrote them when they are not JSON."""
    try:
        return json.dumps(json.loads(arguments or "{}"), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return arguments


def compact(text: str) -> str:
    """Edited arguments as the model's JSON text (one line); text that is not JSON goes as typed (the tool says so)."""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


class ToolCard(MessageWidget):
    def __init__(self, message: Message, parent=None):
        super().__init__(message, parent)
        self.setObjectName("toolCard")
        self._opened: bool | None = None   # the user's choice; None: by the state
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        head = QHBoxLayout()
        self.toggle = link_button("", self, "Show or hide the call's details")
        self.toggle.setObjectName("toolName")
        self.toggle.clicked.connect(self._on_toggle)
        self.state = QLabel(self)
        self.state.setObjectName("toolState")
        self.state.setTextFormat(Qt.TextFormat.PlainText)
        head.addWidget(self.toggle)
        head.addStretch(1)
        head.addWidget(self.state)
        layout.addLayout(head)
        self.summary = QLabel(self)   # closed: the result's first line
        self.summary.setObjectName("messageFooter")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.summary)
        self.body = QWidget(self)
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(4)
        self.arguments = QPlainTextEdit(self.body)
        self.arguments.setObjectName("toolArguments")
        self.arguments.setAccessibleName("The call's arguments (edit them, then Run again)")
        self.arguments.setTabChangesFocus(True)
        body.addWidget(self.arguments)
        row = QHBoxLayout()
        self.progress = QProgressBar(self.body)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress_text = QLabel(self.body)
        self.progress_text.setObjectName("messageFooter")
        row.addWidget(self.progress, 1)
        row.addWidget(self.progress_text)
        body.addLayout(row)
        self.result = QLabel(self.body)
        self.result.setObjectName("toolResult")
        self.result.setTextFormat(Qt.TextFormat.PlainText)
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body.addWidget(self.result)
        actions = QHBoxLayout()
        self.add_action_buttons(TOOL, self.body, actions)   # Allow once, Always, Deny, Run again, Stop: bubble_actions
        actions.addStretch(1)
        body.addLayout(actions)
        run_again = self.action_buttons.get("tool_run_again")
        if run_again is not None:   # it runs the arguments as edited in the box, not as saved
            run_again.clicked.disconnect()
            run_again.clicked.connect(self._run_again)
        layout.addWidget(self.body)
        self.update_message(message)

    def update_message(self, message: Message) -> None:
        super().update_message(message)
        m, state = message, message.meta.get("state", "done")
        self.toggle.setText(f"{'▾' if self._open() else '▸'}  ⚙ {m.meta.get('name', 'tool')}")
        self.state.setText(STATES.get(state, state))
        self.setProperty("state", state)
        self.style().unpolish(self)
        self.style().polish(self)
        running = state == "running"
        self.progress.setVisible(running)
        self.progress_text.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
            self.progress_text.setText("")
        final = state not in ("asking", "running")
        if not (final and self.arguments.document().isModified()):   # the user's edit stays until Run again
            self.arguments.setPlainText(pretty(m.meta.get("arguments", "")))
        self.arguments.setReadOnly(not final)   # what runs is what is shown
        lines = max(1, min(ARG_LINES, self.arguments.document().blockCount()))
        self.arguments.setFixedHeight(lines * self.arguments.fontMetrics().lineSpacing() + 14)
        text, more = clipped(m.content) if m.content else ("", "")
        self.result.setText(text + (f"\n{more}" if more else ""))
        self.result.setVisible(bool(m.content))
        first = m.content.strip().split("\n", 1)[0] if m.content else ""
        self.summary.setText(first if len(first) <= SUMMARY_CHARS else first[:SUMMARY_CHARS - 1] + "…")
        self.show_action_buttons(m)
        self._show_open()

    def set_progress(self, text: str, fraction) -> None:
        """A running call's line of state and how far it is (None: busy)."""
        if self.message.meta.get("state") != "running":
            return
        if fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        self.progress_text.setText(text[:DISPLAY_LIMIT])

    def _open(self) -> bool:
        return self._opened if self._opened is not None else self.message.meta.get("state") in OPEN_WHEN

    def _show_open(self) -> None:
        opened = self._open()
        self.body.setVisible(opened)
        self.summary.setVisible(not opened and bool(self.summary.text()))
        self.toggle.setText(("▾" if opened else "▸") + self.toggle.text()[1:])

    def _on_toggle(self) -> None:
        self._opened = not self._open()
        self._show_open()

    def edited_arguments(self) -> str:
        return compact(self.arguments.toPlainText())

    def _run_again(self) -> None:
        edited = replace(self.message, meta={**self.message.meta, "arguments": self.edited_arguments()})
        self.action.emit("tool_run_again", edited)
