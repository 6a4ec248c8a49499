"""PNG files with their recipe in an AUTOMATIC1111 "parameters" text chunk: written atomically, and any picture's recipe read back (bounded in time and memory)."""
from __future__ import annotations

import errno
import os
import stat
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL.PngImagePlugin import PngInfo

from . import RecipeError
from .a1111 import MAX_RECIPE_CHARS, format_parameters, parse_parameters
from .command import image_command
from .request import MAX_PROMPT_CHARS, ImageRequest

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)   # no space left; the user's quota used up
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_RECIPE_BYTES = MAX_RECIPE_CHARS * 4
MAX_CHUNKS = 10_000          # chunks looked at before giving up on finding the recipe
MAX_GRAPH_BYTES = 2_000_000  # a ComfyUI workflow of a few hundred nodes is ~300 KB


class NoRecipe(RecipeError):
    """A picture with no recipe in it: nothing is wrong with it (it can still be edited)."""


class EmptyFile(RecipeError):
    """A 0-byte file: there is no picture to edit either."""


@dataclass
class SavedImage:
    path: str
    request: ImageRequest      # fully resolved recipe, seed included
    parameters: str            # the text written into the PNG
    notes: list = field(default_factory=list)   # for the picture's footer (e.g. the prompt was cut short)


# Text chunks other tools keep their recipes in, each with its cap: a ComfyUI or InvokeAI graph is JSON
# that can run to hundreds of KB; a NovelAI or A1111 text is a few KB.
GRAPH_KEYS = ("prompt", "workflow", "invokeai_metadata", "invokeai_graph", "sd-metadata", "Comment")
RECIPE_KEYS = {"parameters": MAX_RECIPE_BYTES, "Dream": MAX_RECIPE_BYTES, "Description": MAX_RECIPE_BYTES,
               "Software": 1000, "Source": 1000, "fooocus_scheme": 100, **{k: MAX_GRAPH_BYTES for k in GRAPH_KEYS}}


def decode_text(raw: bytes) -> str:
    """A tEXt/zTXt chunk's text. The spec says Latin-1, but A1111 and others write UTF-8: bytes that
    read as UTF-8 are (Latin-1 text with accents almost never does), so "café" is not "cafÃ©"."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _text_chunk(kind: bytes, data: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt/zTXt/iTXt chunk whose keyword holds a recipe, its text capped."""
    keyword, _, rest = data.partition(b"\0")
    key = keyword.decode("latin-1")
    cap = RECIPE_KEYS.get(key)
    if cap is None:
        return None
    if kind == b"tEXt":
        return key, decode_text(rest[:cap])
    if kind == b"zTXt":
        compressed, raw = True, rest[1:]
    else:   # iTXt: compression flag, method, language\0, translated keyword\0, text
        compressed = rest[:1] == b"\1"
        raw = rest[2:].split(b"\0", 2)[-1]
    if compressed:
        inflate = zlib.decompressobj()
        try:
            # Never more than the cap comes out, whatever the chunk inflates to (a zip bomb stays small).
            raw = inflate.decompress(raw, cap)
        except zlib.error:
            raise RecipeError("its recipe text is damaged") from None
        if inflate.unconsumed_tail:
            raise RecipeError(f"its recipe text unpacks to more than {cap:,} bytes, too long to be real")
    return key, (raw.decode("utf-8", "replace") if kind == b"iTXt" else decode_text(raw))


def _open_regular(path):
    try:
        # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise RecipeError(f"it could not be opened ({exc.strerror or exc})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise RecipeError("it is not a regular file")
    if info.st_size == 0:
        os.close(fd)
        raise EmptyFile("it is empty (0 bytes)")
    return os.fdopen(fd, "rb")


