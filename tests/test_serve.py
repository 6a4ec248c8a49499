"""`chatapp serve` as a real process, driven by the real `openai` client (and raw httpx for broken requests)."""
from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from PIL import Image

from chatapp.conversation import DONE
from chatapp.engines.defaults import default_image_model_path
from chatapp.recipes.png import read_parameters

from .remote_servers import ROOT, build_remote_app, free_port, isolate_keys, serving

pytestmark = pytest.mark.real
IMAGE = default_image_model_path().name   # the embedded image model chatapp serve offers by default


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(lambda port: ["-m", "chatapp", "serve", "--port", str(port)], log) as url:
        yield url, log


@pytest.fixture
def client(served):
    with openai.OpenAI(base_url=served[0], api_key="unused", max_retries=0, timeout=120) as c:
        yield c


def models(client) -> dict:
    return {m.model_extra["chatapp_kind"]: m for m in client.models.list()}


def test_models_listed(client):
    found = models(client)
    assert found["chat"].id == "SmolLM2-135M-Instruct.Q4_1" and found["chat"].model_extra["context_length"] == 4096
    assert found["image"].id == IMAGE and found["image"].model_extra["image_defaults"]["max_size"] == 64


def test_streamed_and_plain_chat(client):
    stream = client.chat.completions.create(model=models(client)["chat"].id, stream=True, max_tokens=12, seed=1,
                                            temperature=0, messages=[{"role": "user", "content": "Say hello."}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip() and len(chunks) > 3 and chunks[-1].choices[0].finish_reason in ("stop", "length")
    plain = client.chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1", max_tokens=12, seed=1, temperature=0,
                                           messages=[{"role": "user", "content": "Say hello."}])
    assert plain.choices[0].message.content == text   # same seed, greedy: the same words either way
    assert plain.usage.completion_tokens == 12 or plain.choices[0].finish_reason == "stop"


def test_image_decodes_to_the_requested_size(client):
    result = client.images.generate(model=IMAGE, prompt="a red circle on the left", size="64x32",
                                    response_format="b64_json", extra_body={"steps": 4, "seed": 7, "cfg_scale": 3})
    image = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert image.format == "PNG" and image.size == (64, 32)
    assert result.data[0].model_extra["recipe"] == {"steps": 4, "cfg": 3.0, "seed": 7, "width": 64, "height": 32,
                                                    "scheduler": "dpm++2m", "loras": []}


def _picture(result):
    return Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))


@pytest.fixture(scope="module")
def shapes_served(tmp_path_factory):
    """chatapp serve on the shipped tiny-shapes model (the base of chatapp's own white-background LoRA)."""
    from chatapp.engines.defaults import SHAPES_IMAGE_MODEL
    log = tmp_path_factory.mktemp("serve-shapes") / "serve.log"
    with serving(lambda port: ["-m", "chatapp", "serve", "--port", str(port), "--no-llm",
                               "--image-model", str(SHAPES_IMAGE_MODEL)], log) as url:
        yield url, log


@pytest.fixture
def shapes_client(shapes_served):
    with openai.OpenAI(base_url=shapes_served[0], api_key="unused", max_retries=0, timeout=120) as c:
        yield c


