"""Text out of a file, with where each piece came from (PDF page, line number); bad files get a clear reason.

Each file type has one reader (documents/readers.py: suffix -> reader); this module holds what they share.
"""
from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

MAX_FILE_BYTES = 64 * 1024 * 1024        # bigger files are refused, not read into memory
MAX_ZIP_UNPACKED = 256 * 1024 * 1024     # a zip-based file (.docx, .epub, .xlsx...) that unpacks to more is a zip bomb
MAX_ZIP_RATIO = 200                      # ...and so is one that compresses better than this
MAX_ZIP_MEMBERS = 10_000
MAX_DOCX_UNPACKED, MAX_DOCX_RATIO = MAX_ZIP_UNPACKED, MAX_ZIP_RATIO   # the names before other zip formats came


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
    kind: str                              # the reader's kind: "text" | "code" | "pdf" | "html" | "docx" | ...
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
    from .readers import reader_for
    return reader_for(Path(path)) is not None


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


def _mostly_beyond_latin(text: str) -> bool:
    # Only non-ASCII letters count: markup and numbers are ASCII in every one of these code pages.
    letters = [ch for ch in text[:65536] if ord(ch) > 127 and ch.isalpha()]
    return bool(letters) and sum(ord(ch) > 0x24F for ch in letters) > len(letters) * 0.5


def decode_legacy(data: bytes) -> str:
    """Bytes that are not UTF-8: a CJK or Cyrillic (etc.) code page if charset-normalizer finds one whose
    text is in that script; else cp1252, which maps nearly every byte and is right for most Latin text
    (on short Latin text the detector often picks a neighbouring code page: cp1250 turns è into č)."""
    from charset_normalizer import from_bytes
    guess = from_bytes(data[:262144]).best()
    if guess is not None and guess.encoding not in ("ascii", "utf_8"):
        try:
            text = data.decode(guess.encoding)
        except (UnicodeDecodeError, LookupError):
            text = ""
        if text and _mostly_beyond_latin(text):
            return text
    return data.decode("cp1252", "replace")


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
        text = decode_legacy(data)
    control = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if control > len(text[:8192]) // 50:
        raise DocumentError("This looks like a binary file, not text.")
    return text


def open_zip(data: bytes, what: str) -> zipfile.ZipFile:
    """A zip-based document (.docx, .epub, .odt, .pptx, .xlsx), checked against zip bombs before any
    member is decompressed: the sizes its directory declares, and how well it claims to compress."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        unpacked = sum(info.file_size for info in infos)
        packed = sum(info.compress_size for info in infos) or 1
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise DocumentError(f"This {what} file is damaged (it is not a valid zip package).") from None
    if unpacked > MAX_ZIP_UNPACKED or unpacked / packed > MAX_ZIP_RATIO or len(infos) > MAX_ZIP_MEMBERS:
        raise DocumentError(f"This {what} would unpack to {human_size(unpacked)}; refused as a possible zip bomb.")
    return archive


def non_empty(doc: Extracted, what: str = "file") -> Extracted:
    if not any(s.text.strip() for s in doc.sections):
        raise DocumentError(f"The {what} has no text in it.")
    return doc


def extract(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES,
            should_stop: Callable[[], bool] = lambda: False) -> Extracted:
    """Read and extract one file. Raises DocumentError (bad file) or Cancelled."""
    from .readers import reader_for
    path = Path(path)
    reader = reader_for(path)
    data = read_limited(path, max_bytes)
    if reader is None:   # attached by name although no reader claims it: try it as text
        return non_empty(Extracted("text", [Section(decode_text(data))]))
    return reader.read(data, should_stop)
