"""Conversations in and out of the app: export (exporters.EXPORTERS) and import (ours, ChatGPT); Qt-free at import."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class StoreError(Exception):
    """A file that cannot be exported or imported, said so the user can act on it."""


@dataclass
class Summary:
    """What an export or import did, for the command line and the notice in the window."""
    conversations: int = 0
    messages: int = 0
    pictures: int = 0
    skipped: int = 0          # import: conversations already imported earlier, with nothing new
    updated: int = 0          # import: conversations imported earlier that got new turns (counted in messages)
    damaged: list[str] = field(default_factory=list)   # import: 'conversation N ("Title"): why' for each left out
    warning: str = ""         # something the user should know although it worked

    def counts(self) -> str:
        def n(k, word):
            return f"{k} {word}{'' if k == 1 else 's'}"
        return f"{n(self.conversations, 'conversation')} ({n(self.messages, 'message')}, {n(self.pictures, 'picture')})"


def describe_import(summary: Summary, path) -> str:
    """What an import did, in one sentence for the command line and the window."""
    text = f"Imported {summary.counts()} from {Path(path).name}"
    if summary.updated:
        text += (f"; {summary.updated} imported before got their new turns"
                 if summary.updated > 1 else "; 1 imported before got its new turns")
    if summary.skipped:
        text += f"; {summary.skipped} already imported before, skipped"
    if summary.damaged:
        # Named one by one: the user can look for them in the other app.
        shown = "; ".join(summary.damaged[:5]) + (f"; and {len(summary.damaged) - 5} more"
                                                  if len(summary.damaged) > 5 else "")
        text += f". {len(summary.damaged)} could not be read and {'was' if len(summary.damaged) == 1 else 'were'} " \
                f"left out: {shown}"
    return text + "."


def open_storage(database: Path, busy_ms: int = 10_000):
    """A connection of its own (another thread or process may hold the app's), patient when the app writes."""
    from ..storage import Storage
    # WAL lets readers and one writer share the file; a writer waits this long for the app's short writes.
    return Storage(database, busy_timeout=busy_ms / 1000)
