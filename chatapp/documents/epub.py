"""EPUB reader: ebooklib for the reading order (spine); each chapter's XHTML through the HTML reader."""
from __future__ import annotations

import io
import warnings
from typing import Callable

from .extract import Cancelled, DocumentError, Extracted, Section, non_empty, open_zip
from .html_text import decode_html, html_to_text


def read(data: bytes, should_stop: Callable[[], bool]) -> Extracted:
    open_zip(data, ".epub")
    try:
        import ebooklib
        from ebooklib import epub
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # ebooklib warns about its own future defaults
            book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": True})
        items = [book.get_item_with_id(idref) for idref, _linear in book.spine]
        docs = [i for i in items if i is not None and i.get_type() == ebooklib.ITEM_DOCUMENT]
    except Exception as exc:  # ebooklib raises EpubException, KeyError, XML errors...
        raise DocumentError(f"This .epub file is damaged and cannot be read ({type(exc).__name__}).") from None
    sections = []
    for item in docs:
        if should_stop():
            raise Cancelled()
        text = html_to_text(decode_html(item.get_content()))
        if text.strip():
            sections.append(Section(text, first_line=None))
    return non_empty(Extracted("epub", sections), "book")
