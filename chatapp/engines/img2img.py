"""Edit a picture (img2img) or repaint part of it (inpainting) with the loaded pipeline's own components."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, replace

from ..picture_bytes.formats import FORMATS, READABLE
from ..recipes.a1111 import mask_blur
from ..recipes.request import DEFAULT_STRENGTH, ImageRequest, ModelLimits
from .base import EngineError

MAX_PIXELS = 4096 * 4096          # larger sources are refused from their header, before any decoding


@dataclass
class EditInputs:
    image: object                 # PIL RGB picture, at the size it is drawn
    mask: object | None           # PIL "L" picture of the same size, white where it is repainted
    strength: float
    blur: int = 0                 # feather of the mask's edge in pixels (A1111's "Mask blur")


@dataclass
class _Output:                    # what a diffusers pipeline returns, as far as the engine reads it
    images: list


def edit_fields(req: ImageRequest) -> dict:
    """The edit's fields of a request, to carry over when the engine fills in the model's defaults."""
    return {"init": req.init, "strength": req.strength, "mask": req.mask, "source_id": req.source_id}


def open_picture(path: str, what: str):
    """A picture file opened lazily (its header only: size and format). EngineError says what is wrong."""
    name = os.path.basename(path) or path
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise EngineError(f"The {what} {path} cannot be opened: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(mode):   # a FIFO would block, /dev/zero never ends
        raise EngineError(f"The {what} {name} is not a regular file.")
    from PIL import Image
    try:
        picture = Image.open(path, formats=FORMATS)
    except Image.DecompressionBombError:   # PIL's own limit, from the header
        raise EngineError(f"The {what} {name} is too large to edit (at most {MAX_PIXELS // 1_000_000} "
                          "megapixels).") from None
    except Exception:   # PIL raises UnidentifiedImageError, SyntaxError, struct.error, ... on junk
        raise EngineError(f"The {what} {name} is not a picture chatapp can read ({READABLE}).") from None
    if picture.width * picture.height > MAX_PIXELS:
        picture.close()
        raise EngineError(f"The {what} {name} is {picture.width}x{picture.height}, too large to edit "
                          f"(at most {MAX_PIXELS // 1_000_000} megapixels).")
    return picture


def check_files(init: str, mask: str | None) -> tuple[int, int]:
    """Headers only (cheap, for the thread pool before queueing): both readable, the mask of the picture's size."""
    with open_picture(init, "picture to edit") as picture:
        size = picture.size
    if mask:
        with open_picture(mask, "mask") as m:
            if m.size != size:
                raise EngineError(f"The mask is {m.width}x{m.height} but the picture is {size[0]}x{size[1]}; "
                                  "a mask must be the same size as the picture it covers.")
    return size


def _decode(path: str, what: str, mode: str):
    picture = open_picture(path, what)
    try:
        return picture.convert(mode)   # decodes; a truncated file fails here
    except Exception:
        raise EngineError(f"The {what} {os.path.basename(path)} is damaged and cannot be read.") from None
    finally:
        picture.close()


def drawing_size(size: tuple[int, int], asked: tuple[int | None, int | None], largest: int) -> tuple[int, int]:
    """--size if given, else the picture's own; within the model's largest side, multiples of 8."""
    w, h = (asked[0], asked[1]) if asked[0] and asked[1] else size
    scale = min(1.0, largest / max(w, h))
    return max(8, int(w * scale) // 8 * 8), max(8, int(h * scale) // 8 * 8)


def prepare(request: ImageRequest, limits: ModelLimits) -> tuple[ImageRequest, EditInputs]:
    """Decode the source (and mask) on the worker, before any step: a bad file fails the job here."""
    if not request.init or request.init.startswith("#") or request.init == "last":
        raise EngineError(f"--init {request.init} does not name a picture file; use #N of this chat or a path.")
    image = _decode(request.init, "picture to edit", "RGB")
    mask = _decode(request.mask, "mask", "L") if request.mask else None
    if mask is not None and mask.size != image.size:
        raise EngineError(f"The mask is {mask.width}x{mask.height} but the picture is {image.width}x{image.height}; "
                          "a mask must be the same size as the picture it covers.")
    size = drawing_size(image.size, (request.width, request.height), limits.max_side)
    if size != image.size:
        from PIL import Image
        image = image.resize(size, Image.Resampling.LANCZOS)
        mask = mask.resize(size, Image.Resampling.BILINEAR) if mask is not None else None
    strength = DEFAULT_STRENGTH if request.strength is None else float(request.strength)
    blur = mask_blur(*size) if mask is not None else 0
    return replace(request, width=size[0], height=size[1]), EditInputs(image, mask, strength, blur)


def for_inpainting_model(request: ImageRequest, edit: EditInputs | None, defaults: dict) -> EditInputs:
    """A dedicated inpainting checkpoint (9-channel UNet) has no plain text-to-image or img2img path:
    like AUTOMATIC1111, draw with all of the picture masked (a blank canvas for a new picture)."""
    from PIL import Image
    if edit is None:
        size = (request.width or int(defaults["width"]), request.height or int(defaults["height"]))
        return EditInputs(Image.new("RGB", size, (127, 127, 127)), Image.new("L", size, 255), 1.0)
    if edit.mask is None:
        return replace(edit, mask=Image.new("L", edit.image.size, 255))
    return edit


def paste_back(source, drawn, mask, blur: int):
    """Outside the mask the source's own pixels come back (the VAE round trip shifts them); the
    edge is feathered inward only, so a pixel outside the mask is exactly what it was."""
    import numpy as np
    from PIL import Image, ImageFilter
    hard = np.asarray(mask, dtype=np.float32) / 255.0
    soft = np.asarray(mask.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255.0
    alpha = np.minimum(hard, soft)[..., None]
    drawn = np.asarray(drawn.convert("RGB"), dtype=np.float32)
    out = np.asarray(source, dtype=np.float32) * (1 - alpha) + drawn * alpha
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


def edit_call(pipe, edit: EditInputs):
    """A stand-in for `pipe(...)` with the text-to-image call's arguments that edits edit.image instead.

    The img2img / inpaint pipelines are built from pipe.components: the same modules (no second copy of
    the weights), so the engine's block hooks, scheduler and dtype apply as they are.
    """
    def call(prompt, *, width, height, num_inference_steps, **kwargs):
        if int(num_inference_steps * edit.strength) < 1:
            return _Output([edit.image.copy()])   # nothing would be redrawn (diffusers refuses 0 steps)
        from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline
        parts = {k: v for k, v in pipe.components.items()}
        if edit.mask is None:
            sub = StableDiffusionImg2ImgPipeline(**parts, requires_safety_checker=False)
            sub.set_progress_bar_config(disable=True)
            return sub(prompt, image=edit.image, strength=edit.strength, num_inference_steps=num_inference_steps,
                       **kwargs)
        # A 4-channel UNet gets diffusers' masked latent blending; a 9-channel (inpainting) UNet sees the mask.
        sub = StableDiffusionInpaintPipeline(**parts, requires_safety_checker=False)
        sub.set_progress_bar_config(disable=True)
        out = sub(prompt, image=edit.image, mask_image=edit.mask, strength=edit.strength, width=width,
                  height=height, num_inference_steps=num_inference_steps, **kwargs)
        return _Output([paste_back(edit.image, out.images[0], edit.mask, edit.blur)])
    return call
