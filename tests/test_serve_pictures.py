"""`chatapp serve` takes pictures for a model that sees as data URLs only, decodes them itself (orientation,
size, first frame), refuses every other URL and every bad picture by name, and lets a request with
pictures be larger than one without: the real `openai` client and httpx against the real app on loopback."""
from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from PIL import Image

from chatapp.engines.base import ChatCapabilities
from chatapp.engines.fake import FakeChatEngine
from chatapp.serve.app import Slot
from chatapp.serve.gate import MAX_BODY, MAX_PICTURES_BODY

from .remote_servers import JsonHandler, LoopbackServer, serving_chat_engines, serving_slots
from .test_serve_vision_refusal import SeeingEngine, picture_of


def data_url(picture: Image.Image | bytes, fmt: str = "PNG", mime: str = "image/png", **save) -> str:
    if isinstance(picture, Image.Image):
        buf = io.BytesIO()
        picture.save(buf, format=fmt, **save)
        picture = buf.getvalue()
    return f"data:{mime};base64," + base64.b64encode(picture).decode("ascii")


def part(url: str, **extra) -> dict:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def ask(*parts: dict) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, *parts]}]


class SmallSideEngine(SeeingEngine):
    capabilities = ChatCapabilities(vision=True, image_side=448)


@pytest.fixture(scope="module")
def served():
    engines = {"seeing": SeeingEngine(), "small": SmallSideEngine(), "blind": FakeChatEngine()}
    with serving_chat_engines(engines) as url, \
            openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120) as client:
        yield engines, client, url


def sent_pictures(engine) -> list[Image.Image]:
    return [picture_of(p) for m in engine.seen[-1] if isinstance(m["content"], list)
            for p in m["content"] if p["type"] == "image_url"]


def refused(served, messages, model="seeing", status=400) -> dict:
    engine = served[0][model]
    before = len(engine.received)
    r = httpx.post(served[2] + "/chat/completions", json={"model": model, "messages": messages}, timeout=120,
                   trust_env=False)
    assert r.status_code == status, r.text
    assert len(engine.received) == before   # the model never got the question without its picture
    return r.json()["error"]


def test_a_photo_is_turned_upright_and_scaled_for_the_model(served):
    engines, client, _ = served
    photo = Image.new("RGB", (3000, 1500), (10, 120, 200))
    photo.paste((250, 250, 0), (0, 0, 1500, 1500))   # the left half yellow
    exif = Image.Exif()
    exif[0x0112] = 6   # "rotate 90 clockwise to view": a phone held upright
    r = client.chat.completions.create(model="seeing", messages=ask(part(data_url(photo, "JPEG", "image/jpeg",
                                                                                  exif=exif, quality=90))))
    assert r.choices[0].message.content.startswith("You said")
    [sent] = sent_pictures(engines["seeing"])
    assert sent.size == (512, 1024)   # upright, at most 1024 px (the engine does not say its size)
    top, bottom = sent.getpixel((256, 100)), sent.getpixel((256, 900))
    assert top[2] < 60 < bottom[2]   # yellow above, blue below: turned the way its EXIF says


def test_the_engines_own_side_and_detail_low(served):
    engines, client, _ = served
    wide = Image.new("RGB", (1200, 600), (0, 200, 0))
    client.chat.completions.create(model="small", messages=ask(part(data_url(wide))))
    assert [p.size for p in sent_pictures(engines["small"])] == [(448, 224)]
    client.chat.completions.create(model="seeing", messages=ask(part(data_url(wide), detail="low"),
                                                                part(data_url(wide), detail="high")))
    assert [p.size for p in sent_pictures(engines["seeing"])] == [(512, 256), (1024, 512)]


def test_an_animation_gives_its_first_frame_and_webp_becomes_png(served):
    engines, client, _ = served
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    webp = Image.new("RGB", (20, 10), (0, 255, 0))
    client.chat.completions.create(model="seeing", messages=ask(part(data_url(buf.getvalue(), mime="image/gif")),
                                                                part(data_url(webp, "WEBP", "image/webp"))))
    gif, green = sent_pictures(engines["seeing"])
    assert gif.getpixel((5, 5))[0] > 200 and gif.getpixel((5, 5))[2] < 50
    assert green.size == (20, 10) and green.getpixel((5, 5))[1] > 200


class Recorder(LoopbackServer):
    """An HTTP server that would hand out a picture and records every request: serve must never ask."""

    def __init__(self):
        self.hits: list[str] = []
        outer = self

        class Handler(JsonHandler):
            def do_GET(self):
                outer.hits.append(self.path)
                self._json(404, {"error": "no such picture"})
        super().__init__(Handler)


@pytest.mark.parametrize("url, named", [("{server}/cat.png", "'http:'"), ("https://example.com/cat.png", "'https:'"),
                                        ("file:///etc/passwd", "'file:'"), ("cat.png", "no scheme")])
