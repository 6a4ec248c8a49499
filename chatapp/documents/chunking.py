"""Split extracted sections into overlapping chunks of a few hundred tokens that remember their location."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .extract import Section

TARGET_CHARS = 1000    # ~250 tokens: small enough that several fit a 2k context, big enough to hold an answer
OVERLAP_CHARS = 150    # a sentence cut at a boundary still appears whole in one of the two chunks
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")


@dataclass
class Chunk:
    text: str
    page: int | None = None
    line_start: int | None = None
    line_end: int | None = None

    def location(self) -> str:
        parts = []
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.line_start is not None:
            parts.append(f"line {self.line_start}" if self.line_end in (None, self.line_start)
                         else f"lines {self.line_start}-{self.line_end}")
        return ", ".join(parts)


def _units(section: Section, target: int) -> list[tuple[str, int | None]]:
    """(text, line number) pieces no longer than target; long lines are cut at sentences, then words."""
    out: list[tuple[str, int | None]] = []
    for i, line in enumerate(section.text.splitlines()):
        number = None if section.first_line is None else section.first_line + i
        if len(line) <= target:
            out.append((line, number))
            continue
        piece = ""
        for sentence in _SENTENCE.split(line):
            while len(sentence) > target:   # one giant "sentence" (minified code, a table row)
                cut = sentence.rfind(" ", 0, target)
                cut = cut if cut > target // 2 else target
                if piece:
                    out.append((piece, number))
                    piece = ""
                out.append((sentence[:cut], number))
                sentence = sentence[cut:].lstrip()
            if piece and len(piece) + 1 + len(sentence) > target:
                out.append((piece, number))
                piece = ""
            piece = f"{piece} {sentence}" if piece else sentence
        if piece:
            out.append((piece, number))
    return out


def chunk_sections(sections: list[Section], target: int = TARGET_CHARS, overlap: int = OVERLAP_CHARS) -> list[Chunk]:
    """Chunks never cross a section (so a PDF chunk has exactly one page)."""
    chunks: list[Chunk] = []
    for section in sections:
        units = _units(section, target)
        start = 0
        while start < len(units):
            end, size = start, 0
            while end < len(units) and (size + len(units[end][0]) + 1 <= target or end == start):
                size += len(units[end][0]) + 1
                end += 1
                # Prefer ending at a blank line (a paragraph break) once the chunk is well filled.
                if size > target * 0.6 and end < len(units) and not units[end][0].strip():
                    break
            piece = units[start:end]
            while piece and not piece[0][0].strip():
                piece = piece[1:]
            while piece and not piece[-1][0].strip():
                piece = piece[:-1]
            text = "\n".join(u[0] for u in piece).rstrip()   # indentation is kept: code needs it
            if text:
                numbers = [u[1] for u in piece if u[1] is not None]
                chunks.append(Chunk(text, section.page, numbers[0] if numbers else None,
                                    numbers[-1] if numbers else None))
            if end >= len(units):
                break
            # Step back over trailing units worth up to `overlap` characters, always moving forward.
            back, carried = end, 0
            while back - 1 > start and carried + len(units[back - 1][0]) <= overlap:
                back -= 1
                carried += len(units[back][0]) + 1
            start = back
    return chunks
