"""AUTOMATIC1111's "parameters" text (a prompt, "Negative prompt: ...", a line of "Key: value" settings): written from a request, read back into one."""
from __future__ import annotations

import json
import re

from . import RecipeError
from .loras import recipe_loras, with_tags
from .request import MAX_SEED, ImageRequest, too_long
from .samplers import sampler_match, sampler_name

# A recipe is a prompt and a line of settings; a real one is a few KB. Anything longer is cut
# here, before parsing, so a hostile file cannot make reading it slow (it also caps memory).
MAX_RECIPE_CHARS = 32_000
_KEY = re.compile(r"[\w ]+")


def mask_blur(width: int, height: int) -> int:
    """The mask edge's feather in pixels: 4 at 512x512 (A1111's default "Mask blur"), at least 1."""
    return max(1, round(min(width, height) / 128))


def format_parameters(req: ImageRequest, model_name: str = "", model_hash: str = "") -> str:
    lines = [req.prompt]
    if req.negative:
        lines.append(f"Negative prompt: {req.negative}")
    sampler = sampler_name(req.scheduler)
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
    req.prompt, req.loras = recipe_loras(req.prompt)

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
