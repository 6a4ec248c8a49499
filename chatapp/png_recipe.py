"""PNG files with their recipe in an AUTOMATIC1111-style "parameters" text chunk: write and read back."""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .conversation import ImageRequest
from .engines.schedulers import SCHEDULERS, flag_for_sampler

# AUTOMATIC1111's own pattern for the "Key: value, Key: value" line (values may be quoted).
_PARAM = re.compile(r'\s*([\w ]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


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
    lines.append(", ".join(f"{k}: {v}" for k, v in fields if v not in (None, "")))
    return "\n".join(lines)


def parse_parameters(text: str) -> ImageRequest:
    """Read an A1111 parameters text (ours or another tool's) back into a request."""
    lines = text.strip().split("\n")
    values: dict[str, str] = {}
    if lines and len(_PARAM.findall(lines[-1])) >= 3:
        values = {k.strip(): v.strip().strip('"') for k, v in _PARAM.findall(lines.pop())}
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    req = ImageRequest(prompt="\n".join(prompt).strip(), negative="\n".join(negative).strip())

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
    return req


def read_parameters(path: str | Path) -> str | None:
    with Image.open(path) as im:
        return im.info.get("parameters") or getattr(im, "text", {}).get("parameters")


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
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return SavedImage(str(path), result.request, text)
