"""Pictures in (issue 24 item 5): the GUI thread's longest stall while bad and big pictures are attached to the real
window's session (a truncated PNG, a 0-byte file, a non-picture, a decompression-bomb header, a 20,000 px strip, a
24 MP photo) and the good one is sent to a model that sees (its data URL made off the GUI thread), its thumbnails
shown above the message box and in the sent message (decoded off the GUI thread too).

The reference column is the 24 MP photo taken in (decoded, scaled, stored) on the calling thread, same run: what one
such picture would cost the GUI thread if it were decoded there."""
from __future__ import annotations

import io
import struct
import tempfile
import time
import zlib
from pathlib import Path

from .common import LoopProbe, Row, qapp, wait_until

BAR_MS = 50


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height over a tiny body: a bomb's (or a strip's) shape."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def _files(folder: Path) -> tuple[list[Path], Path]:
    from PIL import Image
    photo = folder / "photo-24mp.jpg"
    Image.effect_noise((6000, 4000), 40).convert("RGB").save(photo, "JPEG", quality=90)
    small = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 30, 30)).save(small, "PNG")
    bad = {"truncated.png": small.getvalue()[:80], "empty.png": b"", "notes.png": b"not a picture\n" * 50,
           "bomb.png": _png_header(30000, 30000), "strip.png": _png_header(20000, 8)}
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in bad] + [photo], photo


def _seeing_engine():
    from chatapp.engines.base import ChatCapabilities
    from chatapp.engines.fake import FakeChatEngine

    class Seeing(FakeChatEngine):
        capabilities = ChatCapabilities(vision=True, image_side=768)

        def stream(self, messages, params, should_stop, stats=None):
            text = [{**m, "content": " ".join(p.get("text", "") for p in m["content"] if p.get("type") == "text")
                     if isinstance(m["content"], list) else m["content"]} for m in messages]
            yield from super().stream(text, params, should_stop, stats)
    return Seeing(["I see it."] * 100)


def pictures_in(quick: bool = False) -> list[Row]:
    from chatapp.app import build
    from chatapp.engines.fake import FakeImageEngine
    from chatapp.pictures import intake
    from chatapp.settings import Settings, resolve_paths
    qapp()
    folder = Path(tempfile.mkdtemp(prefix="chatapp-pictures-in-"))
    files, photo = _files(folder)
    engine = _seeing_engine()
    parts = build(resolve_paths(str(folder / "data")), Settings(), llm_engine_factory=lambda: engine,
                  image_engine_factory=FakeImageEngine, open_last=False)
    parts.window.resize(1180, 800)
    parts.window.show()
    session = parts.session
    session.load_models()
    wait_until(lambda: session.llm_status in ("ready", "error"))
    try:
        session.new_conversation()
        probe, strip = LoopProbe(), parts.window.composer.strip
        probe.start()
        for _ in range(1 if quick else 3):
            session.attach_pictures([str(f) for f in files])
            wait_until(lambda: not session.pictures.reading and session.pictures.pending)
            wait_until(lambda: bool(strip.thumbs) and all(t.loaded() for t in strip.thumbs))   # the window's thumbnail
            session.submit("What is in this picture?")
            wait_until(lambda: not session.replies.active)
            user = [m for m in session.storage.messages(session.current.id) if m.role == "user"][-1]
            wait_until(lambda: all(t.loaded() for t in parts.window.view.widgets[user.id].pictures.thumbs))
        probe.stop()
        longest, p99 = probe.summary_ms()
        t = time.perf_counter()
        intake.take_file(str(photo), folder / "reference")
        raw = (time.perf_counter() - t) * 1000
    finally:
        session.shutdown()
        parts.storage.close()
    return [Row("Pictures in (truncated, 0-byte, not a picture, bomb, 20,000 px strip, 24 MP photo) attached and sent: "
                "longest stall", longest, "ms", raw, round(longest / raw, 3) if raw else None, f"<= {BAR_MS} ms",
                longest <= BAR_MS, f"p99 {p99:.1f} ms; GUI-thread CPU {probe.cpu_ms():.0f} ms; reference: the 24 MP "
                "photo taken in on the calling thread (what decoding it on the GUI thread would cost)")]
