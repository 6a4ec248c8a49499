"""Jupyter notebook (.ipynb) reader, stdlib json: each cell (markdown, code with its outputs' text) a section numbered as in the notebook."""
from __future__ import annotations

import json
import re
from typing import Callable

from .extract import Cancelled, DocumentError, Extracted, Section, decode_text, non_empty

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")   # IPython colours its tracebacks
_TEXT_TYPES = ("text/markdown", "text/plain")   # what a result shows as text, best first


def _text(value) -> str:
    """nbformat keeps text as one string or a list of lines."""
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _output(out: dict) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return _text(out.get("text"))
    if kind in ("execute_result", "display_data"):
        data = out.get("data") if isinstance(out.get("data"), dict) else {}
        if any(str(k).startswith("image/") for k in data):
            return ""   # a figure: its text/plain is only a repr like "<Figure size 640x480>"
        return next((_text(data[t]) for t in _TEXT_TYPES if t in data), "")
    if kind == "error":
        trace = "\n".join(_text(line) for line in out.get("traceback") or [])
        return _ANSI.sub("", trace) or f"{_text(out.get('ename'))}: {_text(out.get('evalue'))}"
    return ""


def read(data: bytes, should_stop: Callable[[], bool]) -> Extracted:
    try:
        nb = json.loads(decode_text(data))
    except (ValueError, RecursionError):
        raise DocumentError("This .ipynb file is not valid JSON, so it is not a notebook Jupyter could open.") from None
    if not isinstance(nb, dict) or "nbformat" not in nb:
        raise DocumentError("This .ipynb file is JSON but not a Jupyter notebook (it has no \"nbformat\").")
    if not isinstance(nb.get("cells"), list):
        if isinstance(nb.get("worksheets"), list):
            raise DocumentError("This notebook is in Jupyter's old format 3; open and save it in Jupyter to update it.")
        raise DocumentError("This .ipynb file is not a Jupyter notebook: it has no list of cells.")
    sections = []
    for number, cell in enumerate(nb["cells"], start=1):
        if should_stop():
            raise Cancelled()
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type") if isinstance(cell.get("cell_type"), str) else "cell"
        parts = [_text(cell.get("source"))]
        if kind == "code":
            parts += [_output(o) for o in cell.get("outputs") or [] if isinstance(o, dict)]
        text = "\n".join(p.rstrip("\n") for p in parts if p.strip())
        if text:
            # The cell's number is its location (as a slide's is): the chip counts cells, the sources say "page N"
            # (chunks keep one location column), so the text names its cell too.
            sections.append(Section(f"Cell {number} ({kind}):\n{text}", page=number, first_line=None))
    return non_empty(Extracted("ipynb", sections, pages=len(nb["cells"])), "notebook")
