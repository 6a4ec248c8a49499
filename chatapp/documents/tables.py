"""CSV/TSV reader: the stdlib csv module with a sniffed dialect; each row keeps its line and its column names."""
from __future__ import annotations

import csv
from typing import Callable

from .extract import Extracted, Section, decode_text, non_empty


def read(data: bytes, _should_stop: Callable[[], bool]) -> Extracted:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:16384], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    lines = text.splitlines()
    try:
        rows = list(csv.reader(lines, dialect))
    except csv.Error:   # not really CSV: index it as the text it is
        return non_empty(Extracted("csv", [Section(text)]))
    # A row becomes "name: value; name: value" so a passage cut from the middle of a big table still
    # says what each number is. One output line per input line keeps line numbers; a quoted cell that
    # spans lines is left as the text it was.
    header = rows[0] if rows and len(rows) == len(lines) else None
    if header is None or len(header) < 2:
        return non_empty(Extracted("csv", [Section(text)]))
    out = [" | ".join(header)]
    for row in rows[1:]:
        out.append("; ".join(f"{h}: {v}" if h else v for h, v in zip(header, row) if v.strip())
                   + (" | " + " | ".join(row[len(header):]) if len(row) > len(header) else ""))
    return non_empty(Extracted("csv", [Section("\n".join(out))]))
