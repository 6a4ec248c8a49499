"""Excel (.xlsx) reader: openpyxl (read-only, cached values); each sheet a section, a row a line of ' | ' cells."""
from __future__ import annotations

import io
import warnings
from typing import Callable

from .extract import Cancelled, DocumentError, Extracted, Section, non_empty, open_zip

MAX_CELLS = 2_000_000   # a sheet of millions of formatted-but-empty cells must not take minutes
# openpyxl warns (UserWarning) about every extension, validation or style it drops, also lazily while
# rows are read: nothing a user could act on, so once for the process rather than around each call
# (catch_warnings is not thread-safe, and rows are read outside it).
warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")


def read(data: bytes, should_stop: Callable[[], bool]) -> Extracted:
    open_zip(data, ".xlsx")
    sections, cells_seen = [], 0
    try:
        from openpyxl import load_workbook
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in book.worksheets:
                lines = [f"Sheet: {sheet.title}"]
                for n, row in enumerate(sheet.iter_rows(values_only=True)):
                    if n % 500 == 0 and should_stop():
                        raise Cancelled()
                    cells_seen += len(row)
                    if cells_seen > MAX_CELLS:
                        raise DocumentError(f"This workbook has over {MAX_CELLS:,} cells; chatapp reads smaller ones.")
                    values = ["" if v is None else str(v) for v in row]
                    while values and not values[-1]:
                        values.pop()
                    if any(values):
                        lines.append(" | ".join(values))
                if len(lines) > 1:
                    sections.append(Section("\n".join(lines), first_line=None))
        finally:
            book.close()
    except (Cancelled, DocumentError):
        raise
    except Exception as exc:  # openpyxl raises KeyError, InvalidFileException, XML errors...
        raise DocumentError(f"This .xlsx file is damaged and cannot be read ({type(exc).__name__}).") from None
    return non_empty(Extracted("xlsx", sections), "workbook")
