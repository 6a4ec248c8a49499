"""The one registry of export formats: `chatapp export --format`, its help and the window's save dialog read it."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from ..registry import Registry
from . import StoreError


@dataclass(frozen=True)
class Exporter:
    label: str                  # the save dialog's filter name
    suffixes: tuple[str, ...]   # the first is the one a new file gets
    writer: str                 # "module:function" in chatapp.store, imported when used (the PDF one needs Qt)
    about: str                  # what it keeps, for `chatapp export --help`

    def write(self, storage, convs, out: Path):
        """convs -> out, a Summary; the function is (storage, [Conversation], Path) -> Summary."""
        module, _, name = self.writer.partition(":")
        return getattr(import_module(f".{module}", __package__), name)(storage, convs, out)


# The name is `--format NAME`; the first format is the save dialog's default.
EXPORTERS: Registry[Exporter] = Registry("export format")
EXPORTERS.register("html", Exporter("HTML page", (".html", ".htm"), "export:to_html", "the branch shown, pictures inside"))
EXPORTERS.register("md", Exporter("Markdown", (".md", ".markdown"), "export:to_markdown", "the branch shown, pictures beside"))
EXPORTERS.register("json", Exporter("JSON, every branch", (".json",), "export:to_json", "every branch, re-importable"))
EXPORTERS.register("pdf", Exporter("PDF document", (".pdf",), "pdf:to_pdf", "the branch shown, printable, pictures inside"))


def exporter(key: str) -> Exporter:
    if key not in EXPORTERS:
        raise StoreError(f"Unknown export format {key!r}; use one of {', '.join(EXPORTERS)}.")
    return EXPORTERS[key]


def for_path(path: str | Path) -> str | None:
    """The format a file name asks for by its suffix, if any."""
    suffix = Path(path).suffix.lower()
    return next((key for key, e in EXPORTERS.items() if suffix in e.suffixes), None)


def dialog_filters() -> dict[str, str]:
    """'HTML page (*.html *.htm)' -> 'html', in the registry's order."""
    return {f"{e.label} ({' '.join('*' + s for s in e.suffixes)})": key for key, e in EXPORTERS.items()}


def help_text() -> str:
    """'html: the branch shown, ...; md: ...' for the --format flag."""
    return "; ".join(f"{key}: {e.about}" for key, e in EXPORTERS.items())
