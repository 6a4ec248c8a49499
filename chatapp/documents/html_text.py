"""HTML reader: the declared (else detected) charset, hidden elements dropped, the page's main content
(trafilatura) rather than its navigation, and a plain block-by-block text fallback (lxml)."""
from __future__ import annotations

import codecs
import re
from typing import Callable

from .extract import DocumentError, Extracted, Section, decode_legacy, non_empty

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.I)
# Browsers read these labels as the wider encoding (WHATWG Encoding Standard): pages labelled gb2312
# use GBK characters, and latin-1/ascii pages are really windows-1252.
_AS_BROWSERS_DO = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "iso-8859-1": "cp1252",
                   "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
                   "shift_jis": "cp932", "sjis": "cp932", "euc-kr": "cp949", "big5": "big5hkscs"}
_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "section",
          "article", "header", "footer", "table", "ul", "ol", "dt", "dd", "hr", "title", "figcaption", "main",
          "nav", "aside", "form", "dl", "caption"}
_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "button", "select"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
MIN_MAIN_SHARE = 0.2   # main content shorter than this share of the whole page's text is not trusted
MAIN_MAX_CHARS = 2_000_000   # bigger pages (a saved mail archive, a book) are all content: no extractor run


def decode_html(data: bytes) -> str:
    """The page's text: a BOM, else the charset its <meta> (or XML declaration) names, else UTF-8,
    else what charset-normalizer detects (a page saved without a declaration in GBK, Windows-1251...)."""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(enc, "replace")
    head = data[:4096]
    found = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if found:
        label = found.group(1).decode("ascii", "replace").lower()
        enc = _AS_BROWSERS_DO.get(label, label)
        try:
            if codecs.lookup(enc).name.startswith("utf-16"):
                enc = "utf-8"   # a page that reached the parser as bytes is not UTF-16 after all
            text = data.decode(enc, "replace")
            # A wrong label (a GBK page saved as "utf-8" by an old editor) shows as many undecodable
            # bytes: then the bytes decide, as if there were no label. A stray bad byte does not.
            if text.count("\ufffd") <= len(text) // 200:
                return text
        except LookupError:
            pass   # an unknown label: as if there were none
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return decode_legacy(data)


def _tree(html: str):
    import lxml.html
    from lxml.etree import ParserError
    try:
        # lxml refuses str input that carries its own encoding declaration: the text is decoded already.
        return lxml.html.document_fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", html))
    except (ParserError, ValueError):
        return None


def _drop_hidden(root) -> None:
    """What a browser does not show is not the page's text: hidden, aria-hidden, display:none, scripts."""
    doomed = []
    for el in root.iter():
        if not isinstance(el.tag, str):        # comments, processing instructions
            doomed.append(el)
            continue
        tag = el.tag.lower()
        if tag in _SKIP or el.get("hidden") is not None or el.get("aria-hidden", "").lower() == "true" \
                or _HIDDEN_STYLE.search(el.get("style", "")) or (tag == "input" and el.get("type") == "hidden"):
            doomed.append(el)
    for el in doomed:
        parent = el.getparent()
        if parent is not None:
            if el.tail:   # the text after a removed element belongs to its parent
                prev = el.getprevious()
                if prev is not None:
                    prev.tail = (prev.tail or "") + el.tail
                else:
                    parent.text = (parent.text or "") + el.tail
            parent.remove(el)


def _block_text(root) -> str:
    """Every visible text node, block elements on their own lines, a table row on one line with its
    cells joined by ' | ' (a nested table folds into its cell; an all-empty row is left out)."""
    parts: list[str] = []

    def walk(el):
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if tag == "tr":
            cells = [" ".join(_block_text(c).split()) for c in el if isinstance(c.tag, str) and c.tag.lower() in ("td", "th")]
            if any(cells):
                parts.append("\n" + " | ".join(cells) + "\n")
            if el.tail:
                parts.append(el.tail)
            return
        if tag in _BLOCK:
            parts.append("\n")
        if el.text:
            parts.append(el.text)
        for child in el:
            walk(child)
        if tag in _BLOCK:
            parts.append("\n")
        if el.tail:
            parts.append(el.tail)
    walk(root)
    return _tidy("".join(parts))


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    out, blank = [], False
    for line in lines:
        if line or not blank:
            out.append(line)
        blank = not line
    return "\n".join(out).strip()


def html_to_text(html: str, *, main_content: bool = False) -> str:
    """Visible text of a page; with main_content, only its article when trafilatura finds one."""
    root = _tree(html)
    if root is None:
        return ""
    title = root.findtext(".//title") or ""
    _drop_hidden(root)
    body = root.find("body")
    full = _block_text(body if body is not None else root)
    if main_content and 500 < len(full) <= MAIN_MAX_CHARS:
        import trafilatura
        try:
            main = trafilatura.extract(root, include_tables=True, include_comments=False, favor_recall=True,
                                       deduplicate=False) or ""
        except Exception:  # an extractor bug must not lose the page: the whole text is still there
            main = ""
        main = _tidy(main)
        if len(main) >= len(full) * MIN_MAIN_SHARE:
            full = main
    title = " ".join(title.split())
    if title and title not in full[:len(title) + 200]:
        full = f"{title}\n{full}"
    return full


def read(data: bytes, _should_stop: Callable[[], bool]) -> Extracted:
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DocumentError("This looks like a binary file, not a web page.")
    return non_empty(Extracted("html", [Section(html_to_text(decode_html(data), main_content=True))]))
