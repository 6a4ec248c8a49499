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

from .commands import MAX_PROMPT_CHARS, MAX_SEED, image_command, too_long
from .conversation import ImageRequest
from .engines.img2img import mask_blur
from .engines.lora import MAX_WEIGHT, MIN_WEIGHT, parse_weight, split_tags, with_tags
from .engines.schedulers import SCHEDULERS, sampler_match

# A recipe is a prompt and a line of settings; a real one is a few KB. Anything longer is cut
# here, before parsing, so a hostile file cannot make reading it slow (it also caps memory).
MAX_RECIPE_CHARS = 32_000
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)   # no space left; the user's quota used up
_KEY = re.compile(r"[\w ]+")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_RECIPE_BYTES = MAX_RECIPE_CHARS * 4
MAX_CHUNKS = 10_000          # chunks looked at before giving up on finding the recipe
MAX_GRAPH_BYTES = 2_000_000  # a ComfyUI workflow of a few hundred nodes is ~300 KB


class RecipeError(Exception):
    """A dropped file that cannot give a recipe; the message is for the user."""


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


def parse_parameters(text: str, max_prompt: int | None = None, notes: list | None = None) -> ImageRequest:
    """Read an A1111 parameters text (ours or another tool's: Forge, SD.Next, a JPEG's EXIF) back into a request.

    With max_prompt, a prompt or negative prompt longer than that is a RecipeError, said before the
    LoRA tags are looked for: what /image would refuse is not worked on first. What could not be carried
    over (a sampler not here, a seed out of range) is added to `notes`.
    """
    notes = [] if notes is None else notes
    # Windows line ends (\r\n) from some tools would stay in the prompt and break the settings line.
    lines = text[:MAX_RECIPE_CHARS].replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    values: dict[str, str] = {}
    if lines:
        pairs = _fields(lines[-1])
        if len(pairs) >= 3:
            # Keys by lower case: tools write "CFG Scale" as well as A1111's "CFG scale".
            values = {k.strip().lower(): v.strip().strip('"') for k, v in pairs}
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
    req.steps, req.cfg = number("steps", int), number("cfg scale", float)
    req.seed = checked_seed(number("seed", int), notes)
    if "x" in values.get("size", ""):
        w, _, h = values["size"].partition("x")
        if w.strip().isdigit() and h.strip().isdigit():
            req.width, req.height = int(w), int(h)
    if "sampler" in values:
        req.scheduler, note = sampler_match(values["sampler"], values.get("schedule type", ""))
        notes += [note] if note else []
    req.strength = number("denoising strength", float)   # an edit's; its source picture is not in the file
    return req


def checked_seed(seed, notes: list) -> int | None:
    """A recipe's seed as /image takes it (0 to 2^64-1, as ComfyUI's); another (A1111's -1) is left out, said."""
    if seed is None or 0 <= seed < MAX_SEED:
        return seed
    notes.append(f"its seed {seed} is outside 0 to {MAX_SEED - 1}, so a new one is drawn")
    return None


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
                from .recipes.foreign import jpeg_texts
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
    from .recipes.foreign import ForeignError, foreign_request
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