def read_texts(path: str | Path) -> dict[str, str]:
    """The recipe texts of a PNG (its text chunks, by keyword) or a JPEG (A1111's EXIF UserComment, as
    "parameters"), read straight from the file, bounded in time and memory.

    The pixels are never decoded (so no decompression bomb can go off), big chunks are skipped
    with a seek, and only regular files are opened (a FIFO would block, /dev/zero never ends).
    Raises RecipeError with the reason when the file cannot be used.
    """
    texts: dict[str, str] = {}
    with _open_regular(path) as f:
        try:
            head = f.read(8)
            if head[:3] == b"\xff\xd8\xff":
                from .foreign import jpeg_texts
                return jpeg_texts(f)
            if head != PNG_SIGNATURE:
                raise NoRecipe("it is not a PNG or JPEG picture")
            for _ in range(MAX_CHUNKS):
                head = f.read(8)
                if len(head) < 8:
                    break
                length, kind = struct.unpack(">I4s", head)
                if kind == b"IEND":
                    break
                if kind in (b"tEXt", b"zTXt", b"iTXt"):
                    start = f.read(min(length, 80))
                    keyword = start.partition(b"\0")[0].decode("latin-1")
                    cap = RECIPE_KEYS.get(keyword)
                    if cap and length > cap + 100:   # the keyword and iTXt's flags fit in 100 bytes
                        raise RecipeError(f"its recipe is {length:,} bytes long, too long to be real")
                    length -= len(start)
                    if cap and keyword not in texts:
                        found = _text_chunk(kind, start + f.read(length))
                        texts[keyword] = found[1]
                        length = 0
                f.seek(length + 4, os.SEEK_CUR)  # skip pixels and other chunks with a seek, and the CRC
        except OSError as exc:
            raise RecipeError(f"it could not be read ({exc.strerror or exc})") from None
    return texts


def read_parameters(path: str | Path) -> str | None:
    """The A1111-style "parameters" text of a PNG (or a JPEG's EXIF), or None; RecipeError says why not."""
    return read_texts(path).get("parameters")


@dataclass
class Recipe:
    """What a dropped picture's recipe became: the request, the tool that wrote it, what did not carry over."""
    request: ImageRequest
    tool: str
    notes: list = field(default_factory=list)

    def command(self) -> str:
        return image_command(self.request)   # the file's text stays text: only the recipe's fields become flags


def read_recipe(path: str | Path) -> Recipe:
    """A picture's recipe, whichever tool wrote it; RecipeError (NoRecipe, EmptyFile) says why there is none."""
    from .foreign import ForeignError, foreign_request
    name = Path(path).name
    try:
        texts = read_texts(path)
    except RecipeError as exc:
        raise type(exc)(f"{name} cannot be used: {exc}.") from None
    try:
        found = foreign_request(texts, lambda text, notes: parse_parameters(text, MAX_PROMPT_CHARS, notes))
    except (RecipeError, ForeignError) as exc:
        raise RecipeError(f"{name} cannot be used: {exc}") from None
    if found is None:
        raise NoRecipe(f"{name} has no generation parameters in it" +
                       (" that chatapp knows (it has " + ", ".join(sorted(texts)) + ")." if texts else "."))
    request, notes, tool = found
    if not request.prompt:
        raise RecipeError(f"{name} cannot be used: its {tool} recipe has no prompt.")
    return Recipe(request, tool, notes)


def recipe_command(path: str | Path) -> str:
    """The /image command that remakes a picture; RecipeError says why there is none."""
    return read_recipe(path).command()


def write_atomically(path: Path, data: bytes) -> Path:
    """A picture's bytes to path, write-then-rename: a crash leaves no half file (imports, the user's pictures)."""
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_png(result, out_dir: Path, model_name: str = "", model_hash: str = "") -> SavedImage:
    """Write result.image with its recipe; write-then-rename so a crash leaves no half file."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = format_parameters(result.request, model_name, model_hash)
    info = PngInfo()
    info.add_text("parameters", text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"{stamp}-{result.seed}.png"
    n = 1
    while path.exists():
        path = out_dir / f"{stamp}-{result.seed}-{n}.png"
        n += 1
    tmp = path.with_suffix(".part")
    try:
        # compress_level 1: a few percent larger, several times faster on big pictures
        result.image.save(tmp, format="PNG", pnginfo=info, compress_level=1)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in DISK_FULL_ERRNOS:   # the worker shows strerror: say which disk and what to do
            raise OSError(exc.errno, f"the disk holding your chats and pictures is full ({exc.strerror})", str(path)) \
                from exc
        raise
    return SavedImage(str(path), result.request, text)
