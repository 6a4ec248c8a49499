"""OpenDocument text (.odt) reader: odfpy; paragraphs, headings, lists and notes in order, table rows on one line."""
from __future__ import annotations

import io
from typing import Callable

from .extract import DocumentError, Extracted, Section, non_empty, open_zip

_TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


def read(data: bytes, _should_stop: Callable[[], bool]) -> Extracted:
    open_zip(data, ".odt")
    try:
        from odf import teletype
        from odf import text as odf_text
        from odf.opendocument import load
        document = load(io.BytesIO(data))
        body = document.text
    except Exception as exc:  # odfpy raises KeyError, XML errors... for files it cannot read
        raise DocumentError(f"This .odt file is damaged and cannot be read ({type(exc).__name__}).") from None
    lines: list[str] = []

    def walk(node) -> None:
        for child in node.childNodes:
            qname = getattr(child, "qname", None)
            if qname in ((_TEXT_NS, "p"), (_TEXT_NS, "h")):
                lines.append(teletype.extractText(child))
            elif qname == (_TABLE_NS, "table-row"):
                cells = [" ".join(teletype.extractText(c).split()) for c in child.childNodes
                         if getattr(c, "qname", None) == (_TABLE_NS, "table-cell")]
                if any(cells):
                    lines.append(" | ".join(cells))
            elif qname is not None:
                walk(child)   # sections, lists, list items, tables, frames and text boxes
    walk(body)
    # Headers and footers live in the master pages (styles.xml), each distinct line once.
    margins: list[str] = []
    for p in document.masterstyles.getElementsByType(odf_text.P):
        line = teletype.extractText(p).strip()
        if line and line not in margins:
            margins.append(line)
    sections = [Section("\n".join(lines))] + ([Section("\n".join(margins), first_line=None)] if margins else [])
    return non_empty(Extracted("odt", sections), "document")
