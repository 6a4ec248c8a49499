"""The one registry of export formats: `chatapp export --format`, its help and the window's save dialog read it."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from . import StoreError


@dataclass(frozen=True)
class Exporter:
    key: str                    # `chatapp export --format KEY`
    label: str                  # the save dialog's filter name
    suffixes: tuple[str, ...]   # the first is the one a new file gets
    writer: str                 # "module:function" in chatapp.store, imported when used (the PDF one needs Qt)
    about: str                  # what it keeps, for `chatapp export --help`

    def write(self, storage, convs, out: Path):
        """convs -> out, a Summary; the function is (storage, [Conversation], Path) -> Summary."""
        module, _, name = self.writer.partition(":")
        return getattr(import_module(f".{module}", __package__), name)(storage, convs, out)


EXPORTERS: tuple[Exporter, ...] = (
    Exporter("html", "HTML page", (".html", ".htm"), "export:to_html", "the branch shown, one page, pictures inside"),
    Exporter("md", "Markdown", (".md", ".markdown"), "export:to_markdown", "the branch shown, pictures beside it"),
    Exporter("json", "JSON, every branch", (".json",), "export:to_json", "every branch, re-importable"),
)
KEYS = tuple(e.key for e in EXPORTERS)


def exporter(key: str) -> Exporter:
    for e in EXPORTERS:
        if e.key == key:
            return e
    raise StoreError(f"Unknown export format {key!r}; use one of {', '.join(KEYS)}.")


def for_path(path: str | Path) -> Exporter | None:
    """The format a file name asks for by its suffix, if any."""
    suffix = Path(path).suffix.lower()
    return next((e for e in EXPORTERS if suffix in e.suffixes), None)


def dialog_filters() -> dict[str, str]:
    """'HTML page (*.html *.htm)' -> 'html', in the registry's order (the first is the dialog's default)."""
    return {f"{e.label} ({' '.join('*' + s for s in e.suffixes)})": e.key for e in EXPORTERS}


def help_text() -> str:
    """'html: the branch shown, ...; md: ...' for the --format flag."""
    return "; ".join(f"{e.key}: {e.about}" for e in EXPORTERS)
