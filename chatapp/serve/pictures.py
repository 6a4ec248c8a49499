"""Pictures that come in requests: chat pictures as data URLs only, decoded by the desktop's intake; an edit's upload; a 400 on junk."""
from __future__ import annotations

import io

from ..picture_bytes import data_urls
from ..picture_bytes.formats import FORMATS
from .schemas import ApiError

MAX_PICTURE_BYTES = 10 << 20     # one chat picture, decoded: a phone's JPEG is 2-8 MB
LOW_SIDE = 512                   # OpenAI's detail "low": a 512 px version of the picture
DETAILS = ("auto", "low", "high")


def open_picture(data: bytes, what: str, param: str | None):
    """A Pillow picture, decoded; a 400 naming `what` when it is not one (an edit's upload)."""
    from PIL import Image
    try:
        picture = Image.open(io.BytesIO(data), formats=FORMATS)
        picture.load()
    except Image.DecompressionBombError:
        raise ApiError(400, f"{what} has too many pixels.", param=param, code="invalid_image") from None
    except Exception:   # PIL raises many kinds on junk
        raise ApiError(400, f"{what} is not a picture this server can read (PNG, JPEG, WebP).", param=param,
                       code="invalid_image") from None
    return picture


def check_url(url: str, where: str) -> None:
    """Only data URLs: this server never fetches (it is offline, and a URL would reach into its network)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme != "data":
        shown = f"'{scheme}:'" if scheme and len(scheme) < 20 else "no scheme"
        raise ApiError(400, f"Invalid '{where}.image_url.url': this server takes pictures only as data URLs "
                            f"(data:image/png;base64,...), not {shown}; it never fetches a URL. Send the picture's "
                            "bytes base64-encoded in a data URL.", param=where, code="invalid_image_url")


def check_detail(part: dict, where: str) -> None:
    detail = part["image_url"].get("detail", "auto")
    if detail not in DETAILS:
        raise ApiError(400, f"Invalid value: {detail!r}. Supported values are: 'auto', 'low', and 'high'. "
                            f"(at '{where}.image_url.detail')", param=where, code="invalid_value")


def data_url_bytes(url: str, where: str) -> bytes:
    """The picture's bytes from a base64 data URL, or a 400 naming the part."""
    invalid = f"Invalid '{where}.image_url.url': "
    try:
        parsed = data_urls.decode(url, MAX_PICTURE_BYTES)
    except data_urls.DataUrlError as exc:
        message, code = {
            "not base64 data URL": (invalid + "a data URL must be base64 (data:image/png;base64,...).",
                                    "invalid_image_url"),
            "not base64": (invalid + "its data is not valid base64.", "invalid_image_url"),
            "too large": (f"The picture at '{where}' is larger than {MAX_PICTURE_BYTES >> 20} MB.", "image_too_large"),
            "empty": (f"The picture at '{where}' is empty.", "invalid_image")}[exc.reason]
        raise ApiError(400, message, param=where, code=code) from None
    if parsed.mime and not parsed.mime.startswith("image/"):
        raise ApiError(400, f"{invalid}{parsed.mime} is not a picture's type "
                            "(image/png, image/jpeg, image/webp, image/gif).", param=where, code="invalid_image_url")
    return parsed.data


def prepared_part(part: dict, where: str, side: int) -> dict:
    """The part as an engine takes it: the picture decoded here by the desktop's own intake (never by
    native code from the client's bytes; EXIF orientation applied, the first frame of an animation, no
    metadata), at most `side` px (512 for detail "low"), re-encoded. Blocking: run off the event loop."""
    from ..pictures.intake import DEFAULT_SIDE, PictureError, decode
    data = data_url_bytes(part["image_url"]["url"], where)
    side = side or DEFAULT_SIDE
    try:
        picture = decode(data, where, min(side, LOW_SIDE) if part["image_url"].get("detail") == "low" else side)
    except PictureError as exc:
        raise ApiError(400, str(exc), param=where, code="invalid_image") from None
    mime = "image/jpeg" if picture.suffix == ".jpg" else "image/png"
    return {"type": "image_url", "image_url": {"url": data_urls.encode(picture.data, mime)}}


def prepare_pictures(messages: list, side: int) -> None:
    """Each picture part of the (checked) messages replaced by its prepared copy, in place."""
    for i, message in enumerate(messages):
        if isinstance(message.content, list):
            message.content = [prepared_part(p, f"messages[{i}].content[{j}]", side)
                               if p.get("type") == "image_url" else p for j, p in enumerate(message.content)]


def has_pictures(messages: list) -> bool:
    return any(isinstance(m.content, list) and any(p.get("type") == "image_url" for p in m.content) for m in messages)
