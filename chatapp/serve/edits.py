"""/v1/images/edits: the uploaded picture and mask become files the image engine edits; OpenAI's mask becomes chatapp's."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..engines.masks import chatapp_mask
from .pictures import open_picture
from .schemas import ApiError, ImageBody

FIELDS = ("prompt", "model", "n", "size", "response_format", "negative_prompt", "steps", "cfg_scale", "seed",
          "scheduler", "strength")


class EditBody(ImageBody):
    """The form fields of an edit: those of a generation, plus how much of the picture is redrawn."""
    strength: float | None = None   # chatapp's (A1111's denoising strength); default 0.75


def edit_body(form) -> EditBody:
    """The form's text fields, checked as a generation's are; mistakes are the client's (400)."""
    fields = {k: form[k] for k in FIELDS if k in form and isinstance(form[k], str) and form[k] != ""}
    try:
        return EditBody.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or None
        raise ApiError(400, f"{where}: {first.get('msg', 'invalid')}" if where else "invalid form", param=where) from None


def save_picture(data: bytes, folder: Path) -> tuple[Path, tuple[int, int]]:
    """The picture to edit, as an RGB PNG in folder; its size."""
    picture = open_picture(data, "The image", "image")
    path = folder / "image.png"
    picture.convert("RGB").save(path)
    return path, picture.size


def save_mask(data: bytes, size: tuple[int, int], folder: Path) -> Path:
    picture = open_picture(data, "The mask", "mask")
    if picture.size != size:
        raise ApiError(400, f"The mask is {picture.width}x{picture.height}; it must be the picture's size, "
                            f"{size[0]}x{size[1]}.", param="mask")
    path = folder / "mask.png"
    chatapp_mask(picture).save(path)
    return path
