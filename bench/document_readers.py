"""Document readers on real files: chatapp's reader against the raw library call, and (given mozilla/readability's
test pages) main-content extractors scored against readability.js's expected output.

    python -m bench.document_readers [PATH/TO/readability/test/test-pages]
"""
from __future__ import annotations

import collections
import io
import logging
import re
import sys
import time
import warnings
from pathlib import Path

from chatapp.documents.extract import DocumentError, extract

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "documents"


def _raw(path: Path) -> None:
    """The plainest call of the library each reader builds on (what the reader adds is the difference)."""
    data, kind = path.read_bytes(), path.suffix.lower()
    if kind == ".pdf":
        import pypdf
        for page in pypdf.PdfReader(io.BytesIO(data)).pages:
            page.extract_text()
    elif kind == ".docx":
        import mammoth
        mammoth.convert_to_html(io.BytesIO(data))
    elif kind in (".html", ".htm"):
        import lxml.html
        lxml.html.document_fromstring(data).text_content()
    elif kind == ".pptx":
        import pptx
        [s.shapes for s in pptx.Presentation(io.BytesIO(data)).slides]
    elif kind == ".xlsx":
        import openpyxl
        for ws in openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets:
            list(ws.iter_rows(values_only=True))


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        try:
            fn()
        except (DocumentError, Exception):   # refused files are timed too: refusing is work
            pass
        times.append(time.perf_counter() - t)
    return min(times)


def readers() -> None:
    print(f"{'file':48} {'chatapp ms':>10} {'library ms':>10} {'ratio':>6}")
    for path in sorted(p for p in DATA.iterdir() if p.suffix != ".md"):
        ours = _best(lambda: extract(path)) * 1000
        if path.suffix.lower() in (".pdf", ".docx", ".html", ".pptx", ".xlsx"):
            raw = _best(lambda: _raw(path)) * 1000
            print(f"{path.name[:48]:48} {ours:10.1f} {raw:10.1f} {ours / max(raw, 1e-3):6.1f}")
        else:
            print(f"{path.name[:48]:48} {ours:10.1f} {'-':>10} {'-':>6}")


def _words(text: str) -> collections.Counter:
    return collections.Counter(re.findall(r"\w+", text.lower()))


def main_content(pages: Path) -> None:
    import lxml.html
    import trafilatura

    def text_of(html: str) -> str:
        return lxml.html.fromstring(html).text_content() if html.strip() else ""
    extractors = {"trafilatura (favor_recall)": lambda s: trafilatura.extract(s, include_tables=True, favor_recall=True) or "",
                  "whole page": text_of}
    try:
        from readability import Document
        extractors["readability-lxml"] = lambda s: text_of(Document(s).summary())
    except ImportError:
        pass
    scores, times = collections.defaultdict(list), collections.defaultdict(float)
    for folder in sorted(p for p in pages.iterdir() if (p / "expected.html").exists()):
        expected = _words(text_of((folder / "expected.html").read_text(encoding="utf-8", errors="replace")))
        if sum(expected.values()) < 80:   # the suite's one-feature pages, not articles
            continue
        source = (folder / "source.html").read_text(encoding="utf-8", errors="replace")
        for name, fn in extractors.items():
            t = time.perf_counter()
            try:
                got = _words(fn(source))
            except Exception:
                got = collections.Counter()
            times[name] += time.perf_counter() - t
            common = sum((got & expected).values())
            scores[name].append((common / max(1, sum(got.values())), common / max(1, sum(expected.values()))))
    for name, rows in scores.items():
        p, r = (sum(x[i] for x in rows) / len(rows) for i in (0, 1))
        print(f"{name:28} pages {len(rows)}  precision {p:.3f}  recall {r:.3f}  time {times[name]:.1f} s")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    readers()
    if len(sys.argv) > 1:
        main_content(Path(sys.argv[1]))
