"""Base64 data URLs (RFC 2397), written and read in one place: how pictures travel in chat messages and exports."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^;,]*)*?);base64,(?P<data>.*)", re.S | re.I)


class DataUrlError(ValueError):
    """A data URL that cannot be read; `reason` is one of "not base64 data URL", "not base64", "too large", "empty",
    so each caller can word it its own way (an HTTP 400, an engine's note)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class DataUrl:
    mime: str      # "" when the URL names none (RFC 2397 then means text/plain; callers decide)
    data: bytes


def encode(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def decode(url: str, max_bytes: int | None = None) -> DataUrl:
    """The bytes of a base64 data URL, strictly: whitespace in the payload is allowed (line-wrapped base64), any
    other non-alphabet character is refused rather than skipped; the size is checked before decoding."""
    match = _DATA_URL.fullmatch(url.strip())
    if not match:
        raise DataUrlError("not base64 data URL")
    payload = match["data"]
    if max_bytes is not None and len(payload) > max_bytes * 4 // 3 + 4:
        raise DataUrlError("too large", f"over {max_bytes} bytes")
    try:
        data = base64.b64decode(re.sub(r"\s+", "", payload), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DataUrlError("not base64", str(exc)) from None
    if not data:
        raise DataUrlError("empty")
    return DataUrl((match["mime"] or "").lower(), data)
