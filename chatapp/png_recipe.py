"""PNG files with their recipe in an AUTOMATIC1111-style "parameters" text chunk: write and read back."""
from __future__ import annotations

import errno
import json
import os
import re
import stat
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL.PngImagePlugin import PngInfo

from .commands import MAX_PROMPT_CHARS, image_command, too_long
from .conversation import ImageRequest
from .engines.img2img import mask_blur
from .engines.lora import MAX_WEIGHT, MIN_WEIGHT, parse_weight, split_tags, with_tags
from .engines.schedulers import SCHEDULERS, flag_for_sampler

# A recipe is a prompt and a line of settings; a real one is a few KB. Anything longer is cut
# here, before parsing, so a hostile file cannot make reading it slow (it also caps memory).
MAX_RECIPE_CHARS = 32_000
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)   # no space left; the user's quota used up
_KEY = re.compile(r"[\w ]+")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_RECIPE_BYTES = MAX_RECIPE_CHARS * 4
MAX_CHUNKS = 10_000          # chunks looked at before giving up on finding the recipe


class RecipeError(Exception):
    """A dropped file that cannot give a recipe; the message is for the user."""


class NoRecipe(RecipeError):
    """A picture with no recipe in it: nothing is wrong with it (it can still be edited)."""


@dataclass
class SavedImage:
    path: str
    request: ImageRequest      # fully resolved recipe, seed included
    parameters: str            # the text written into the PNG
    notes: list = field(default_factory=list)   # for the picture's footer (e.g. the prompt was cut short)


def format_parameters(req: ImageRequest, model_name: str = "", model_hash: str = "") -> str:
    lines = [req.prompt]
    if req.negative:
        lines.append(f"Negative prompt: {req.negative}")
    sampler = SCHEDULERS.get(req.scheduler or "", (None, req.scheduler or ""))[1]
    fields = [("Steps", req.steps), ("Sampler", sampler), ("CFG scale", req.cfg), ("Seed", req.seed),
              ("Size", f"{req.width}x{req.height}"), ("Model hash", model_hash), ("Model", model_name)]
    if req.init:   # an edit, as A1111 records img2img: how much was redrawn, and that a mask was used
        blur = mask_blur(req.width or 512, req.height or 512) if req.mask else None
        fields += [("Denoising strength", req.strength), ("Mask blur", blur)]
    fields += lora_fields(req, lines)
    lines.append(", ".join(f"{k}: {v}" for k, v in fields if v not in (None, "")))
    return "\n".join(lines)


def lora_fields(req: ImageRequest, lines: list[str]) -> list[tuple[str, str]]:
    """LoRAs as AUTOMATIC1111 records them: <lora:NAME:WEIGHT> in the prompt, and `Lora hashes: "NAME: HASH, ..."`
    (the hash is A1111's: sha256 of the file after its header, 12 hex digits; ':' and ',' dropped from names)."""
    loras = [tuple(x) for x in req.loras]
    if not loras:
        return []
    lines[0] = with_tags(lines[0], loras)
    hashes = ", ".join(f"{x[0].replace(':', '').replace(',', '')}: {x[2]}" for x in loras if len(x) > 2 and x[2])
    return [("Lora hashes", json.dumps(hashes, ensure_ascii=False))] if hashes else []


def _fields(line: str) -> list[tuple[str, str]]:
    """The "Key: value, Key: value" pairs of A1111's settings line (values may be quoted).

    Same results as A1111's own regex on real recipes, but one pass: that regex retries at every
    position and took seconds on a long last line.
    """
    pairs, i, n = [], 0, len(line)
    while i < n:
        colon = line.find(":", i)
        if colon < 0:
            break
        key = line[i:colon].rpartition(",")[2].strip()
        j = colon + 1
        while j < n and line[j] == " ":
            j += 1
        k = j + 1
        if j < n and line[j] == '"':       # a quoted value runs to its closing quote (\" escapes one)
            while k < n and line[k] != '"':
                k += 2 if line[k] == "\\" else 1
        if k < n and line[j] == '"':
            value = line[j:k + 1]
            comma = line.find(",", k + 1)
        else:                              # unquoted, or a quote never closed: up to the next comma
            comma = line.find(",", j)
            value = line[j:comma if comma >= 0 else n]
        if key and _KEY.fullmatch(key):
            pairs.append((key, value))
        i = comma + 1 if comma >= 0 else n
    return pairs


