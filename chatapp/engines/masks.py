"""Two mask conventions: chatapp's and A1111's (white = redraw, on black) and OpenAI's (transparent = redraw)."""
from __future__ import annotations

import io

from ..picture_bytes.formats import FORMATS


def chatapp_mask(picture):
    """OpenAI's masks mark the part to redraw as transparent (alpha 0); chatapp's (and A1111's) are
    white there on black. A mask with some transparency is read the first way; one without (no
    alpha channel, or one opaque everywhere) the second."""
    if "A" in picture.getbands() or (picture.mode == "P" and "transparency" in picture.info):
        alpha = picture.convert("RGBA").getchannel("A")
        if alpha.getextrema()[0] < 128:
            return alpha.point(lambda a: 255 if a < 128 else 0)
    return picture.convert("L")


def openai_mask(path: str) -> bytes:
    """chatapp's mask file (white = redraw) as OpenAI's: an RGBA PNG, transparent where redrawn."""
    from PIL import Image
    with Image.open(path, formats=FORMATS) as m:
        redraw = m.convert("L").point(lambda v: 255 if v >= 128 else 0)
    rgba = Image.new("RGBA", redraw.size, (0, 0, 0, 255))
    rgba.putalpha(redraw.point(lambda v: 0 if v else 255))
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    return buf.getvalue()
