"""Export and import for the window (no Qt): the save dialog's choices from the exporters' registry, and the
jobs the store thread (workers.store_calls) runs, each on its own connection. The window's one way into store/."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .store import exporters


def save_choices() -> tuple[dict[str, str], str]:
    """The save dialog's filters ('HTML page (*.html *.htm)' -> key, the first the default) and a new file's suffix."""
    first = next(iter(exporters.EXPORTERS.values()))
    return exporters.dialog_filters(), first.suffixes[0]


def format_for(target: str, chosen_filter: str) -> str:
    """The format to write: the typed suffix wins over the filter left selected."""
    return exporters.for_path(target) or exporters.dialog_filters().get(chosen_filter, next(iter(exporters.EXPORTERS)))


def export_job(database: Path, ids: list[int] | None, fmt: str, target: str) -> Callable[[], str]:
    """Write conversations ids (None: all) to target; the job returns what to tell the user."""
    def job() -> str:
        from .store import open_storage
        from .store.export import export
        storage = open_storage(database)
        try:
            summary = export(storage, ids, fmt, Path(target))
            return f"Exported {summary.counts()} to {Path(target).name}. {summary.warning}".strip()
        finally:
            storage.close()
    return job


def import_job(database: Path, images: Path, source: str) -> Callable[[], str]:
    """Add the conversations of a chatapp JSON export or a ChatGPT conversations.json; the job says what came in."""
    def job() -> str:
        from .store import describe_import, open_storage
        from .store.ingest import import_file
        storage = open_storage(database)
        try:
            return describe_import(import_file(storage, Path(source), images), source)
        finally:
            storage.close()
    return job
