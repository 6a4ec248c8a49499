"""Messages' content parts checked against what the model takes: text always, pictures only where it sees."""
from __future__ import annotations

from .pictures import check_detail, check_url
from .schemas import ApiError

# OpenAI's content part types (its words for an unknown one list them).
KNOWN = ("text", "image_url", "input_audio", "refusal", "audio", "file")
# What a model that cannot take a part lacks, for the refusal's words.
LACKS = {"image_url": "cannot see pictures", "input_audio": "cannot hear sound", "audio": "cannot hear sound",
         "file": "cannot read files (send their text instead)"}


def check_parts(messages: list, model: str, sees: bool) -> None:
    """A 400 in OpenAI's words naming the first part the model cannot take (`messages[i].content[j]`),
    never a part dropped unseen (a model asked about a picture it never got invents one). A model that
    sees (ChatCapabilities.vision) takes `image_url` parts in user messages, data URLs only (this server
    never fetches); pictures.prepare_pictures then decodes them and they reach its engine as OpenAI's
    parts (ChatBody.dict_messages)."""
    for i, message in enumerate(messages):
        if not isinstance(message.content, list):
            continue
        for j, part in enumerate(message.content):
            where, kind = f"messages[{i}].content[{j}]", part.get("type")
            if kind is None:
                raise ApiError(400, f"Missing required parameter: '{where}.type'.", param=where,
                               code="missing_required_parameter")
            if kind not in KNOWN:
                raise ApiError(400, f"Invalid value: {kind!r}. Supported values are: 'text', 'image_url', "
                                    f"'input_audio', 'refusal', 'audio', and 'file'. (at '{where}.type')",
                               param=where, code="invalid_value")
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    raise ApiError(400, f"Invalid type for '{where}.text': expected a string.", param=where,
                                   code="invalid_type")
            elif kind == "image_url" and sees:
                if message.role != "user":
                    raise ApiError(400, f"Invalid '{where}': image_url is only supported in messages with role "
                                        f"'user', not '{message.role}'.", param=where, code="invalid_value")
                url = part.get("image_url")
                if not isinstance(url, dict) or not isinstance(url.get("url"), str) or not url["url"]:
                    raise ApiError(400, f"Missing required parameter: '{where}.image_url.url'.", param=where,
                                   code="missing_required_parameter")
                check_url(url["url"], where)
                check_detail(part, where)
            else:
                lacks = LACKS.get(kind, "takes only text parts")
                raise ApiError(400, f"Invalid content type. {kind} is only supported by certain models. The model "
                                    f"'{model}' {lacks}: send the request without it ('{where}'), or to a model "
                                    "that takes it.", param=where, code="unsupported_content_type")
