"""`chatapp serve` refuses by name the content parts its model cannot take (a picture for a model that
cannot see: OpenAI's 400), never dropping them unseen; a model that sees gets the picture part: the real
`openai` client against the real app on loopback, scripted engines."""
from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

from chatapp.engines.base import ChatCapabilities
from chatapp.engines.fake import FakeChatEngine

from .remote_servers import serving_chat_engines


def png_data_url() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


PICTURE = {"type": "image_url", "image_url": {"url": png_data_url(), "detail": "low"}}
QUESTION = {"type": "text", "text": "What is in this picture?"}
SYSTEM = {"role": "system", "content": "You are terse."}


class SeeingEngine(FakeChatEngine):
    """A model that declares it sees (issue 24's vision engines will); it answers from the text only."""
    capabilities = ChatCapabilities(vision=True)

    def __init__(self):
        super().__init__()
        self.seen: list[list[dict]] = []   # the messages as given, parts and all

    def stream(self, messages, params, should_stop, stats=None):
        self.seen.append([dict(m) for m in messages])
        texts = [{**m, "content": " ".join(p.get("text", "") for p in m["content"])
                  if isinstance(m["content"], list) else m["content"]} for m in messages]
        yield from super().stream(texts, params, should_stop, stats)


@pytest.fixture(scope="module")
def served():
    """A model that cannot see ("blind") and one that declares it sees, on one server; the client."""
    engines = {"blind": FakeChatEngine(), "seeing": SeeingEngine()}
    with serving_chat_engines(engines) as url, \
            openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60) as client:
        yield engines, client


@pytest.fixture
def client(served):
    return served[1]


def refused(client, messages, **fields) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as err:
        result = client.chat.completions.create(model=fields.pop("model", "blind"), messages=messages, **fields)
        list(result) if fields.get("stream") else None
    assert err.value.status_code == 400 and err.value.body["type"] == "invalid_request_error"
    return err.value


@pytest.mark.parametrize("stream", [False, True])
def test_a_picture_for_a_model_that_cannot_see_is_refused_by_name(client, served, stream):
    before = len(served[0]["blind"].received)
    err = refused(client, [SYSTEM, {"role": "user", "content": [QUESTION, PICTURE]}], stream=stream)
    assert err.param == "messages[1].content[1]" and err.code == "unsupported_content_type"
    assert err.body["message"].startswith("Invalid content type. image_url is only supported by certain models.")
    assert "'blind' cannot see pictures" in err.body["message"]
    assert len(served[0]["blind"].received) == before   # the model never got a question without its picture


@pytest.mark.parametrize("stream", [False, True])
def test_an_image_only_message_is_refused_not_sent_empty(client, served, stream):
    err = refused(client, [SYSTEM, {"role": "user", "content": [PICTURE]}], stream=stream)
    assert err.param == "messages[1].content[0]" and "image_url" in err.body["message"] and "'blind'" in err.body["message"]


@pytest.mark.parametrize("part", [
    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}])
def test_sound_and_files_are_refused_by_name_even_by_a_model_that_sees(client, part):
    for model in ("blind", "seeing"):
        err = refused(client, [{"role": "user", "content": [QUESTION, part]}], model=model)
        assert err.param == "messages[0].content[1]" and f"{part['type']} is only supported" in err.body["message"]
        assert f"'{model}' cannot" in err.body["message"]


def test_an_unknown_part_type_is_refused_naming_it(client):
    err = refused(client, [{"role": "user", "content": [QUESTION, {"type": "hologram", "hologram": {}}]}])
    assert err.param == "messages[0].content[1]" and err.code == "invalid_value"
    assert "'hologram'" in err.body["message"] and "Supported values are: 'text', 'image_url'" in err.body["message"]


def test_a_part_without_a_type_is_refused(client):
    err = refused(client, [{"role": "user", "content": [{"text": "hi"}]}])
    assert err.param == "messages[0].content[0]" and "'messages[0].content[0].type'" in err.body["message"]


def test_text_parts_as_a_list_are_still_answered_joined(client, served):
    r = client.chat.completions.create(model="blind", messages=[
        {"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "the best book?"}]}])
    assert r.choices[0].message.content == "You said: What is\nthe best book?"
    assert served[0]["blind"].received[-1] == [{"role": "user", "content": "What is\nthe best book?"}]


def picture_of(part: dict) -> Image.Image:
    """The picture an image_url part carries (a base64 data URL)."""
    header, _, data = part["image_url"]["url"].partition(",")
    assert header in ("data:image/png;base64", "data:image/jpeg;base64")   # serve's own copies
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_a_model_that_sees_gets_the_picture_part(client, served):
    """The seam for issue 24: the parts reach a vision engine in OpenAI's shape, the picture kept (decoded
    and re-encoded by serve: the same pixels as a PNG, the `detail` applied)."""
    engine = served[0]["seeing"]
    engine.enqueue("A red square.")
    r = client.chat.completions.create(model="seeing", messages=[SYSTEM, {"role": "user", "content": [QUESTION, PICTURE]}])
    assert r.choices[0].message.content == "A red square."
    system, user = engine.seen[-1]
    assert system == SYSTEM and user["role"] == "user" and user["content"][0] == QUESTION
    assert [p["type"] for p in user["content"]] == ["text", "image_url"]
    sent = picture_of(user["content"][1])
    assert sent.size == (8, 8) and sent.getpixel((3, 3)) == (200, 30, 30)
    engine.enqueue("Red.")
    chunks = list(client.chat.completions.create(model="seeing", messages=[{"role": "user", "content": [PICTURE]}],
                                                 stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Red."
    [only] = engine.seen[-1]
    assert len(only["content"]) == 1 and picture_of(only["content"][0]).getpixel((0, 0)) == (200, 30, 30)


def test_even_a_model_that_sees_takes_pictures_only_from_the_user(client):
    err = refused(client, [{"role": "system", "content": [QUESTION, PICTURE]}, {"role": "user", "content": "hi"}],
                  model="seeing")
    assert err.param == "messages[0].content[1]" and "role 'user'" in err.body["message"]
