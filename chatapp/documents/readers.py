"""The one registry of document readers: file suffix -> reader, with the label the UI's file filter and help show."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import epub, html_text, odt, pdf, pptx, tables, word, xlsx
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


def _plain(kind: str) -> Callable[[bytes, Callable[[], bool]], Extracted]:
    def read(data: bytes, _should_stop: Callable[[], bool]) -> Extracted:
        return non_empty(Extracted(kind, [Section(decode_text(data))]))
    return read


READERS: tuple[Reader, ...] = (
    Reader("text", "text", TEXT_SUFFIXES, _plain("text")),
    Reader("code", "code", CODE_SUFFIXES, _plain("code")),
    Reader("pdf", "PDF", (".pdf",), pdf.read),
    Reader("html", "web pages", (".html", ".htm", ".xhtml"), html_text.read),
    Reader("docx", "Word", (".docx",), word.read),
    Reader("odt", "OpenDocument text", (".odt",), odt.read),
    Reader("epub", "EPUB", (".epub",), epub.read),
    Reader("pptx", "PowerPoint", (".pptx",), pptx.read),
    Reader("xlsx", "Excel", (".xlsx", ".xlsm"), xlsx.read),
    Reader("csv", "CSV", (".csv", ".tsv"), tables.read),
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