def test_a_lora_named_in_the_prompt_is_applied_and_reported(shapes_client):
    """As AUTOMATIC1111's API: <lora:NAME:WEIGHT> in the prompt (here chatapp's own white-background LoRA)."""
    from .test_lora_engine import white_border
    scene, extra = "a red circle on a blue background", {"steps": 8, "seed": 3}
    plain = shapes_client.images.generate(model="tiny-shapes", prompt=scene, extra_body=extra)
    lora = shapes_client.images.generate(model="tiny-shapes", prompt=f"{scene} <lora:white-background:1>",
                                         extra_body=extra)
    recipe = lora.data[0].model_extra["recipe"]
    assert [(x["name"], x["weight"]) for x in recipe["loras"]] == [("white-background", 1.0)] and recipe["loras"][0]["hash"]
    assert lora.data[0].revised_prompt == scene            # the tag is not part of the text the model reads
    assert white_border(_picture(lora)) and not white_border(_picture(plain))


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_edit_redraws_only_inside_an_openai_style_mask(client):
    """POST /v1/images/edits as the openai client sends it: picture and mask uploaded, mask transparent
    where the picture is redrawn; outside it the picture comes back as it was."""
    import numpy as np
    source = _picture(client.images.generate(model=IMAGE, prompt="a red circle on a blue background",
                                             extra_body={"steps": 8, "seed": 1}))
    mask = Image.new("RGBA", source.size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, source.width // 2, source.height // 2))   # redraw the top-left quarter
    result = client.images.edit(model=IMAGE, image=("source.png", _png(source), "image/png"),
                                mask=("mask.png", _png(mask), "image/png"), prompt="a yellow square",
                                response_format="b64_json", extra_body={"steps": 8, "seed": 2, "strength": 1.0})
    edited = _picture(result)
    assert edited.size == source.size and result.data[0].model_extra["recipe"]["width"] == source.width
    before, after = (np.asarray(p.convert("RGB"), dtype=np.int16) for p in (source, edited))
    inside = np.zeros(before.shape[:2], bool)
    inside[: source.height // 2, : source.width // 2] = True
    assert np.abs(after - before)[~inside].max() <= 2      # outside the mask: as it was
    assert np.abs(after - before)[inside].mean() > 10      # inside: redrawn


@pytest.mark.parametrize("files, expected", [
    ({"image": ("x.png", b"not a picture", "image/png")}, "not a picture"),
    ({"image": "SOURCE", "mask": ("m.png", "SMALL_MASK", "image/png")}, "must be the picture's size"),
    ({"note": ("a.txt", b"no picture here", "text/plain")}, "multipart file field 'image'"),
    ({"image": ("big.png", "BIG", "image/png")}, f"image 128x128 is larger than {IMAGE} allows (64x64 at most)"),
])
def test_bad_edit_uploads_are_the_clients_error(served, files, expected):
    source = _png(Image.new("RGB", (32, 32), (0, 0, 255)))
    stand_ins = {"SMALL_MASK": _png(Image.new("L", (16, 16), 255)), "BIG": _png(Image.new("RGB", (128, 128)))}
    files = {k: ("s.png", source, "image/png") if v == "SOURCE" else (v[0], stand_ins.get(v[1], v[1]), v[2])
             for k, v in files.items()}
    r = httpx.post(f"{served[0]}/images/edits", data={"prompt": "a circle", "steps": "2"}, files=files, timeout=60)
    assert r.status_code == 400 and expected in r.json()["error"]["message"]


@pytest.mark.parametrize("prompt, expected", [
    ("a circle <lora:no-such-lora:1>", "No LoRA named 'no-such-lora'"),
    ("a circle <lora:white-background:lots>", "must be a number"),
    ("<lora:white-background:1>", "needs a description"),
])
def test_a_bad_lora_in_the_prompt_is_the_clients_error(client, prompt, expected):
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model=IMAGE, prompt=prompt, extra_body={"steps": 2})
    assert expected in str(err.value)


def test_eight_concurrent_clients_all_answered(client):
    def ask(i):
        r = client.chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1", max_tokens=6, seed=i,
                                           messages=[{"role": "user", "content": f"Count to {i + 2}."}])
        return r.choices[0].message.content
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert len(answers) == 8 and all(a.strip() for a in answers)


def _log_lines(log, needle):
    return [line for line in log.read_text(errors="replace").splitlines() if needle in line]


