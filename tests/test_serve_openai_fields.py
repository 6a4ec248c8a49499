"""`chatapp serve` honours OpenAI's chat fields (stop, n, usage chunk, penalties, response_format, ...) or
refuses them by name: a real server process on loopback, the real `openai` client, the embedded SmolLM2."""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
import openai
import pytest

from chatapp.engines.defaults import default_image_model_path

from .remote_servers import ROOT, free_port, serving

pytestmark = pytest.mark.real

CHAT, IMAGE = "SmolLM2-135M-Instruct.Q4_1", default_image_model_path().name
N_CTX = 768   # llama.cpp rounds to 256s; small, so a reply without max_tokens reaches the context's end (past the old 512 cap) quickly
ORIGIN = "http://app.example"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serving(lambda port: ["-m", "chatapp", "serve", "--port", str(port), "--n-ctx", str(N_CTX),
                               "--cors-origin", ORIGIN], tmp_path_factory.mktemp("serve-fields") / "serve.log") as url:
        yield url


@pytest.fixture
def client(served):
    with openai.OpenAI(base_url=served, api_key="unused", max_retries=0, timeout=120) as c:
        yield c


def ask(client, content, **fields):
    fields = {"max_tokens": 24, "temperature": 0, "seed": 1, **fields}
    return client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": content}], **fields)


def post(served, body, **kw):
    return httpx.post(served + "/chat/completions", json=body, timeout=60, trust_env=False, **kw)


# -- item 1: content parts, model lookup, broken JSON, chunked bodies, option checks, max_tokens --

def test_text_parts_are_joined_with_a_line_break_as_llama_cpp_does(client):
    parts = ask(client, [{"type": "text", "text": "What is"}, {"type": "text", "text": "the best book?"}])
    joined = ask(client, "What is\nthe best book?")
    assert parts.usage.prompt_tokens == joined.usage.prompt_tokens
    assert parts.choices[0].message.content == joined.choices[0].message.content


