"""PDF reader: pypdf's text layer page by page; pdfminer.six when pypdf cannot parse the file or finds no text."""
from __future__ import annotations

import io
import logging
from typing import Callable

from .extract import Cancelled, DocumentError, Extracted, Section
from .textfix import fix_print_text

LOCKED = "This PDF is password-protected; chatapp cannot read it."


def read(data: bytes, should_stop: Callable[[], bool]) -> Extracted:
    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError("This is not a PDF file (it does not start like one).")
    failure = None
    try:
        pages = _pypdf_pages(data, should_stop)
    except (DocumentError, Cancelled):
        raise
    except Exception as exc:  # pypdf raises many kinds for damaged files; another parser may still read them
        pages, failure = [], exc
    if not _has_text(pages):
        # pdfminer.six parses differently (its own xref recovery, fonts, CMaps): files pypdf calls
        # broken, or whose text pypdf cannot decode, often still give their text there.
        try:
            mined = _pdfminer_pages(data, should_stop)
        except (DocumentError, Cancelled):
            raise
        except Exception as exc:
            if failure is not None:
                raise DocumentError(f"This PDF is damaged and cannot be read ({type(failure).__name__}).") from None
            mined = []
        if _has_text(mined) or failure is not None:
            pages = mined
    if failure is not None and not pages:
        raise DocumentError(f"This PDF is damaged and cannot be read ({type(failure).__name__}).")
    if not _has_text(pages):
        raise DocumentError(f"This PDF has no text layer ({len(pages)} pages of images, e.g. a scan); "
                            "chatapp cannot read text in pictures.")
    sections = [Section(fix_print_text(text), page=n, first_line=None) for n, text in enumerate(pages, start=1)]
    return Extracted("pdf", sections, pages=len(pages))


def _has_text(pages: list[str]) -> bool:
    # Any letter or digit counts: a title page or a one-line form is real text, not a scan.
    return any(ch.isalnum() for text in pages for ch in text)


def _pypdf_pages(data: bytes, should_stop: Callable[[], bool]) -> list[str]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError
    logging.getLogger("pypdf").setLevel(logging.ERROR)   # damaged-but-readable files log warnings per object
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to set permissions.
            if not reader.decrypt(""):
                raise DocumentError(LOCKED)
        out = []
        for page in reader.pages:
            if should_stop():
                raise Cancelled()
            try:
                out.append(page.extract_text() or "")
            except Exception:  # one damaged page should not lose the rest of the document
                out.append("")
        return out
    except (DependencyError, FileNotDecryptedError, NotImplementedError):
        raise DocumentError(LOCKED) from None


def _pdfminer_pages(data: bytes, should_stop: Callable[[], bool]) -> list[str]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    out = []
    try:
        for layout in extract_pages(io.BytesIO(data)):
            if should_stop():
                raise Cancelled()
            out.append("".join(el.get_text() for el in layout if isinstance(el, LTTextContainer)))
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise DocumentError(LOCKED) from None
    return out
