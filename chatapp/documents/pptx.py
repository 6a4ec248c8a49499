"""PowerPoint (.pptx) reader: python-pptx; each slide's text (groups, tables, notes) as a page of its own."""
from __future__ import annotations

import io
from typing import Callable

from .extract import Cancelled, DocumentError, Extracted, Section, non_empty, open_zip


def _shape_lines(shape) -> list[str]:
    lines = []
    if getattr(shape, "shapes", None) is not None:        # a group: its shapes in order
        for inner in shape.shapes:
            lines += _shape_lines(inner)
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        lines += [p.text for p in shape.text_frame.paragraphs if p.text.strip()]
    if getattr(shape, "has_table", False) and shape.has_table:
        for row in shape.table.rows:
            cells = [" ".join(c.text.split()) for c in row.cells]
            if any(cells):
                lines.append(" | ".join(cells))
    return lines


def read(data: bytes, should_stop: Callable[[], bool]) -> Extracted:
    open_zip(data, ".pptx")
    try:
        from pptx import Presentation
        slides = list(Presentation(io.BytesIO(data)).slides)
        sections = []
        for number, slide in enumerate(slides, start=1):
            if should_stop():
                raise Cancelled()
            lines = [line for shape in slide.shapes for line in _shape_lines(shape)]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text.strip()
                if notes:
                    lines.append(notes)
            sections.append(Section("\n".join(lines), page=number, first_line=None))
    except (Cancelled, DocumentError):
        raise
    except Exception as exc:  # python-pptx raises KeyError, PackageNotFoundError, XML errors...
        raise DocumentError(f"This .pptx file is damaged and cannot be read ({type(exc).__name__}).") from None
    return non_empty(Extracted("pptx", sections, pages=len(sections)), "presentation")
