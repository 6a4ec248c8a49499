"""The one registry of document readers: file suffix -> reader, with the label the UI's file filter and help show."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Callable

from ..registry import Registry
from .extract import Extracted, Section, decode_text, non_empty

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".log", ".json", ".yaml", ".yml",
                 ".toml", ".ini", ".cfg", ".conf", ".xml", ".tex", ".org")
CODE_SUFFIXES = (".py", ".pyi", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".java", ".kt", ".go", ".rs",
                 ".js", ".jsx", ".ts", ".tsx", ".rb", ".php", ".swift", ".m", ".scala", ".sh", ".bash",
                 ".zsh", ".ps1", ".sql", ".lua", ".pl", ".r", ".jl", ".dart", ".css", ".scss", ".vue")


@dataclass(frozen=True)
class Reader:
    label: str                 # what users call it, for help text and tooltips
    suffixes: tuple[str, ...]
    read: Callable[[bytes, Callable[[], bool]], Extracted]   # bytes, should_stop -> Extracted or DocumentError
    unit: str = "page"         # what Extracted.pages counts, for the file's chip ("12 slides")


def _in(module: str) -> Callable[[bytes, Callable[[], bool]], Extracted]:
    """read() of chatapp.documents.<module>, imported on first use: a new type is a module plus one line below."""
    def read(data: bytes, should_stop: Callable[[], bool]) -> Extracted:
        return import_module(f".{module}", __package__).read(data, should_stop)
    return read


def _plain(kind: str) -> Callable[[bytes, Callable[[], bool]], Extracted]:
    def read(data: bytes, _should_stop: Callable[[], bool]) -> Extracted:
        return non_empty(Extracted(kind, [Section(decode_text(data))]))
    return read


# The name is the kind stored with each document ("pdf", "docx"...); the order is the help's and the tooltip's.
READERS: Registry[Reader] = Registry("document reader")
READERS.register("text", Reader("text", TEXT_SUFFIXES, _plain("text")))
READERS.register("code", Reader("code", CODE_SUFFIXES, _plain("code")))
READERS.register("pdf", Reader("PDF", (".pdf",), _in("pdf")))
READERS.register("html", Reader("web pages", (".html", ".htm", ".xhtml"), _in("html_text")))
READERS.register("docx", Reader("Word", (".docx",), _in("word")))
READERS.register("odt", Reader("OpenDocument text", (".odt",), _in("odt")))
READERS.register("epub", Reader("EPUB", (".epub",), _in("epub")))
READERS.register("pptx", Reader("PowerPoint", (".pptx",), _in("pptx"), unit="slide"))
READERS.register("xlsx", Reader("Excel", (".xlsx", ".xlsm"), _in("xlsx")))
READERS.register("csv", Reader("CSV", (".csv", ".tsv"), _in("tables")))
READERS.register("ipynb", Reader("Jupyter notebooks", (".ipynb",), _in("notebook"), unit="cell"))


_index: tuple[tuple, dict[str, Reader]] = ((), {})


def _by_suffix() -> dict[str, Reader]:
    """suffix -> reader, built again only when the registry changed (a library walk asks once per file)."""
    global _index
    entries = tuple(READERS.items())
    if entries != _index[0]:
        _index = (entries, {suffix: r for _kind, r in entries for suffix in r.suffixes})
    return _index[1]


def reader_for(path: str | Path) -> Reader | None:
    return _by_suffix().get(Path(path).suffix.lower())


def kinds_label() -> str:
    """'text, code, PDF, web pages, Word, ...': the readers in the order above."""
    return ", ".join(r.label for r in READERS.values())


def file_filter() -> str:
    """The file dialog's filter: every suffix a reader claims, then all files."""
    return f"Documents ({' '.join('*' + s for s in _by_suffix())});;All files (*)"
