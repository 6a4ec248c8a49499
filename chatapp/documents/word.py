"""Word (.docx) reader: mammoth for the body in document order (tables in place, nested tables, merged
cells once, text boxes, footnotes, endnotes; transitional and Strict OOXML), plus headers and footers."""
from __future__ import annotations

import io
import re
from typing import Callable

from .extract import DocumentError, Extracted, Section, non_empty, open_zip
from .html_text import html_to_text

_HEADER_PART = re.compile(r"^word/(header|footer)\d*\.xml$")
# mammoth links each note back to its reference with an arrow: navigation, not text.
_BACKLINK = re.compile(r'<a href="#(?:foot|end)note-ref-[^"]*">↑</a>')


def read(data: bytes, _should_stop: Callable[[], bool]) -> Extracted:
    archive = open_zip(data, ".docx")
    try:
        import mammoth
        # Pictures are not text: skip them without reading (a linked picture would be a file outside).
        no_images = mammoth.images.img_element(lambda _image: {})
        html = mammoth.convert_to_html(io.BytesIO(data), convert_image=no_images).value
    except Exception as exc:  # mammoth raises KeyError, ValueError, XML errors... for files it cannot read
        raise DocumentError(f"This .docx file is damaged and cannot be read ({type(exc).__name__}).") from None
    sections = [Section(html_to_text(_BACKLINK.sub("", html)))]
    margins = _headers_and_footers(archive)
    if margins:
        sections.append(Section("\n".join(margins), first_line=None))
    return non_empty(Extracted("docx", sections), "document")


def _headers_and_footers(archive) -> list[str]:
    """Each distinct header and footer paragraph once (mammoth leaves them out; they often hold the
    title, the version or the company a document is about). Read by element name, not namespace,
    so Strict files' other namespace reads the same."""
    from lxml import etree
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    seen, out = set(), []
    for name in sorted(n for n in archive.namelist() if _HEADER_PART.match(n)):
        try:
            root = etree.fromstring(archive.read(name), parser)
        except (etree.XMLSyntaxError, KeyError, ValueError):
            continue
        for p in root.iter("{*}p"):
            text = "".join(t.text or "" for t in p.iter("{*}t")).strip()
            if text and text not in seen:
                seen.add(text)
                out.append(text)
    return out
