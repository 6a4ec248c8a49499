"""`chatapp serve` with Mistral Nemo's and Gemma 4's call formats (SmolLM2 re-saved with their templates) and the real
`openai` client: 9-character ids out, a caller's `call_...` ids taken back, Gemma's calls as OpenAI's JSON arguments."""
from __future__ import annotations


import openai
import pytest

from .test_llama_tools import ASK, TOOLS
from .test_serve_local_tools import serving_models, valid
from .tool_model import GEMMA4_SPECIALS, GEMMA4_TEMPLATE, NEMO_TEMPLATE, tool_model_path

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def client():
    models = (("nemo", tool_model_path(template=NEMO_TEMPLATE)),
              ("gemma", tool_model_path(template=GEMMA4_TEMPLATE, specials=GEMMA4_SPECIALS)))
    with serving_models(models) as url, openai.OpenAI(base_url=url, api_key="unused", max_retries=0,
                                                      timeout=120) as c:
        yield c


def test_nemo_gives_nine_character_ids_and_takes_a_callers_own_ids_back(client):
    first = client.chat.completions.create(model="nemo", messages=ASK, tools=list(TOOLS), tool_choice="required",
                                           temperature=0.0, seed=1, max_tokens=300, parallel_tool_calls=False)
    call = first.choices[0].message.tool_calls[0]
    valid(call)
    assert first.choices[0].finish_reason == "tool_calls" and len(call.id) == 9 and call.id.isalnum()
    # An agent framework that names calls its own way (OpenAI's `call_...`): Nemo's template would raise on them.
    for call_id in (call.id, "call_Zq81KsP0aNn2vW3x"):
        history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": call.function.name,
                                                             "arguments": call.function.arguments}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "Done: a lighthouse at dusk, 512x512."}]
        answer = client.chat.completions.create(model="nemo", messages=history, tools=list(TOOLS), tool_choice="none",
                                                temperature=0.0, seed=1, max_tokens=12)
        # Rendered whole (the template raised on the caller's id before): the question, the call and its result.
        assert answer.choices[0].finish_reason in ("stop", "length") and answer.usage.prompt_tokens > 100


def test_gemma_calls_stream_as_json_arguments(client):
    with client.chat.completions.stream(model="gemma", messages=ASK, tools=list(TOOLS), tool_choice="required",
                                        temperature=0.8, seed=2, max_tokens=300, parallel_tool_calls=False) as stream:
        kinds = {e.type for e in stream}
        done = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in kinds
    calls = done.choices[0].message.tool_calls
    assert done.choices[0].finish_reason == "tool_calls" and len(calls) == 1 and calls[0].id.startswith("call_")
    valid(calls[0])