def parse_parameters(text: str, max_prompt: int | None = None) -> ImageRequest:
    """Read an A1111 parameters text (ours or another tool's) back into a request.

    With max_prompt, a prompt or negative prompt longer than that is a RecipeError, said before the
    LoRA tags are looked for: what /image would refuse is not worked on first.
    """
    lines = text[:MAX_RECIPE_CHARS].strip().split("\n")
    values: dict[str, str] = {}
    if lines:
        pairs = _fields(lines[-1])
        if len(pairs) >= 3:
            values = {k.strip(): v.strip().strip('"') for k, v in pairs}
            lines.pop()
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    req = ImageRequest(prompt="\n".join(prompt).strip(), negative="\n".join(negative).strip())
    for what, part in (("its prompt", req.prompt), ("its negative prompt", req.negative)):
        if max_prompt is not None and len(part) > max_prompt:
            raise RecipeError(too_long(what, len(part)))
    req.prompt, req.loras = _loras(req.prompt)

    def number(key, kind):
        try:
            return kind(values[key]) if key in values else None
        except ValueError:
            return None
    req.steps, req.cfg, req.seed = number("Steps", int), number("CFG scale", float), number("Seed", int)
    if "x" in values.get("Size", ""):
        w, _, h = values["Size"].partition("x")
        if w.isdigit() and h.isdigit():
            req.width, req.height = int(w), int(h)
    if "Sampler" in values:
        req.scheduler = flag_for_sampler(values["Sampler"])
    req.strength = number("Denoising strength", float)   # an edit's; its source picture is not in the file
    return req


def _loras(prompt: str) -> tuple[str, list]:
    """<lora:NAME:WEIGHT> tags out of a recipe's prompt. A1111's extra fields (a UNet weight, te=, dyn=) are
    left out and a weight beyond chatapp's range is clamped, so the command it gives always parses."""
    text, tags = split_tags(prompt)
    loras = []
    for name, weight in tags:
        first = weight.split(":")[0].strip()
        try:
            value = float(first) if first else 1.0
        except ValueError:
            value = 1.0
        try:
            loras.append((name, parse_weight(name, f"{min(max(value, MIN_WEIGHT), MAX_WEIGHT):g}")))
        except ValueError:
            continue   # not a usable name (a path): the tag is dropped rather than break the recipe
    return text, loras


def _text_chunk(kind: bytes, data: bytes) -> str | None:
    """The text of a tEXt/zTXt/iTXt chunk whose keyword is "parameters", at most MAX_RECIPE_CHARS."""
    keyword, _, rest = data.partition(b"\0")
    if keyword != b"parameters":
        return None
    if kind == b"tEXt":
        return rest.decode("latin-1")[:MAX_RECIPE_CHARS]
    if kind == b"zTXt":
        compressed, raw = True, rest[1:]
    else:   # iTXt: compression flag, method, language\0, translated keyword\0, text
        compressed = rest[:1] == b"\1"
        raw = rest[2:].split(b"\0", 2)[-1]
    if compressed:
        inflate = zlib.decompressobj()
        try:
            # Never more than the cap comes out, whatever the chunk inflates to (a zip bomb stays small).
            raw = inflate.decompress(raw, MAX_RECIPE_BYTES)
        except zlib.error:
            raise RecipeError("its recipe text is damaged") from None
        if inflate.unconsumed_tail:
            raise RecipeError(f"its recipe text unpacks to more than {MAX_RECIPE_BYTES:,} bytes, too long to be real")
    return raw.decode("utf-8" if kind == b"iTXt" else "latin-1", "replace")[:MAX_RECIPE_CHARS]


def read_parameters(path: str | Path) -> str | None:
    """The "parameters" text of a PNG, read straight from its chunks, bounded in time and memory.

    The pixels are never decoded (so no decompression bomb can go off), big chunks are skipped
    with a seek, and only regular files are opened (a FIFO would block, /dev/zero never ends).
    Raises RecipeError with the reason when the file cannot be used.
    """
    try:
        # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise RecipeError(f"it could not be opened ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RecipeError("it is not a regular file")
    with os.fdopen(fd, "rb") as f:
        try:
            if f.read(8) != PNG_SIGNATURE:
                raise NoRecipe("it is not a PNG picture")
            for _ in range(MAX_CHUNKS):
                head = f.read(8)
                if len(head) < 8:
                    return None
                length, kind = struct.unpack(">I4s", head)
                if kind == b"IEND":
                    return None
                if kind in (b"tEXt", b"zTXt", b"iTXt"):
                    if length > MAX_RECIPE_BYTES:
                        keyword = f.read(11)
                        if keyword == b"parameters\0":
                            raise RecipeError(f"its recipe is {length:,} bytes long, too long to be real")
                        length -= len(keyword)
                    else:
                        text = _text_chunk(kind, f.read(length))
                        if text is not None:
                            return text
                        length = 0
                f.seek(length + 4, os.SEEK_CUR)  # skip pixels and other chunks with a seek, and the CRC
        except OSError as exc:
            raise RecipeError(f"it could not be read ({exc.strerror or exc})") from None
    return None


def recipe_command(path: str | Path) -> str:
    """The /image command that remakes a PNG's picture; RecipeError says why there is none."""
    name = Path(path).name
    try:
        text = read_parameters(path)
    except RecipeError as exc:
        raise type(exc)(f"{name} cannot be used: {exc}.") from None
    if not text:
        raise NoRecipe(f"{name} has no generation parameters in it.")
    try:
        recipe = parse_parameters(text, MAX_PROMPT_CHARS)
    except RecipeError as exc:
        raise RecipeError(f"{name} cannot be used: {exc}") from None
    return image_command(recipe)   # the file's text stays text: only the recipe's fields become flags


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
