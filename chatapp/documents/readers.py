"""The one registry of document readers: file suffix -> reader, with the label the UI's file filter and help show."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Callable

from .extract import Extracted, Section, decode_text, non_empty

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".log", ".json", ".yaml", ".yml",
                 ".toml", ".ini", ".cfg", ".conf", ".xml", ".tex", ".org")
CODE_SUFFIXES = (".py", ".pyi", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".java", ".kt", ".go", ".rs",
                 ".js", ".jsx", ".ts", ".tsx", ".rb", ".php", ".swift", ".m", ".scala", ".sh", ".bash",
                 ".zsh", ".ps1", ".sql", ".lua", ".pl", ".r", ".jl", ".dart", ".css", ".scss", ".vue")


@dataclass(frozen=True)
class Reader:
    kind: str                  # stored with the document ("pdf", "docx"...)
    label: str                 # what users call it, for help text and tooltips
    suffixes: tuple[str, ...]
    read: Callable[[bytes, Callable[[], bool]], Extracted]   # bytes, should_stop -> Extracted or DocumentError


def _in(module: str) -> Callable[[bytes, Callable[[], bool]], Extracted]:
    """read() of chatapp.documents.<module>, imported on first use: a new type is a module plus one row below."""
    def read(data: bytes, should_stop: Callable[[], bool]) -> Extracted:
        return import_module(f".{module}", __package__).read(data, should_stop)
    return read


def _plain(kind: str) -> Callable[[bytes, Callable[[], bool]], Extracted]:
    def read(data: bytes, _should_stop: Callable[[], bool]) -> Extracted:
        return non_empty(Extracted(kind, [Section(decode_text(data))]))
    return read


READERS: tuple[Reader, ...] = (
    Reader("text", "text", TEXT_SUFFIXES, _plain("text")),
    Reader("code", "code", CODE_SUFFIXES, _plain("code")),
    Reader("pdf", "PDF", (".pdf",), _in("pdf")),
    Reader("html", "web pages", (".html", ".htm", ".xhtml"), _in("html_text")),
    Reader("docx", "Word", (".docx",), _in("word")),
    Reader("odt", "OpenDocument text", (".odt",), _in("odt")),
    Reader("epub", "EPUB", (".epub",), _in("epub")),
    Reader("pptx", "PowerPoint", (".pptx",), _in("pptx")),
    Reader("xlsx", "Excel", (".xlsx", ".xlsm"), _in("xlsx")),
    Reader("csv", "CSV", (".csv", ".tsv"), _in("tables")),
)
_BY_SUFFIX = {suffix: r for r in READERS for suffix in r.suffixes}
SUPPORTED = frozenset(_BY_SUFFIX)


def reader_for(path: str | Path) -> Reader | None:
    return _BY_SUFFIX.get(Path(path).suffix.lower())


def kinds_label() -> str:
    """'text, code, PDF, web pages, Word, ...': the readers in the order above."""
    return ", ".join(r.label for r in READERS)


def file_filter() -> str:
    """The file dialog's filter: every suffix a reader claims, then all files."""
    return f"Documents ({' '.join('*' + s for s in _BY_SUFFIX)});;All files (*)"
