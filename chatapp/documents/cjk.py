"""Search inside CJK text: query runs of Chinese/Japanese/Korean characters -> trigram-index queries."""
from __future__ import annotations

import re
import sqlite3

from ..storage.documents_schema import CJK_CHARS

_RUN = re.compile(CJK_CHARS + "+")
MAX_GRAMS = 48   # a long question's trigrams: enough to rank on, not so many that scoring drags


def runs(text: str) -> list[str]:
    return _RUN.findall(text)


def trigram_query(text: str) -> tuple[str, list[str]]:
    """(an FTS5 MATCH over the trigram index, two-character words matched as substrings).

    Chinese and Japanese put no spaces between words, so the question's runs are cut into every
    three-character piece ("量子计算" -> 量子计, 子计算): chunks holding more of them, and rarer ones,
    rank higher (BM25 over trigrams). A run of two characters (many Chinese words) is shorter than
    a trigram and is matched as a plain substring instead."""
    grams, pairs, seen = [], [], set()
    for run in runs(text):
        if len(run) == 2:
            pairs.append(run)
        for i in range(len(run) - 2):
            g = run[i:i + 3]
            if g not in seen:
                seen.add(g)
                grams.append(g)
    match = " OR ".join(f'"{g}"' for g in grams[:MAX_GRAMS])
    return match, pairs[:8]


def search(db: sqlite3.Connection, text: str, scope: str, owner: int, limit: int) -> list[tuple]:
    """Rows (c.id, c.document_id, d.name, d.path, c.text, c.page, c.line_start, c.line_end, rank) in
    scope, best first; an empty list when the question has no CJK text."""
    match, pairs = trigram_query(text)
    cols = "c.id, c.document_id, d.name, d.path, c.text, c.page, c.line_start, c.line_end"
    rows: list[tuple] = []
    if match:
        rows = db.execute(
            f"SELECT {cols}, f.rank FROM (SELECT rowid, rank FROM chunks_cjk WHERE chunks_cjk MATCH ? "
            f"ORDER BY rank LIMIT ?) f JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.document_id "
            f"WHERE {scope} ORDER BY f.rank LIMIT ?", (match, max(200, limit * 10), owner, limit)).fetchall()
    if pairs and len(rows) < limit:
        seen = {r[0] for r in rows}
        # Not LIKE on the trigram table: SQLite 3.40 (measured) finds nothing there for a pattern of
        # fewer than three non-ASCII characters. A substring test over the chunks in scope instead.
        found = " OR ".join("instr(c.text, ?) > 0" for _ in pairs)
        more = db.execute(
            f"SELECT {cols}, 0.0 FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE ({found}) AND {scope} LIMIT ?", [*pairs, owner, limit * 4]).fetchall()
        rows += [r for r in more if r[0] not in seen][:limit - len(rows)]
    return rows
