"""A picture the user gives (file or clipboard bytes) decoded safely with Pillow and re-encoded as chatapp's own copy; no Qt."""
from __future__ import annotations

import io
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ..picture_bytes import data_urls
from ..picture_bytes.formats import FORMATS, READABLE
from ..recipes.png import write_atomically

MAX_FILE_BYTES = 100 * 2**20     # read whole into memory, so bounded: no photo comes near it
MAX_PIXELS = 8192 * 8192         # 67 megapixels: more than any phone's photo; a bigger header is refused
MAX_SIDE = 16384                 # a longer side (a 20,000 px strip) is refused before decoding
STORED_SIDE = 2048               # chatapp's copy is at most this on its long side (VISION_CONTRACT 1)
DEFAULT_SIDE = 1024              # what an engine gets when it does not say what it takes (image_side 0)
JPEG_QUALITY = 90               # a photo stays a JPEG: measured on a real one, PNG was 4x the bytes, 35x the time

# Pillow's bomb limit is a process-wide default: chatapp states its own (the app's other readers then refuse at
# the same size). Between the limit and twice it Pillow only warns; _copy refuses such a header itself before
# anything is decoded, so the warning needs no process-wide filter (one would change the other readers' words).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class PictureError(ValueError):
    """A picture that cannot be used: the file's name and why, for the user."""

    def __init__(self, name: str, why: str):
        super().__init__(f"{name} cannot be used as a picture: {why}.")
        self.name, self.why = name, why


@dataclass
class Picture:
    """chatapp's copy of a picture: encoded bytes (metadata stripped), their suffix, the size after EXIF orientation."""
    data: bytes
    suffix: str          # ".png" or ".jpg"
    width: int
    height: int
    frames: int = 1      # an animation's frame count (the first frame is kept)