def test_any_url_but_data_is_refused_and_never_fetched(served, url, named):
    recorder = Recorder()
    try:
        messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello."},
                    *ask(part(data_url(Image.new("RGB", (4, 4)))), part(url.format(server=recorder.url)))]
        error = refused(served, messages)
    finally:
        recorder.close()
    assert error["param"] == "messages[2].content[2]" and error["code"] == "invalid_image_url"
    assert "only as data URLs" in error["message"] and named in error["message"]
    assert recorder.hits == []


def _png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header says width x height (its pixels would be a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("1", (8, 8)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def _truncated_png() -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 40).save(buf, format="PNG")
    return buf.getvalue()[:200]


@pytest.mark.parametrize("url, words, code", [
    ("data:image/png;base64,@@not base64@@", "not valid base64", "invalid_image_url"),
    ("data:image/png,%89PNG", "must be base64", "invalid_image_url"),
    ("data:text/plain;base64," + base64.b64encode(b"hello").decode(), "text/plain is not a picture", "invalid_image_url"),
    ("data:image/png;base64," + base64.b64encode(b"hello, not a picture").decode(), "not a picture chatapp can read",
     "invalid_image"),
    ("data:image/png;base64," + base64.b64encode(_truncated_png()).decode(), "damaged", "invalid_image"),
    ("data:image/png;base64,", "is empty", "invalid_image"),
    ("data:image/png;base64," + base64.b64encode(_png_claiming(20_000, 20_000)).decode(), "too many pixels",
     "invalid_image"),
    ("data:image/png;base64," + base64.b64encode(_png_claiming(9_000, 8_000)).decode(), "too many pixels",
     "invalid_image"),
    ("data:image/png;base64," + base64.b64encode(_png_claiming(20_000, 100)).decode(), "20000x100 px", "invalid_image"),
])
def test_a_bad_data_url_is_refused_by_name(served, url, words, code):
    error = refused(served, ask(part(url)))
    assert error["param"] == "messages[0].content[1]" and error["code"] == code
    assert words in error["message"] and "messages[0].content[1]" in error["message"], error["message"]


def test_a_picture_over_the_size_limit_and_a_bad_detail_are_refused(served):
    noise = data_url(os.urandom(11 << 20))   # 11 MB: over a picture's 10, under the body's 20
    error = refused(served, ask(part(noise)))
    assert error["param"] == "messages[0].content[1]" and "larger than 10 MB" in error["message"]
    error = refused(served, ask(part(data_url(Image.new("RGB", (4, 4))), detail="ultra")))
    assert error["param"] == "messages[0].content[1]" and "'auto', 'low', and 'high'" in error["message"]


def test_pictures_may_fill_a_larger_body_than_text(served):
    engines, _, url = served
    photos = [part(data_url(Image.effect_noise((1400, 1400), 60).convert("RGB"))) for _ in range(2)]
    body = {"model": "seeing", "messages": ask(*photos)}
    assert MAX_BODY < len(json.dumps(body)) < MAX_PICTURES_BODY
    r = httpx.post(url + "/chat/completions", json=body, timeout=120, trust_env=False)
    assert r.status_code == 200, r.text
    assert [p.size for p in sent_pictures(engines["seeing"])] == [(1024, 1024)] * 2
    text = {"model": "seeing", "messages": [{"role": "user", "content": "x" * (MAX_BODY + 10)}]}
    r = httpx.post(url + "/chat/completions", json=text, timeout=120, trust_env=False)
    assert r.status_code == 413 and "only a request with pictures" in r.json()["error"]["message"]
    huge = {"model": "seeing", "messages": ask(part("data:image/png;base64," + "A" * MAX_PICTURES_BODY))}
    r = httpx.post(url + "/chat/completions", json=huge, timeout=120, trust_env=False)
    assert r.status_code == 413 and "larger than 20 MB" in r.json()["error"]["message"]


def test_a_server_whose_models_cannot_see_keeps_the_small_limit():
    engine = FakeChatEngine()
    with serving_slots([Slot("chat", engine, engine.load(), ThreadPoolExecutor(max_workers=1))]) as url:
        body = {"messages": ask(part("data:image/png;base64," + "A" * (MAX_BODY + 10)))}
        r = httpx.post(url + "/chat/completions", json=body, timeout=120, trust_env=False)
    assert r.status_code == 413 and f"larger than {MAX_BODY >> 20} MB" in r.json()["error"]["message"]


def test_props_says_which_model_sees_as_llama_server_does(served):
    url = served[2].removesuffix("/v1")
    seeing = httpx.get(url + "/props", timeout=30, trust_env=False).json()   # the first chat model
    assert seeing["modalities"] == {"vision": True, "audio": False} and seeing["model_alias"] == "seeing"
    blind = httpx.get(url + "/props", params={"model": "blind"}, timeout=30, trust_env=False).json()
    assert blind["modalities"]["vision"] is False and \
        blind["default_generation_settings"]["n_ctx"] == served[0]["blind"].n_ctx == 4096
    r = httpx.get(url + "/props", params={"model": "nobody"}, timeout=30, trust_env=False)
    assert r.status_code == 404 and "'nobody' does not exist" in r.json()["error"]["message"]
