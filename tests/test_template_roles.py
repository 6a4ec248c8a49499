"""Conversations every chat template takes: a system prompt for templates that refuse one (Gemma 2), and never two
user turns in a row (after an /image, a failed reply, or one stopped before its first word), on the real engine."""
import pytest

from chatapp import branches
from chatapp.conversation import ERROR, GenParams
from chatapp.engines.base import ChatStats
from chatapp.engines.events import Reply
from chatapp.engines.system_role import folded_system, takes_system
from chatapp.storage import Storage

from .tool_model import TEMPLATE, tool_model_path

GEMMA2 = TEMPLATE.with_name("google-gemma-2-2b-it.jinja")


def test_a_system_prompt_folds_into_the_first_user_message():
    assert folded_system([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello"}]) == \
        [{"role": "user", "content": "Be brief.\n\nHi"}, {"role": "assistant", "content": "Hello"}]
    pictures = [{"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": "data:,"}}]
    assert folded_system([{"role": "system", "content": "S"}, {"role": "user", "content": pictures}])[0]["content"] == \
        [{"type": "text", "text": "S\n\nWhat is it?"}, {"type": "image_url", "image_url": {"url": "data:,"}}]
    assert folded_system([{"role": "user", "content": "Hi"}]) == [{"role": "user", "content": "Hi"}]
    assert takes_system(lambda messages, tools: "".join(m["content"] for m in messages))
    assert not takes_system(lambda messages, tools: messages[-1]["content"])   # drops it unsaid
    assert not takes_system(lambda messages, tools: (_ for _ in ()).throw(ValueError("System role not supported")))


def test_no_two_user_turns_in_a_row_reach_the_model(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    c = s.create_conversation("Mixed")
    q = s.add_message(c.id, "user", "/image a cat")
    pic = s.add_message(c.id, "assistant", "a cat", kind="image", parent_id=q.id)
    ask = s.add_message(c.id, "user", "Hello", parent_id=pic.id)
    failed = s.add_message(c.id, "assistant", "The model stopped with an error", status=ERROR, parent_id=ask.id)
    s.add_message(c.id, "user", "Are you there?", parent_id=failed.id)
    got = branches.history(s, s.conversation(c.id), "Be brief.")
    assert got == [{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": "/image a cat\n\nHello\n\nAre you there?"}]


@pytest.mark.real
def test_gemma_2s_template_answers_with_a_system_prompt_and_after_a_picture(tmp_path):
    from chatapp.engines.llama import LlamaChatEngine
    engine = LlamaChatEngine(tool_model_path(template=GEMMA2), n_ctx=1024)
    engine.load()
    assert engine._folds_system   # its template raises "System role not supported"
    s = Storage(tmp_path / "db.sqlite3")
    c = s.create_conversation("Gemma")
    q = s.add_message(c.id, "user", "/image a cat")
    pic = s.add_message(c.id, "assistant", "a cat", kind="image", parent_id=q.id)
    s.add_message(c.id, "user", "What is 2 + 2?", parent_id=pic.id)
    history = branches.history(s, s.conversation(c.id), "Answer briefly.")
    reply = Reply.of(engine.stream(history, GenParams(max_tokens=8, temperature=0.0, seed=1), lambda: False,
                                   ChatStats()))
    assert reply.usage is not None and reply.usage.stats.prompt_tokens > 0
    prompt = engine.llm.detokenize(list(engine._completion_args(history, GenParams())["prompt"]), special=True).decode()
    assert "<start_of_turn>user\nAnswer briefly.\n\n/image a cat\n\nWhat is 2 + 2?<end_of_turn>" in prompt


def _formatter(path):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    fmt = Jinja2ChatFormatter(path.read_text(), eos_token="</s>", bos_token="<s>")
    return lambda messages, tools: fmt(messages=messages, tools=tools).prompt


@pytest.mark.parametrize("path", sorted(TEMPLATE.parent.glob("*.jinja")), ids=lambda p: p.stem)
def test_every_published_template_here_takes_what_history_sends(tmp_path, path):
    """Each template in tests/data/templates (the publishers' own, and two written after them) renders a chat with a
    system prompt, a picture turn, a failed reply and a reply that was all thinking, as the engine sends it."""
    s = Storage(tmp_path / "db.sqlite3")
    c = s.create_conversation("Mixed")
    q = s.add_message(c.id, "user", "/image a cat")
    pic = s.add_message(c.id, "assistant", "a cat", kind="image", parent_id=q.id)
    ask = s.add_message(c.id, "user", "Hello", parent_id=pic.id)
    hi = s.add_message(c.id, "assistant", "Hi!", parent_id=ask.id)
    think = s.add_message(c.id, "user", "Think about it", parent_id=hi.id)
    thought = s.add_message(c.id, "assistant", "", parent_id=think.id, meta={"reasoning": "Hmm."})
    failed = s.add_message(c.id, "user", "And?", parent_id=thought.id)
    error = s.add_message(c.id, "assistant", "The model stopped with an error", status=ERROR, parent_id=failed.id)
    s.add_message(c.id, "user", "Still there?", parent_id=error.id)
    render = _formatter(path)
    history = branches.history(s, s.conversation(c.id), "Be brief.")
    text = render(history if takes_system(render) else folded_system(history), None)
    assert "Be brief." in text and "Still there?" in text and "Hmm." not in text
