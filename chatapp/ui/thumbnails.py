"""Pictures for the window read off the GUI thread (decoded and scaled on the thread pool), the small ones kept in
a cache: the composer's pending pictures, a user bubble's thumbnails, a user picture opened full size."""
from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

from ..workers import Calls
from .bubble_base import PictureLabel

CACHED = 240   # small scaled pictures kept (~150 KB each at most at 2x): a reopened chat shows them at once
# What the thread pool is asked to decode at most (a user picture's stored copy is at most 2048 px; the pending
# ones are staged copies of the same size): a file swapped for a bomb meanwhile is refused, not decoded.
MAX_PIXELS = 40_000_000


def read_picture(path: str, side: int, fill: bool = False) -> QImage:
    """On the thread pool: the picture at path, scaled smoothly to `side` px on its long side (0: as it is);
    fill: to a side x side square, its middle (a strip of thumbnails of one size)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)   # EXIF orientation, as the stored copy was made
    size = reader.size()
    if size.isValid() and size.width() * size.height() > MAX_PIXELS:
        raise ValueError(f"{size.width():,} x {size.height():,} pixels is too big to show")
    image = reader.read()
    if image.isNull():
        raise ValueError(reader.errorString() or "not a picture")
    if fill and side:
        image = image.scaled(QSize(side, side), Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                             Qt.TransformationMode.SmoothTransformation)
        return image.copy((image.width() - side) // 2, (image.height() - side) // 2, side, side)
    if side and max(image.width(), image.height()) != side:
        image = image.scaled(QSize(side, side), Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def device_pixmap(image: QImage, dpr: float) -> QPixmap:
    """A picture read at device pixels, laid out at its logical size (sharp on high-DPI screens)."""
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


class PictureLoader(QObject):
    """One for the app: load(path, side) answers through `ready` (path, side, QImage; a null QImage and the
    reason when it could not be read). Small pictures are cached; side 0 (full size) is not."""
    ready = Signal(str, int, bool, QImage, str)   # path, side, fill, picture (null: failed), why it failed

    def __init__(self):
        super().__init__()
        self.calls = Calls(self)
        self.calls.done.connect(self._done)
        self._cache: OrderedDict[tuple[str, int, bool], tuple[QImage, str]] = OrderedDict()
        self._asked: dict[int, tuple[str, int, bool]] = {}
        self._waiting: set[tuple[str, int, bool]] = set()

    def cached(self, path: str, side: int, fill: bool = False) -> tuple[QImage, str] | None:
        hit = self._cache.get((path, side, fill))
        if hit is not None:
            self._cache.move_to_end((path, side, fill))
        return hit

    def load(self, path: str, side: int, fill: bool = False) -> None:
        key = (path, side, fill)
        if key in self._waiting:   # asked already: one decode, every asker gets `ready`
            return
        self._waiting.add(key)
        self._asked[self.calls.call(read_picture, *key)] = key

    def forget(self, path: str) -> None:
        """A picture file that changed or went (a pending picture removed): its cached copies go too."""
        for key in [k for k in self._cache if k[0] == path]:
            del self._cache[key]

    def _done(self, call_id: int, image, error) -> None:
        key = self._asked.pop(call_id, None)
        if key is None:
            return
        self._waiting.discard(key)
        why = "" if error is None else str(error) or "could not be read"
        image = image if isinstance(image, QImage) else QImage()
        if key[1]:
            self._cache[key] = (image, why)
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)
        self.ready.emit(*key, image, why)


_loader: PictureLoader | None = None


def loader() -> PictureLoader:
    global _loader
    if _loader is None:
        _loader = PictureLoader()
    return _loader


class Thumb(PictureLabel):
    """A picture file shown small (side logical px), read off the GUI thread; a click or Enter: `activated`."""

    def __init__(self, path: str, side: int, name: str = "", parent=None, fill: bool = False):
        """fill: a side x side square of the picture's middle; else the whole picture, side px on its long side."""
        super().__init__(parent)
        self.path, self.side, self.fill, self.failed = path, side, fill, ""
        self.setObjectName("thumbnail")
        self.setFixedSize(side, side)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setToolTip(name)
        self.setAccessibleName(f"Picture {name}" if name else "Picture")
        self._px = max(1, round(side * self.devicePixelRatioF()))   # device pixels: sharp on high-DPI screens
        hit = loader().cached(path, self._px, fill)
        if hit is not None:
            self._show(*hit)
        else:
            self.setText("…")
            loader().ready.connect(self._ready)
            loader().load(path, self._px, fill)

    def _ready(self, path: str, side: int, fill: bool, image: QImage, why: str) -> None:
        if (path, side, fill) == (self.path, self._px, self.fill):
            loader().ready.disconnect(self._ready)
            self._show(image, why)

    def _show(self, image: QImage, why: str) -> None:
        if image.isNull():
            self.failed = why or "could not be read"
            self.setText("⚠")
            self.setToolTip(f"{self.toolTip()}: {self.failed}".lstrip(": "))
            return
        shown = device_pixmap(image, self.devicePixelRatioF())
        self.setPixmap(shown)
        if not self.fill:   # the label takes the picture's own shape: no bands above and below a wide one
            self.setFixedSize(shown.deviceIndependentSize().toSize())

    def loaded(self) -> bool:
        pix = self.pixmap()
        return bool(self.failed) or (pix is not None and not pix.isNull())

