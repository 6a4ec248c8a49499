"""Other tools' picture recipes (ComfyUI, SwarmUI, Fooocus, RuinedFooocus, InvokeAI, NovelAI, A1111 in a JPEG) -> an ImageRequest and notes on what did not carry over."""
from __future__ import annotations

import ast
import json
import struct

from .a1111 import checked_seed
from .command import MAX_COMMAND_CHARS
from .loras import MAX_LORAS, parse_weight
from .request import MAX_PROMPT_CHARS, ImageRequest, check_length
from .samplers import sampler_match

MAX_APP_SEGMENTS = 64        # a JPEG's segments looked at before its pixels; real files have a handful
MAX_GRAPH_NODES = 2_000      # a ComfyUI graph larger than this is not walked (the reader recurses)
# sd-parsers walks a ComfyUI graph once per sampler: samplers x nodes is its cost (measured here: 32 samplers
# in 2,000 nodes 2.2 s, 300 chained samplers 1.2 s). Real graphs: 1-10 samplers in 20-500 nodes.
MAX_GRAPH_WORK = 20_000
MAX_DREAM_CHARS = MAX_COMMAND_CHARS   # InvokeAI 2's one line: a prompt, its negative, the flags


class ForeignError(Exception):
    """A recipe that is there but cannot be used; the message is for the user."""


def jpeg_texts(f) -> dict[str, str]:
    """A JPEG's A1111/Fooocus recipe: EXIF UserComment, as "parameters". Only the segments before the
    pixels are read, each at most 64 KB by the format; the pixels are never decoded."""
    from PIL import Image
    f.seek(2)
    for _ in range(MAX_APP_SEGMENTS):
        marker = f.read(4)
        if len(marker) < 4 or marker[0] != 0xFF or marker[1] in (0xDA, 0xD9):   # start of scan / end: no EXIF
            return {}
        (length,) = struct.unpack(">H", marker[2:])
        data = f.read(max(length - 2, 0))
        if marker[1] == 0xE1 and data.startswith(b"Exif\0\0"):
            exif = Image.Exif()
            try:
                exif.load(data)
                comment = exif.get_ifd(0x8769).get(0x9286)   # Exif IFD -> UserComment
            except Exception:   # a damaged EXIF block: Pillow raises many kinds; it only means no recipe
                return {}
            text = user_comment(comment) if isinstance(comment, bytes) else comment
            return {"parameters": text} if text else {}
    return {}


def user_comment(raw: bytes) -> str:
    """EXIF UserComment: an 8-byte charset code, then the text (A1111 writes UTF-16 big-endian)."""
    code, body = raw[:8], raw[8:]
    if code.startswith(b"UNICODE"):
        big = body[:1] == b"\0" or not body[1:2] == b"\0"
        return body.decode("utf-16-be" if big else "utf-16-le", "replace").rstrip("\0")
    if code.startswith((b"ASCII", b"\0\0\0\0\0\0\0\0")):
        return body.decode("utf-8", "replace").rstrip("\0")
    return raw.decode("utf-8", "replace").rstrip("\0")


def foreign_request(texts: dict[str, str], a1111) -> tuple[ImageRequest, list[str], str] | None:
    """(request, notes, the tool's name) from a picture's recipe texts, or None when there is none.
    `a1111(text, notes)` reads an A1111 text (a1111.parse_parameters). ForeignError: unusable."""
    notes: list[str] = []
    params = texts.get("parameters", "").strip()
    if params.startswith("{"):
        return _json_recipe(params, texts, notes)
    if params:
        return a1111(params, notes), notes, "AUTOMATIC1111"
    if "prompt" in texts and "workflow" in texts:
        return _from_sd_parsers("ComfyUIParser", texts, notes), notes, "ComfyUI"
    if any(k in texts for k in ("invokeai_metadata", "sd-metadata", "Dream")):
        return _from_sd_parsers("InvokeAIParser", texts, notes), notes, "InvokeAI"
    if "NovelAI" in texts.get("Software", "") and "Comment" in texts:
        return _from_sd_parsers("NovelAIParser", texts, notes), notes, "NovelAI"
    if "prompt" in texts:
        raise ForeignError("its ComfyUI graph has no workflow beside it, so its prompts cannot be found")
    return None


