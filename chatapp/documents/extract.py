"""Text out of a file, with where each piece came from (PDF page, line number); bad files get a clear reason."""
from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .html_text import html_to_text

MAX_FILE_BYTES = 64 * 1024 * 1024        # bigger files are refused, not read into memory
MAX_DOCX_UNPACKED = 256 * 1024 * 1024    # a .docx that unpacks to more is treated as a zip bomb
MAX_DOCX_RATIO = 200                     # ...and so is one that compresses better than this

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".log", ".json", ".yaml", ".yml",
                 ".toml", ".ini", ".cfg", ".conf", ".xml", ".tex", ".org"}
CODE_SUFFIXES = {".py", ".pyi", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".java", ".kt", ".go", ".rs",
                 ".js", ".jsx", ".ts", ".tsx", ".rb", ".php", ".swift", ".m", ".scala", ".sh", ".bash",
                 ".zsh", ".ps1", ".sql", ".lua", ".pl", ".r", ".jl", ".dart", ".css", ".scss", ".vue"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED = TEXT_SUFFIXES | CODE_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}


class DocumentError(Exception):
    """A file chatapp cannot index; the message is shown in the file's chip as is."""


class Cancelled(Exception):
    """Extraction was asked to stop."""


@dataclass
class Section:
    """A run of text from one place: a PDF page, or lines of a text file starting at first_line."""
    text: str
    page: int | None = None
    first_line: int | None = 1


@dataclass
class Extracted:
    kind: str                              # "text" | "code" | "pdf" | "html" | "docx"
    sections: list[Section] = field(default_factory=list)
    pages: int | None = None

    @property
    def chars(self) -> int:
        return sum(len(s.text) for s in self.sections)


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return f"{n} bytes"


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED


def read_limited(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, or a DocumentError that says what is wrong with it (size checked before reading)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DocumentError("The file is gone (moved or deleted).") from None
    except PermissionError:
        raise DocumentError("chatapp is not allowed to read this file.") from None
    except OSError as exc:
        raise DocumentError(f"The file cannot be read: {exc.strerror or exc}.") from None
    if os.path.isdir(path):
        raise DocumentError("This is a folder; attach the files in it, or make it the library folder.")
    if st.st_size == 0:
        raise DocumentError("The file is empty (0 bytes).")
    if st.st_size > max_bytes:
        raise DocumentError(f"The file is {human_size(st.st_size)}; files over {human_size(max_bytes)} are not read.")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise DocumentError("The file is gone (moved or deleted).") from None
    except PermissionError:
        raise DocumentError("chatapp is not allowed to read this file.") from None
    except OSError as exc:
        raise DocumentError(f"The file cannot be read: {exc.strerror or exc}.") from None
    if len(data) > max_bytes:
        raise DocumentError(f"The file grew past {human_size(max_bytes)} while it was read.")
    if not data:
        raise DocumentError("The file is empty (0 bytes).")
    return data


def decode_text(data: bytes) -> str:
    """Bytes that should be text -> str; binary data gets a DocumentError."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    head = data[:8192]
    if b"\x00" in head:
        raise DocumentError("This looks like a binary file, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "replace")
    if text.count("\ufffd") > len(text) // 20:
        # Not UTF-8: a legacy single-byte encoding is the common case; cp1252 maps nearly every byte.
        text = data.decode("cp1252", "replace")
    control = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if control > len(text[:8192]) // 50:
        raise DocumentError("This looks like a binary file, not text.")
    return text


def extract(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES,
            should_stop: Callable[[], bool] = lambda: False) -> Extracted:
    """Read and extract one file. Raises DocumentError (bad file) or Cancelled."""
    path = Path(path)
    suffix = path.suffix.lower()
    data = read_limited(path, max_bytes)
    if suffix == ".pdf":
        return _pdf(data, should_stop)
    if suffix == ".docx":
        return _docx(data)
    text = decode_text(data)
    if suffix in HTML_SUFFIXES:
        return _non_empty(Extracted("html", [Section(html_to_text(text))]))
    return _non_empty(Extracted("code" if suffix in CODE_SUFFIXES else "text", [Section(text)]))


def _non_empty(doc: Extracted) -> Extracted:
    if not any(s.text.strip() for s in doc.sections):
        raise DocumentError("The file has no text in it.")
    return doc


def _pdf(data: bytes, should_stop: Callable[[], bool]) -> Extracted:
    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError("This is not a PDF file (it does not start like one).")
    import logging

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError
    logging.getLogger("pypdf").setLevel(logging.ERROR)   # damaged-but-readable files log warnings per object
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                # Many PDFs are "encrypted" with an empty user password only to set permissions.
                if not reader.decrypt(""):
                    raise DocumentError("This PDF is password-protected; chatapp cannot read it.")
            except (DependencyError, FileNotDecryptedError, NotImplementedError):
                raise DocumentError("This PDF is password-protected; chatapp cannot read it.") from None
        pages = reader.pages
        sections = []
        for number, page in enumerate(pages, start=1):
            if should_stop():
                raise Cancelled()
            try:
                text = page.extract_text() or ""
            except Exception:  # one damaged page should not lose the rest of the document
                text = ""
            sections.append(Section(text, page=number, first_line=None))
        count = len(pages)
    except (DocumentError, Cancelled):
        raise
    except FileNotDecryptedError:
        raise DocumentError("This PDF is password-protected; chatapp cannot read it.") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise DocumentError(f"This PDF is damaged and cannot be read ({type(exc).__name__}).") from None
    if sum(len(s.text.strip()) for s in sections) < 16:
        raise DocumentError(f"This PDF has no text layer ({count} pages of images, e.g. a scan); "
                            "chatapp cannot read text in pictures.")
    return Extracted("pdf", sections, pages=count)


def _docx(data: bytes) -> Extracted:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        # Check what it would unpack to before anything is decompressed (zip bombs).
        unpacked = sum(info.file_size for info in archive.infolist())
        packed = sum(info.compress_size for info in archive.infolist()) or 1
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DocumentError("This .docx file is damaged (it is not a valid Word document).") from None
    if unpacked > MAX_DOCX_UNPACKED or unpacked / packed > MAX_DOCX_RATIO or len(archive.infolist()) > 10_000:
        raise DocumentError(f"This .docx would unpack to {human_size(unpacked)}; refused as a possible zip bomb.")
    try:
        import docx
        document = docx.Document(io.BytesIO(data))
        lines = [p.text for p in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                lines.append(" | ".join(cell.text for cell in row.cells))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors... for bad files
        raise DocumentError(f"This .docx file is damaged and cannot be read ({type(exc).__name__}).") from None
    return _non_empty(Extracted("docx", [Section("\n".join(lines))]))
