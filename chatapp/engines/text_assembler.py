"""A reply's token pieces into text as they stream: incomplete UTF-8 and possible stop strings held back."""
from __future__ import annotations

import codecs


def shared_prefix(a, b) -> int:
    """How many leading tokens two token sequences share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class TextAssembler:
    """Token pieces -> text, incrementally: incomplete UTF-8 and possible stop-string starts are held back."""

    def __init__(self, stops: list[str]):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        self._stops = [s for s in stops if s]
        self._held = ""
        self.stopped = False

    def feed(self, piece: bytes) -> str:
        """What can be shown now; sets .stopped (and drops the stop string) when one appears."""
        text = self._held + self._decoder.decode(piece)
        for stop in self._stops:
            at = text.find(stop)   # only the held tail plus the new piece: a stop can only start there
            if at >= 0:
                self.stopped, self._held = True, ""
                return text[:at]
        keep = 0
        for stop in self._stops:  # the longest end of the text that could still become a stop string
            for n in range(min(len(stop) - 1, len(text)), keep, -1):
                if text.endswith(stop[:n]):
                    keep = n
                    break
        self._held = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep] if keep else text

    def flush(self) -> str:
        rest, self._held = self._held + self._decoder.decode(b"", final=True), ""
        return rest