def read_file(path: str) -> bytes:
    """A picture file's bytes, bounded; PictureError for a folder, FIFO, empty, too big or unreadable file."""
    name = os.path.basename(path) or path
    try:
        info = os.stat(path)
    except OSError as exc:
        raise PictureError(name, f"it cannot be opened ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):   # a FIFO would block, /dev/zero never ends
        raise PictureError(name, "it is not a regular file")
    if info.st_size == 0:
        raise PictureError(name, "the file is empty (0 bytes)")
    if info.st_size > MAX_FILE_BYTES:
        raise PictureError(name, f"the file is {info.st_size / 2**20:.0f} MB; pictures up to "
                                 f"{MAX_FILE_BYTES // 2**20} MB are taken")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PictureError(name, f"it cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise PictureError(name, "the file is empty (0 bytes)")
    return data


def decode(data: bytes, name: str, side: int = STORED_SIDE) -> Picture:
    """Bytes -> chatapp's copy: first frame, EXIF orientation applied, RGB or RGBA, at most `side` px on the long
    side, PNG (graphics, transparency) or JPEG (a JPEG photo stays one), no metadata. PictureError says why not."""
    if not data:
        raise PictureError(name, "it is empty (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise PictureError(name, f"it is over {MAX_FILE_BYTES // 2**20} MB")
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):   # the warning: where a filter makes it an error
        raise PictureError(name, f"it has too many pixels (at most {MAX_PIXELS // 1_000_000} megapixels)") from None
    except UnidentifiedImageError:
        raise PictureError(name, f"it is not a picture chatapp can read ({READABLE})") from None
    except Exception:   # Pillow raises SyntaxError, struct.error, ValueError... on damaged headers
        raise PictureError(name, "the file is damaged") from None
    with im:
        return _copy(im, name, side)


def _copy(im: Image.Image, name: str, side: int) -> Picture:
    width, height = im.size
    if max(width, height) > MAX_SIDE:
        raise PictureError(name, f"it is {width}x{height} px; pictures up to {MAX_SIDE:,} px a side are taken")
    if width * height > MAX_PIXELS:
        raise PictureError(name, f"it is {width}x{height} px, too many pixels "
                                 f"(at most {MAX_PIXELS // 1_000_000} megapixels)")
    photo = im.format == "JPEG"
    try:
        frames = getattr(im, "n_frames", 1)   # a GIF's are counted by reading its blocks (not decoding them)
    except Exception:                         # a damaged later frame: the first may still be whole
        frames = 1
    if photo:
        im.draft("RGB", (side, side))   # libjpeg decodes at 1/2, 1/4 or 1/8 scale: a 48 MP photo costs a fraction
    try:
        im.seek(0)                      # an animation: its first frame
        im.load()
    except Exception:                   # truncated data: OSError("image file is truncated"), zlib errors...
        raise PictureError(name, "the file is damaged or cut short") from None
    try:
        upright = ImageOps.exif_transpose(im)
    except Exception:                   # a broken EXIF block: the pixels as stored
        upright = im
    upright = _eight_bit(upright)
    alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
    try:
        pixels = upright.convert("RGBA" if alpha else "RGB")
    except Exception:
        raise PictureError(name, "its colours cannot be read") from None
    if alpha and pixels.getextrema()[3][0] == 255:   # an alpha channel that hides nothing
        pixels, alpha = pixels.convert("RGB"), False
    pixels.thumbnail((side, side), Image.Resampling.LANCZOS)
    pixels.info = {}                    # no EXIF, ICC, text chunks or comments carried over
    out = io.BytesIO()
    if photo and not alpha:
        # Not optimize=True: Pillow then encodes the whole picture in one call that holds the GIL, and the window
        # stalled 137-177 ms at each 12 MP photo (measured here: the GUI thread's 5 ms timer against the save);
        # without it the encoder works in blocks (longest gap 31 ms), for a file a few per cent larger.
        pixels.save(out, "JPEG", quality=JPEG_QUALITY)
        suffix = ".jpg"
    else:
        pixels.save(out, "PNG", optimize=False, compress_level=6)
        suffix = ".png"
    return Picture(out.getvalue(), suffix, pixels.width, pixels.height, frames)


def _eight_bit(im: Image.Image) -> Image.Image:
    """16-bit and float grey (scans, medical, astronomy) scaled into 8 bits: Pillow's own conversion to RGB clips
    everything over 255 to white."""
    if not (im.mode.startswith("I") or im.mode == "F"):
        return im
    low, high = im.getextrema()
    if im.mode.startswith("I;16") or (im.mode == "I" and 0 <= low and high <= 65535 and high > 255):
        low, high = 0, 65535
    elif im.mode == "I" and 0 <= low and high <= 255:
        return im.convert("L")
    scale = 255 / (high - low) if high > low else 0
    return im.convert("F").point(lambda v: (v - low) * scale + 0.5).convert("L")   # F->L truncates: rounded


def take_file(path: str, folder: Path) -> tuple[Picture, Path]:
    """A picture file decoded and stored in folder (for the worker family): the copy and its path."""
    name = os.path.basename(path) or path
    picture = decode(read_file(path), name)
    return picture, store(picture, folder)


def take_bytes(data: bytes, name: str, folder: Path) -> tuple[Picture, Path]:
    """Clipboard bytes decoded and stored in folder."""
    picture = decode(data, name)
    return picture, store(picture, folder)


def store(picture: Picture, folder: Path) -> Path:
    """Write-then-rename: a crash leaves no half picture. A fresh random name each time."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomically(folder / f"{uuid.uuid4().hex}{picture.suffix}", picture.data)


def data_url(path: str, side: int) -> str:
    """A stored picture as a data URL for an engine, scaled to at most side px (0: DEFAULT_SIDE); PNG or JPEG as
    stored. Raises OSError / PictureError when the file is gone or damaged."""
    data = read_file(path)
    side = side or DEFAULT_SIDE
    name = os.path.basename(path)
    with Image.open(io.BytesIO(data), formats=FORMATS) as im:
        fits = max(im.size) <= side and im.format in ("PNG", "JPEG")
        kind = im.format
    if not fits:
        data = decode(data, name, side).data
        kind = "JPEG" if data[:3] == b"\xff\xd8\xff" else "PNG"
    mime = "image/jpeg" if kind == "JPEG" else "image/png"
    return data_urls.encode(data, mime)



def with_data_urls(messages: list[dict], side: int, placeholder: str) -> list[dict]:
    """A history's picture placeholders ({"type": placeholder, "path", "name"}) as OpenAI image_url parts with data
    URLs (VISION_CONTRACT 2); a picture whose file is gone or damaged becomes a line of text saying so."""
    out = []
    for m in messages:
        content = m.get("content")
        if not isinstance(content, list) or not any(p.get("type") == placeholder for p in content):
            out.append(m)
            continue
        parts, missing = [], []
        for part in content:
            if part.get("type") != placeholder:
                parts.append(part)
                continue
            try:
                parts.append({"type": "image_url", "image_url": {"url": data_url(part["path"], side)}})
            except (OSError, PictureError, Image.DecompressionBombError, UnidentifiedImageError):
                missing.append(f"[picture: {part.get('name') or 'picture'} (no longer available)]")
        if missing:
            text = "\n".join(p["text"] for p in parts if p.get("type") == "text")
            note = "\n".join(missing)
            parts = [{"type": "text", "text": f"{text}\n\n{note}" if text else note},
                     *(p for p in parts if p.get("type") != "text")]
        out.append({**m, "content": parts})
    return out