def _wait_for(condition, limit_s: float = 60.0) -> None:
    """Poll a condition another process makes true; the limit only bounds a failure."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "the server never logged the request"
        time.sleep(0.05)


def test_client_disconnect_mid_stream_frees_the_model(client, served, qtbot):
    _, log = served
    stream = client.chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1", stream=True, max_tokens=1500,
                                            messages=[{"role": "user", "content": "Write a very long story."}])
    for n, _chunk in enumerate(stream):
        if n == 3:
            break
    stream.close()
    # The server notices, stops generating, and logs it; the model then answers the next client.
    qtbot.waitUntil(lambda: bool(_log_lines(log, "client_gone=True")), timeout=60000)
    tokens = int(_log_lines(log, "client_gone=True")[-1].rsplit("tokens=", 1)[1].split()[0])
    assert tokens < 1500
    r = client.chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1", max_tokens=4,
                                       messages=[{"role": "user", "content": "Hi"}])
    assert r.choices[0].message.content


@pytest.mark.parametrize("path, body, status, words", [
    ("/chat/completions", {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}, 404, "gpt-9"),
    ("/chat/completions", {"model": "SmolLM2-135M-Instruct.Q4_1"}, 400, "messages"),
    ("/chat/completions", {"messages": [{"role": "robot", "content": "hi"}]}, 400, "role"),
    ("/images/generations", {"prompt": "a circle", "steps": 0}, 400, "steps"),
    ("/images/generations", {"prompt": "a circle", "size": "60x60"}, 400, "size must be a multiple of 8"),
    ("/images/generations", {"prompt": "a circle", "size": "512x512"}, 400, "allows (64x64 at most)"),
    ("/images/generations", {"prompt": "a circle", "response_format": "url"}, 400, "response_format"),
    ("/images/generations", {"prompt": "a circle", "scheduler": "warp"}, 400, "scheduler"),
])
def test_bad_requests_get_4xx_with_a_message(served, path, body, status, words):
    r = httpx.post(served[0] + path, json=body, timeout=30, trust_env=False)
    assert r.status_code == status
    error = r.json()["error"]
    assert words in error["message"] and error["type"] == "invalid_request_error"


def test_ten_megabyte_body_is_refused(served):
    huge = {"messages": [{"role": "user", "content": "x" * (10 << 20)}]}
    r = httpx.post(served[0] + "/chat/completions", json=huge, timeout=60, trust_env=False)
    assert r.status_code == 413 and "larger than" in r.json()["error"]["message"]


def test_broken_json_is_a_400(served):
    r = httpx.post(served[0] + "/chat/completions", content=b"{not json", timeout=30, trust_env=False,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"]


def test_one_log_line_per_request(served, client):
    _, log = served
    before = len(_log_lines(log, "GET /v1/models"))
    client.models.list()
    # The server writes its line once the response has gone out, so the client can be back first
    # (seen on a busy machine): wait for the line, then check no second one came.
    _wait_for(lambda: len(_log_lines(log, "GET /v1/models")) > before)
    client.models.list()
    _wait_for(lambda: len(_log_lines(log, "GET /v1/models")) > before + 1)
    assert len(_log_lines(log, "GET /v1/models")) == before + 2


def test_non_loopback_bind_without_a_key_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if k != "CHATAPP_SERVE_API_KEY"}
    done = subprocess.run([sys.executable, "-m", "chatapp", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "CHATAPP_SERVE_API_KEY" in done.stderr


def test_api_key_checked_on_every_request(tmp_path):
    with serving(lambda port: ["-m", "chatapp", "serve", "--port", str(port), "--no-image"], tmp_path / "keyed.log",
                 env={"CHATAPP_SERVE_API_KEY": "s3cret"}, headers={"Authorization": "Bearer s3cret"}) as url:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = httpx.get(url + "/models", headers=headers, trust_env=False)
            assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="wrong", max_retries=0).chat.completions.create(
                model="x", messages=[{"role": "user", "content": "hi"}])
        good = openai.OpenAI(base_url=url, api_key="s3cret", max_retries=0)
        assert good.chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1", max_tokens=3,
                                            messages=[{"role": "user", "content": "hi"}]).choices[0].message.content


def test_the_app_draws_and_chats_through_chatapp_serve(served, shapes_served, qtbot, data_dir, monkeypatch):
    """Chat from one chatapp serve, pictures from another (tiny-shapes there: the LoRA below is made for it)."""
    isolate_keys(monkeypatch)
    built = []
    parts = build_remote_app(qtbot, data_dir, built, chat=dict(url=served[0]), image=dict(url=shapes_served[0]),
                             max_tokens=8, seed=1)
    try:
        s = parts.session
        assert s.llm_status == "ready" and "SmolLM2" in parts.window.model_label.text()
        # chatapp serve reports its context length, so trimming uses it instead of the Settings value.
        assert s.llm_info.n_ctx == 4096 and s.llm_info.details["context_reported"]
        done = []
        s.message_changed.connect(lambda m: m.status == DONE and done.append(m))
        assert s.submit("/image a blue square on the right --steps 4 --seed 11 --size 32x32")
        qtbot.waitUntil(lambda: any(m.kind == "image" for m in done), timeout=120000)
        picture = next(m for m in done if m.kind == "image")
        assert Image.open(picture.image_path).size == (32, 32)
        recipe = read_parameters(picture.image_path)
        assert "Seed: 11" in recipe and "Steps: 4" in recipe and "Sampler: DPM++ 2M" in recipe
        # A LoRA asked for on this desktop is applied by the server, and the PNG says which (with its hash).
        done.clear()
        assert s.submit("/image a red circle on a blue background --steps 8 --seed 3 --lora white-background:1")
        qtbot.waitUntil(lambda: any(m.kind == "image" for m in done), timeout=120000)
        picture = next(m for m in done if m.kind == "image")
        assert "Lora hashes: \"white-background: " in read_parameters(picture.image_path)
        from .test_lora_engine import white_border
        assert white_border(Image.open(picture.image_path))
        # Editing a picture through the server: it comes back edited (its recipe says how much), with
        # the caption that names its source, instead of a new picture drawn from the words alone.
        done.clear()
        edits_before = len(_log_lines(shapes_served[1], "POST /v1/images/edits 200"))
        assert s.submit("/image a green circle --init last --strength 0.8 --steps 8 --seed 4")
        qtbot.waitUntil(lambda: any(m.kind == "image" for m in done), timeout=120000)
        edited = next(m for m in done if m.kind == "image")
        assert edited.meta.get("edited_from") and "Denoising strength: 0.8" in read_parameters(edited.image_path)
        qtbot.waitUntil(lambda: len(_log_lines(shapes_served[1], "POST /v1/images/edits 200")) == edits_before + 1,
                        timeout=30000)   # the server's edits endpoint did it
        assert s.submit("Hello")
        qtbot.waitUntil(lambda: any(m.kind == "text" for m in done), timeout=120000)
    finally:
        for p in built:
            p.session.shutdown()
            p.storage.close()


def test_conversation_over_the_context_is_a_clear_error(client):
    too_long = [{"role": "user", "content": "lighthouse " * 8000}]
    with pytest.raises(openai.BadRequestError) as plain:
        client.chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1", max_tokens=4, messages=too_long)
    assert "context" in plain.value.message
    # Streaming has sent its 200 already, so the error arrives as an event, which the client raises.
    with pytest.raises(openai.APIError) as streamed:
        list(client.chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1", max_tokens=4, stream=True,
                                            messages=too_long))
    assert "context" in str(streamed.value)
