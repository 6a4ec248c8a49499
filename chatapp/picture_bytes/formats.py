"""The picture formats chatapp opens from files a user or a client gave: Pillow's decoders it allows, and their names."""
from __future__ import annotations

from pathlib import Path

# Pillow picks its decoder from a file's content, not its name, so a "photo.png" may be any of its formats. Some are
# not for strangers' files: EPS and PS run Ghostscript (a separate interpreter with its own record of exploits, and
# no time limit), PDF and the rarer plugins are little-tested. Every Image.open of a given picture names these.
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "DIB", "TIFF", "TGA", "ICO", "PPM")   # JPEG opens phones' MPO too
SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".tga",
            ".ico", ".ppm", ".pgm", ".pbm", ".pnm")
READABLE = "PNG, JPEG, GIF, WebP, BMP, TIFF, TGA, ICO or PPM"


def looks_like_picture(path: str) -> bool:
    """By its name only (no disk read, for the GUI thread): /attach and the attach dialog send such files as pictures."""
    return Path(path).suffix.lower() in SUFFIXES