def _json_recipe(params: str, texts: dict, notes: list) -> tuple[ImageRequest, list[str], str]:
    try:
        data = json.loads(params)
    except (ValueError, RecursionError):   # "[[[[..." nested past Python's stack is a RecursionError
        raise ForeignError("its recipe looks like JSON but is damaged") from None
    if not isinstance(data, dict):
        raise ForeignError("its recipe is JSON in a layout chatapp does not know")
    if isinstance(data.get("sui_image_params"), dict):
        return _plain(data["sui_image_params"], notes), notes, "SwarmUI"
    if str(data.get("software", "")).startswith("RuinedFooocus") or "Prompt" in data:
        return _plain(data, notes), notes, "RuinedFooocus"
    if texts.get("fooocus_scheme") or str(data.get("version", "")).startswith("Fooocus"):
        req = _from_sd_parsers("FooocusParser", {"parameters": params}, notes, data)
        if isinstance(data.get("loras"), list) and data["loras"]:
            _carry_loras(req, data["loras"], [], notes)
        styles = data.get("styles")
        if styles and styles != "[]":   # Fooocus adds its styles' words to the prompt when drawing
            notes.append(f"its Fooocus styles {styles} are not applied here; only its own prompt is used")
        return req, notes, "Fooocus"
    raise ForeignError("its recipe is JSON in a layout chatapp does not know")


# Each field's names across SwarmUI, RuinedFooocus and others (compared in lower case).
_NAMES = {"prompt": ("prompt",), "negative": ("negativeprompt", "negative_prompt", "negative"),
          "steps": ("steps",), "cfg": ("cfgscale", "cfg_scale", "cfg", "guidance_scale", "scale"),
          "seed": ("seed", "noise_seed"), "width": ("width",), "height": ("height",),
          "sampler": ("sampler", "sampler_name"), "schedule": ("scheduler", "schedule")}


def _plain(data: dict, notes: list) -> ImageRequest:
    """A flat JSON recipe (SwarmUI's sui_image_params, RuinedFooocus's) by its fields' usual names."""
    low = {str(k).lower(): v for k, v in data.items()}
    get = {field: next((low[n] for n in names if n in low), None) for field, names in _NAMES.items()}
    req = _request(get["prompt"], get["negative"], get["steps"], get["cfg"], get["seed"],
                   get["width"], get["height"], notes)
    _sampler(req, get["sampler"], get["schedule"], notes)
    names, weights = low.get("loras"), low.get("loraweights")
    if isinstance(names, list) and names:
        _carry_loras(req, names, weights if isinstance(weights, list) else [], notes)
    return req


def _carry_loras(req, names: list, weights: list, notes: list) -> None:
    """SwarmUI's loras + loraweights lists, or [[name, weight], ...] pairs, as chatapp LoRAs by file stem."""
    for i, item in enumerate(names[:MAX_LORAS]):
        name, weight = (item[0], item[1]) if isinstance(item, (list, tuple)) and len(item) > 1 else \
            (item, weights[i] if i < len(weights) else 1)
        stem = str(name).replace("\\", "/").rpartition("/")[2].rsplit(".", 1)[0] if "." in str(name) else str(name)
        try:
            req.loras.append((stem, parse_weight(stem, str(weight))))
        except ValueError as exc:
            notes.append(f"its LoRA {name!r} was left out ({exc})")
    if len(names) > MAX_LORAS:
        notes.append(f"only the first {MAX_LORAS} of its {len(names)} LoRAs were kept")


def _number(value, kind):
    try:
        return kind(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _request(prompt, negative, steps, cfg, seed, width, height, notes: list) -> ImageRequest:
    prompt, negative = _text(prompt), _text(negative)
    for what, part in (("its prompt", prompt), ("its negative prompt", negative)):
        check_length(what, part)   # before anything else looks at the text (RecipeError says how long)
    if not prompt:
        raise ForeignError("its recipe has no prompt")
    req = ImageRequest(prompt=prompt, negative=negative, steps=_number(steps, int), cfg=_number(cfg, float),
                       seed=checked_seed(_number(seed, int), notes))
    w, h = _number(width, int), _number(height, int)
    if w and h and w > 0 and h > 0:
        req.width, req.height = w, h
    return req


def _text(value) -> str:
    """A prompt field as text with Unix line ends (a list, as Fooocus keeps some, joined)."""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value[:100])
    text = str(value or "")
    if len(text) > MAX_PROMPT_CHARS:   # left as it is, to be refused with its real length
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _sampler(req: ImageRequest, name, schedule, notes: list) -> None:
    if not name:
        return
    name = str(name).removeprefix("sample_")   # old ComfyUI graphs name k-diffusion's functions
    req.scheduler, note = sampler_match(name, str(schedule or ""))
    if note:
        notes.append(note)