def test_a_picture_part_is_refused_by_name_not_dropped(served):
    r = post(served, {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in it?"}, {"type": "image_url", "image_url": {"url": "data:,"}}]}]})
    error = r.json()["error"]   # OpenAI's words for a model that cannot take pictures, naming ours
    assert r.status_code == 400 and error["param"] == "messages[0].content[1]"
    assert "image_url is only supported by certain models" in error["message"] and f"'{CHAT}'" in error["message"]


def test_one_model_by_id(client, served):
    assert client.models.retrieve(CHAT).model_extra["context_length"] == N_CTX
    assert client.models.retrieve(IMAGE).model_extra["chatapp_kind"] == "image"
    r = httpx.get(served + "/models/gpt-9", trust_env=False)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found" and "gpt-9" in r.text
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


def test_the_image_models_name_for_chat_says_it_is_an_image_model(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model=IMAGE, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    assert f"'{IMAGE}' is an image model" in err.value.message and CHAT in err.value.message


def test_malformed_json_names_no_param(served):
    r = httpx.post(served + "/chat/completions", content=b'{"messages": [', trust_env=False, timeout=30,
                   headers={"content-type": "application/json"})
    error = r.json()["error"]
    assert r.status_code == 400 and error["param"] is None and "not valid JSON" in error["message"]


def test_a_chunked_body_is_read_and_an_oversized_one_refused(served):
    body = json.dumps({"model": CHAT, "max_tokens": 3, "temperature": 0,
                       "messages": [{"role": "user", "content": "Hi"}]}).encode()
    r = httpx.post(served + "/chat/completions", content=iter([body[:10], body[10:]]), trust_env=False, timeout=60,
                   headers={"content-type": "application/json"})
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    huge = iter([b'{"messages": "'] + [b"x" * (1 << 20)] * 6 + [b'"}'])
    r = httpx.post(served + "/chat/completions", content=huge, trust_env=False, timeout=60)
    assert r.status_code == 413


@pytest.mark.parametrize("flag, value, words", [("--threads", "100000", "n_threads"),
                                                ("--n-ctx", "12", "n_ctx"), ("--n-gpu-layers", "-5", "n_gpu_layers")])
def test_serve_options_are_checked_by_the_settings_schema(flag, value, words):
    done = subprocess.run([sys.executable, "-m", "chatapp", "serve", flag, value, "--port", str(free_port())],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and words in done.stderr


def test_no_max_tokens_runs_to_the_end_of_the_context_not_512(client):
    r = client.chat.completions.create(   # no max_tokens: the client sends none
        model=CHAT, temperature=0, seed=1, extra_body={"repeat_penalty": 1.0},
        messages=[{"role": "user", "content": "Write a very long story about a dragon, at least 3000 words."}])
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == N_CTX - r.usage.prompt_tokens > 512


def test_a_64_bit_image_seed_is_used_as_given(client, served):
    seed = 2**40 + 7   # ComfyUI-style seeds go past 2^32
    result = client.images.generate(model=IMAGE, prompt="a red circle", extra_body={"steps": 2, "seed": seed})
    assert result.data[0].model_extra["recipe"]["seed"] == seed
    r = httpx.post(served + "/images/generations", json={"prompt": "a circle", "seed": 2**64}, trust_env=False)
    assert r.status_code == 400 and r.json()["error"]["param"] == "seed"


# -- item 2: a conversation over the context is refused before anything streams --

def _long_history():
    turns = []
    for i in range(24):
        turns += [{"role": "user", "content": f"Tell me fact {i} about lighthouses and their keepers."},
                  {"role": "assistant", "content": "Lighthouses guide ships along dangerous coasts at night. " * 2}]
    return turns + [{"role": "user", "content": "And?"}]


@pytest.mark.parametrize("stream", [False, True])
def test_a_history_over_the_context_is_a_400_not_trimmed(client, stream):
    with pytest.raises(openai.BadRequestError) as err:   # for a stream too: raised by create(), before any event
        client.chat.completions.create(model=CHAT, max_tokens=4, stream=stream, messages=_long_history())
    assert err.value.code == "context_length_exceeded" and f"{N_CTX} tokens" in err.value.message


# -- item 3: stop, n, usage chunk, penalties, refused fields --

def test_stop_ends_the_reply_there_and_says_stop(client):
    full = ask(client, "Count from 1 to 20, one per line.", max_tokens=40)
    text = full.choices[0].message.content
    assert "7" in text and full.choices[0].finish_reason == "length"
    for stop in ("7", ["xyz", "7"]):
        cut = ask(client, "Count from 1 to 20, one per line.", max_tokens=40, stop=stop)
        assert cut.choices[0].message.content == text[:text.index("7")]
        assert cut.choices[0].finish_reason == "stop"


def test_more_than_four_stops_is_a_400(served):
    r = post(served, {"messages": [{"role": "user", "content": "hi"}], "stop": list("abcde")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "stop"


def test_n_choices_each_generated(client):
    plain = ask(client, "Name a colour.", n=3, max_tokens=8, temperature=1.0, seed=5)
    assert [c.index for c in plain.choices] == [0, 1, 2] and all(c.message.content for c in plain.choices)
    assert len({c.message.content for c in plain.choices}) > 1       # each its own draw
    first = ask(client, "Name a colour.", max_tokens=8, temperature=1.0, seed=5)
    assert first.choices[0].message.content == plain.choices[0].message.content   # reproducible by seed
    assert plain.usage.completion_tokens == sum(
        ask(client, "Name a colour.", max_tokens=8, temperature=1.0, seed=5 + i).usage.completion_tokens
        for i in range(3))


def test_streamed_n_choices_and_the_usage_chunk(client):
    chunks = list(ask(client, "Say hello.", n=2, max_tokens=6, stream=True, stream_options={"include_usage": True}))
    texts = {0: "", 1: ""}
    for c in chunks[:-1]:
        assert c.usage is None and len(c.choices) == 1
        texts[c.choices[0].index] += c.choices[0].delta.content or ""
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens > 0 and last.usage.prompt_tokens > 0
    plain = ask(client, "Say hello.", n=2, max_tokens=6)
    assert [texts[0], texts[1]] == [c.message.content for c in plain.choices]
    assert last.usage.completion_tokens == plain.usage.completion_tokens
    finishes = [c.choices[0].finish_reason for c in chunks[:-1] if c.choices[0].finish_reason]
    assert len(finishes) == 2
    without = list(ask(client, "Say hello.", max_tokens=3, stream=True))
    assert all(c.choices for c in without)   # no usage chunk unless asked for


@pytest.mark.parametrize("field", ["frequency_penalty", "presence_penalty"])
def test_penalties_change_a_repetitive_reply(client, field):
    prompt = "Count from 1 to 20, one per line."
    plain = ask(client, prompt, max_tokens=30).choices[0].message.content
    assert ask(client, prompt, max_tokens=30, **{field: 2.0}).choices[0].message.content != plain


@pytest.mark.parametrize("body, param", [
    ({"logprobs": True}, "logprobs"),
    ({"logprobs": True, "top_logprobs": 3}, "logprobs"), ({"top_logprobs": 2}, "top_logprobs"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({"reasoning_effort": "low"}, "reasoning_effort"),
])
def test_fields_not_done_here_are_refused_by_name(served, body, param):
    r = post(served, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, **body})
    error = r.json()["error"]
    assert r.status_code == 400 and error["param"] == param and f"'{param}'" in error["message"]


def test_logit_bias_steers_the_sampler(client, served):
    plain = ask(client, "Say hello.", max_tokens=5).choices[0].message.content
    forced = ask(client, "Say hello.", max_tokens=5, logit_bias={"1000": 100})
    text = forced.choices[0].message.content
    assert forced.usage.completion_tokens == 5 and text == text[:len(text) // 5] * 5 and text != plain
    r = post(served, {"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"99999999": 1}})
    assert r.status_code == 400 and "vocabulary" in r.json()["error"]["message"]
    r = post(served, {"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"5": 500}})
    assert r.status_code == 400 and r.json()["error"]["param"].startswith("logit_bias")


def test_logprobs_false_and_empty_logit_bias_ask_for_nothing(client):
    r = ask(client, "Hi", max_tokens=2, logprobs=False, logit_bias={})
    assert r.choices[0].message.content


# -- item 4: response_format through llama.cpp grammars --

def test_json_object_is_json(client):
    r = ask(client, "Describe a person.", max_tokens=120, response_format={"type": "json_object"})
    assert r.choices[0].finish_reason == "stop" and isinstance(json.loads(r.choices[0].message.content), dict)


def test_json_schema_is_followed(client):
    schema = {"type": "object", "additionalProperties": False, "required": ["name", "age"],
              "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer"}}}
    r = ask(client, "Describe a person.", max_tokens=60,
            response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    person = json.loads(r.choices[0].message.content)
    assert set(person) == {"name", "age"} and isinstance(person["age"], int) and len(person["name"]) <= 12


def test_streamed_json_object_is_json(client):
    chunks = ask(client, "Describe a person.", max_tokens=120, stream=True, response_format={"type": "json_object"})
    assert isinstance(json.loads("".join(c.choices[0].delta.content or "" for c in chunks)), dict)


@pytest.mark.parametrize("extra", [
    {"grammar": 'root ::= "a"{5,5}'},                                      # llama.cpp server's own fields,
    {"json_schema": {"const": "aaaaa"}},                                   # which its clients send
    {"response_format": {"type": "json_object", "schema": {"const": "aaaaa"}}},
])
def test_llama_cpp_constraint_fields_are_honoured(served, extra):
    r = post(served, {"messages": [{"role": "user", "content": "Write a poem."}], "max_tokens": 12, "temperature": 0,
                      **extra})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"].strip('"') == "aaaaa"


@pytest.mark.parametrize("extra, param", [
    ({"grammar": "root ::= ", "json_schema": {"type": "string"}}, "json_schema"),
    ({"grammar": "root ::= nothing-defined"}, "grammar"),
])
def test_conflicting_or_broken_constraints_are_a_400(served, extra, param):
    r = post(served, {"messages": [{"role": "user", "content": "hi"}], **extra})
    assert r.status_code == 400 and r.json()["error"]["param"] == param


@pytest.mark.parametrize("fmt, words", [({"type": "sound"}, "'sound'"), ({"type": "json_schema"}, "json_schema"),
                                        ({"type": "json_object", "schema": 123}, "schema"),
                                        ({"type": "json_object", "schema": {"type": "hiccup"}}, "hiccup")])
def test_unknown_response_format_is_a_400_naming_it(served, fmt, words):
    r = post(served, {"messages": [{"role": "user", "content": "hi"}], "response_format": fmt})
    assert r.status_code == 400 and words in r.json()["error"]["message"]
    assert r.json()["error"]["param"] == "response_format"


# -- item 5: CORS, opt-in --

def test_cors_only_for_the_origins_asked_for(served):
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization"}
    ok = httpx.options(served + "/chat/completions", headers={"origin": ORIGIN, **preflight}, trust_env=False)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(served + "/chat/completions", headers={"origin": "http://evil.example", **preflight},
                          trust_env=False)
    assert "access-control-allow-origin" not in other.headers
    got = httpx.get(served + "/models", headers={"origin": ORIGIN}, trust_env=False)
    assert got.headers["access-control-allow-origin"] == ORIGIN


def test_cors_is_off_by_default():
    from starlette.testclient import TestClient

    from chatapp.serve.cli import asgi_app
    with TestClient(asgi_app([])) as web:
        r = web.get("/v1/models", headers={"origin": ORIGIN})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        assert "access-control-allow-origin" not in web.options(
            "/v1/models", headers={"origin": ORIGIN, "access-control-request-method": "GET"}).headers
