"""A user message's pictures (meta["pictures"]) out of and into the data folder: read for the exports, checked and
written back by an import (into images/user/<chat id>, as the session keeps them); no Qt."""
from __future__ import annotations

import base64
import binascii
import io
import os
import uuid
from pathlib import Path

from ..conversation import Message, pictures_of
from ..recipes.png import write_atomically

_KINDS = {"image/png": (b"\x89PNG\r\n\x1a\n", ".png", "PNG"), "image/jpeg": (b"\xff\xd8\xff", ".jpg", "JPEG")}
_FIELDS = ("name", "source", "width", "height")
MAX_PICTURE_BYTES = 32 * 2**20   # chatapp's copies are <= 2048 px: far under this


def shown(m: Message) -> list[tuple[dict, bytes, str]]:
    """(entry, bytes, mime) of each picture of m whose file is still there (one deleted outside the app is left out)."""
    out = []
    for entry in pictures_of(m):
        try:
            with open(entry["path"], "rb") as f:
                data = f.read(MAX_PICTURE_BYTES + 1)
        except OSError:
            continue
        mime = next((k for k, (sig, _, _) in _KINDS.items() if data.startswith(sig)), None)
        if mime and len(data) <= MAX_PICTURE_BYTES:
            out.append((entry, data, mime))
    return out


def records(m: Message) -> list[dict]:
    """The JSON export's "pictures" of a message: each picture's fields and its bytes (base64), in order."""
    return [{**{k: entry[k] for k in _FIELDS if k in entry}, "mime": mime,
             "base64": base64.b64encode(data).decode("ascii")} for entry, data, mime in shown(m)]


def file_name(conversation_id: int, message_id: int, n: int, mime: str) -> str:
    """A picture's file name in the Markdown export's folder."""
    return f"{conversation_id}-{message_id}-{n}{_KINDS[mime][1]}"


class BadPicture(ValueError):
    """A picture in an import file that cannot be taken; the words say why."""


def parse(value) -> list[tuple[dict, bytes, str]]:
    """An import's "pictures" list -> (entry without a path, bytes, suffix) each, checked (PNG or JPEG, intact)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadPicture("its pictures are not a list")
    from PIL import Image
    out = []
    for n, item in enumerate(value, 1):
        if not isinstance(item, dict) or not isinstance(item.get("base64"), str):
            raise BadPicture(f"its picture {n} has no base64 data")
        try:
            data = base64.b64decode(item["base64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadPicture(f"its picture {n} is not valid base64") from None
        kind = next((k for k in _KINDS.values() if data.startswith(k[0])), None)
        if kind is None:
            raise BadPicture(f"its picture {n} is neither a PNG nor a JPEG")
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.format != kind[2]:
                    raise ValueError(im.format)
                im.verify()   # structure and checksums, without decoding the pixels
                size = im.size
        except Exception:
            raise BadPicture(f"its picture {n} is damaged") from None
        name = item.get("name") if isinstance(item.get("name"), str) and item.get("name") else f"picture {n}"
        source = item.get("source") if item.get("source") in ("file", "paste", "#N") else "file"
        out.append(({"name": name[:200], "width": size[0], "height": size[1], "source": source}, data, kind[1]))
    return out


def stage(pictures: list[tuple[dict, bytes, str]], folder: Path) -> list[tuple[dict, Path]]:
    """Write a message's pictures into folder (write-then-rename, fresh names): (entry, file) each."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for entry, data, suffix in pictures:
        out.append((entry, write_atomically(folder / f"{uuid.uuid4().hex}{suffix}", data)))
    return out


def move_into(staged: list[tuple[dict, Path]], folder: Path, moved: list[Path]) -> list[dict]:
    """The staged files moved into a chat's folder (renames; each new path appended to moved, for an undo): the
    meta["pictures"] entries."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for entry, path in staged:
        target = folder / path.name
        os.replace(path, target)
        moved.append(target)
        entries.append({"path": str(target), **entry})
    return entries