def _is_sampler(node) -> bool:
    """A ComfyUI node sd-parsers reads as a sampler (its inputs name a sampler, steps or CFG)."""
    if not isinstance(node, dict):
        return False
    inputs = node.get("inputs")
    return "Sampler" in str(node.get("class_type", "")) or (
        isinstance(inputs, dict) and any(k in inputs for k in ("sampler_name", "steps", "cfg")))


def _from_sd_parsers(parser_name: str, texts: dict, notes: list, fooocus: dict | None = None) -> ImageRequest:
    """ComfyUI, InvokeAI, NovelAI and Fooocus through sd-parsers (the well-kept reader), mapped onto ours."""
    try:
        import sd_parsers.parsers as parsers
    except ImportError:
        raise ForeignError("reading its recipe needs the sd-parsers package (pip install sd-parsers)") from None
    if parser_name == "ComfyUIParser":
        try:
            graph = json.loads(texts["prompt"])
        except (ValueError, RecursionError):
            raise ForeignError("its ComfyUI graph is damaged") from None
        if not isinstance(graph, dict) or len(graph) > MAX_GRAPH_NODES:
            raise ForeignError(f"its ComfyUI graph is not one chatapp can read (over {MAX_GRAPH_NODES:,} nodes?)")
        samplers = sum(1 for node in graph.values() if _is_sampler(node))
        if samplers * len(graph) > MAX_GRAPH_WORK:   # sd-parsers walks the graph once per sampler
            raise ForeignError(f"its ComfyUI graph is too large to read here ({len(graph):,} nodes, {samplers} samplers)")
    elif parser_name == "InvokeAIParser" and "Dream" in texts:
        # Its "Dream" reader's patterns backtrack on long runs of quotes or spaces (32,000: 2-5 s); real
        # ones are a prompt and a few flags on one line, so runs of white space are made one space.
        texts = {**texts, "Dream": " ".join(texts["Dream"][:MAX_DREAM_CHARS].split())}
    try:
        info = getattr(parsers, parser_name)().parse(dict(texts))
    except Exception:   # a third-party reader on hostile input: any failure only means no usable recipe
        info = None
    if info is None or not info.samplers:
        raise ForeignError("its recipe could not be read (no sampler in it)")
    first = info.samplers[0]
    if len(info.samplers) > 1:
        notes.append(f"its graph has {len(info.samplers)} samplers (a second pass, say); "
                     "only the first one's settings were carried over")
    prompts = [p.value for p in first.prompts]
    if len(prompts) > 1:
        notes.append(f"its sampler combines {len(prompts)} prompts; they were joined into one")
    negative = [p.value for p in first.negative_prompts]
    meta, p = info.metadata, first.parameters
    width, height = meta.get("width"), meta.get("height")
    latent = meta.get("EmptyLatentImage")
    if isinstance(latent, list) and latent and isinstance(latent[0], dict):
        width, height = latent[0].get("width"), latent[0].get("height")
    if fooocus and isinstance(fooocus.get("resolution"), str):
        try:
            width, height = ast.literal_eval(fooocus["resolution"])   # "(768, 1280)": a tuple literal only
        except (ValueError, SyntaxError, TypeError):
            pass
    req = _request(", ".join(prompts), ", ".join(negative), p.get("steps", meta.get("steps")), p.get("cfg_scale"),
                   p.get("seed", p.get("noise_seed")), width, height, notes)
    _sampler(req, first.name, p.get("scheduler"), notes)
    denoise = _number(p.get("denoise", p.get("strength")), float)
    if parser_name != "NovelAIParser" and denoise is not None and denoise < 1:
        notes.append(f"it redrew another picture ({denoise:g} of it), which is not in the file; "
                     "this recipe draws from scratch")
    return req
