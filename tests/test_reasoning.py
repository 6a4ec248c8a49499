"""A reasoning model's thinking told from its answer: the splitter, the real engine, a remote server's fields,
chatapp serve's, the window (live, then closed), the history the model sees next and the exports."""
import json

import pytest
from PySide6.QtCore import Qt

from chatapp.conversation import GenParams, thought_title
from chatapp.engines.base import ChatStats
from chatapp.engines.events import ReasoningDelta, Reply, TextDelta, Usage
from chatapp.engines.fake import FakeChatEngine
from chatapp.engines.reasoning import ThinkingSplitter, answer_through, opened_thinking
from chatapp.engines.tool_calls.formats import TOOL_FORMATS
from chatapp.engines.tool_calls.parser import CallParser
from chatapp.settings import Settings

from .remote_servers import FaultServer, serving_chat_engines
from .tool_model import CONTROL, MINISTRAL_TEMPLATE, MISTRAL_SPECIALS, TEMPLATE, tool_model_path

THINK_TEMPLATE = TEMPLATE.with_name("chatml-think.jinja")


def split(pieces, inside=None) -> Reply:
    splitter = ThinkingSplitter(inside)
    return Reply.of([e for p in pieces for e in splitter.feed(p)] + splitter.finish())


def chars(text):
    return list(text)   # one character a piece: every marker arrives cut in every place


@pytest.mark.parametrize("pieces", [["<think>Hmm, a greeting.</think>\n\nHello!"],
                                    chars("\n<think>Hmm, a greeting.</think>\n\nHello!"),
                                    chars("[THINK]Hmm, a greeting.[/THINK]Hello!"),
                                    chars("<|channel>thought\nHmm, a greeting.<channel|>Hello!")])   # Gemma 4
def test_thinking_at_the_start_is_told_from_the_answer(pieces):
    reply = split(pieces)
    assert reply.reasoning == "Hmm, a greeting." and reply.text == "Hello!"


def test_an_empty_thinking_is_no_thinking():   # Qwen3 asked not to think ("/no_think") writes an empty block
    reply = split(chars("<think>\n\n</think>\n\nHello!"))
    assert (reply.reasoning, reply.text, reply.reasoning_parts) == ("", "Hello!", [])


def test_a_prompt_that_opened_the_thinking_is_awaited_to_close():
    assert opened_thinking("<|im_start|>assistant\n<think>\n") == "</think>"
    assert opened_thinking("<|im_start|>assistant\n<think>\n</think>") is None   # thinking turned off
    assert opened_thinking("<|im_start|>assistant\n") is None
    reply = split(chars("So: 2 + 2.\n</think>\n\n4"), inside="</think>")
    assert reply.reasoning == "So: 2 + 2.\n" and reply.text == "4"


@pytest.mark.parametrize("text", ["Use the <think> tag like this.", "I <think> so", "<thin", "[THINKING] is a word",
                                  "  plain answer"])
def test_text_that_opens_no_thinking_is_text_exactly(text):
    reply = split(chars(text))
    assert reply.text == text and reply.reasoning == ""


def test_unclosed_thinking_stays_thinking_and_a_later_marker_is_text():
    reply = split(chars("<think>still going </thi"))
    assert reply.reasoning == "still going </thi" and reply.text == ""
    reply = split(chars("<think>a</think>Then <think>b</think>"))
    assert reply.reasoning == "a" and reply.text == "Then <think>b</think>"


def test_calls_are_read_from_the_answer_only():
    parser = CallParser(TOOL_FORMATS["hermes"], ["f"])
    splitter = ThinkingSplitter()
    text = '<think>I could write <tool_call> here</think><tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>'
    events = [e for p in chars(text) for e in answer_through(splitter.feed(p), parser)]
    events += [*answer_through(splitter.finish(), parser), *parser.finish()]
    reply = Reply.of(events)
    assert reply.reasoning == "I could write <tool_call> here" and reply.text == ""
    assert [c.name for c in reply.tool_calls] == ["f"]


def test_thought_titles():
    assert thought_title(12.4) == "Thought for 12 s" and thought_title(0.3) == "Thought for less than a second"
    assert thought_title(300) == "Thought for 5 min" and thought_title(None) == "Thoughts"


# The real engine ---------------------------------------------------------------------------------------------

@pytest.mark.real
def test_the_real_engine_reads_a_prompt_that_opened_the_thinking():
    from chatapp.engines.llama import LlamaChatEngine
    engine = LlamaChatEngine(tool_model_path(template=THINK_TEMPLATE), n_ctx=1024)
    engine.load()
    stats = ChatStats()
    # Its end of turn kept out, so it writes something on any machine (a near tie may go either way elsewhere).
    end = engine.llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
    events = list(engine.stream([{"role": "user", "content": "What is 2 + 2?"}],
                                GenParams(max_tokens=16, temperature=0.0, seed=1, logit_bias=((end[0], -100.0),)),
                                lambda: False, stats))
    reply = Reply.of(events)
    # SmolLM2 never learnt to close a <think>: all it writes is thinking, and none of it is the answer.
    assert reply.reasoning.strip() and reply.text == ""
    assert all(isinstance(e, ReasoningDelta) for e in events[:-1]) and isinstance(events[-1], Usage)
    # The same model with a template that opens nothing answers in text.
    plain = LlamaChatEngine(tool_model_path(), n_ctx=1024)
    plain.load()
    reply = Reply.of(plain.stream([{"role": "user", "content": "What is 2 + 2?"}],
                                  GenParams(max_tokens=8, temperature=0.0, seed=1, logit_bias=((end[0], -100.0),)),
                                  lambda: False, ChatStats()))
    assert reply.text.strip() and reply.reasoning == ""


@pytest.mark.real
def test_magistrals_thinking_markers_are_control_tokens_and_still_read():
    """In Mistral's vocabulary [THINK] and [/THINK] are control tokens, which plain detokenizing hides."""
    from chatapp.engines.llama import LlamaChatEngine
    specials = (*MISTRAL_SPECIALS, ("[THINK]", CONTROL), ("[/THINK]", CONTROL))
    engine = LlamaChatEngine(tool_model_path(template=MINISTRAL_TEMPLATE, specials=specials), n_ctx=1024)
    engine.load()
    think, close = (engine.llm.tokenize(m.encode(), add_bos=False, special=True) for m in ("[THINK]", "[/THINK]"))
    assert len(think) == len(close) == 1 and engine.llm._model.detokenize(think) == b""   # hidden, as in Magistral
    # The model made to open its thinking at once.
    bias = {think[0]: 100.0}
    first = Reply.of(engine.stream([{"role": "user", "content": "What is 2 + 2?"}],
                                   GenParams(max_tokens=6, temperature=0.0, seed=1, logit_bias=tuple(bias.items())),
                                   lambda: False, ChatStats()))
    # The first [THINK] opened the thinking; the model, pushed on, wrote more of them inside it.
    assert first.text == "" and first.reasoning == "[THINK]" * 5


# Remote servers and chatapp serve ---------------------------------------------------------------------------

def remote_reply(url: str, model: str = "") -> Reply:
    from chatapp.engines.openai_chat import OpenAIChatEngine
    engine = OpenAIChatEngine(url, model, timeout=30)
    engine.load()
    return Reply.of(engine.stream([{"role": "user", "content": "hi"}], GenParams(max_tokens=32), lambda: False))


def test_a_server_that_passes_think_tags_as_text_is_split():
    server = FaultServer()
    try:
        reply = remote_reply(server.base("think"))
    finally:
        server.close()
    assert reply.reasoning == "The user greets me." and reply.text == "Hello again"


def test_chatapp_serve_sends_thinking_as_reasoning_content_and_the_remote_engine_reads_it():
    import openai
    scripted = [ReasoningDelta("Two and two"), ReasoningDelta(" make four."), TextDelta("4")]
    engine = FakeChatEngine([scripted, scripted, scripted])
    with serving_chat_engines({"thinker": engine}) as url:
        client = openai.OpenAI(base_url=url, api_key="none")
        whole = client.chat.completions.create(model="thinker", messages=[{"role": "user", "content": "2+2?"}])
        assert whole.choices[0].message.content == "4"
        assert whole.choices[0].message.model_extra["reasoning_content"] == "Two and two make four."
        chunks = list(client.chat.completions.create(model="thinker", stream=True,
                                                     messages=[{"role": "user", "content": "2+2?"}]))
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        assert "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas) == "Two and two make four."
        assert "".join(d.content or "" for d in deltas) == "4"
        reply = remote_reply(url, "thinker")   # chatapp's own remote backend against it
    assert reply.reasoning == "Two and two make four." and reply.text == "4"


# The window ---------------------------------------------------------------------------------------------------

def test_the_window_shows_thinking_live_then_closed_and_the_model_never_sees_it_again(make_app, qtbot, tmp_path):
    from .conftest import close_app
    thinking = [ReasoningDelta(w) for w in ("Let", " me", " think", " about", " it.")]
    engine = FakeChatEngine([thinking + [TextDelta("Hello"), TextDelta(" there")], "Fine."], token_delay=0.01,
                            hold_after=3)
    parts = make_app(engine)
    w = parts.window
    parts.session.submit("Hi")
    qtbot.waitUntil(lambda: any(getattr(b, "thinking", None) is not None for b in w.view.widgets.values()), timeout=30000)
    bubble = next(b for b in w.view.widgets.values() if getattr(b, "thinking", None) is not None)
    assert bubble.thinking.live and bubble.thinking.header.text() == "Thinking…" and bubble.thinking.body.isVisibleTo(bubble)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        engine.release.set()
    reply = parts.storage.branch(parts.session.current.id)[-1]
    assert reply.content == "Hello there" and reply.meta["reasoning"] == "Let me think about it."
    assert isinstance(reply.meta["thought_s"], float)
    box = w.view.widgets[reply.id].thinking
    qtbot.waitUntil(lambda: not box.live, timeout=30000)
    assert box.header.text().startswith("Thought") and not box.body.isVisibleTo(box)
    qtbot.mouseClick(box.header, Qt.MouseButton.LeftButton)   # opened: the whole thinking
    qtbot.waitUntil(lambda: "Let me think about it." in box.body.text(), timeout=30000)
    assert "Let me think" not in w.view.text_of(reply.id)   # the answer's own text is only the answer
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("And?")
    sent = engine.received[1]
    assert {"role": "assistant", "content": "Hello there"} in sent
    assert not any("think" in json.dumps(m) for m in sent)
    cid = parts.session.current.id
    close_app(parts)
    again = make_app(FakeChatEngine())   # a restart: the thinking is back, closed
    again.session.open_conversation(cid)
    kept = again.storage.branch(cid)[1]
    box = again.window.view.widgets[kept.id].thinking
    assert box is not None and not box.live and box.header.text() == thought_title(kept.meta["thought_s"])


# Export and import ------------------------------------------------------------------------------------------------

def test_exports_keep_the_thinking_apart_from_the_answer(tmp_path):
    from chatapp.settings import resolve_paths
    from chatapp.storage import Storage
    from chatapp.store.export import export
    from chatapp.store.ingest import import_file
    paths = resolve_paths(str(tmp_path / "data"))
    s = Storage(paths.database)
    c = s.create_conversation("Sums")
    s.add_message(c.id, "user", "What is 2 + 2?")
    s.add_message(c.id, "assistant", "**4**", meta={"reasoning": "Two and two.\nMake four.", "thought_s": 3.2})
    export(s, None, "md", tmp_path / "out.md")
    md = (tmp_path / "out.md").read_text()
    assert "> *Thought for 3 s*\n>\n> Two and two.\n> Make four.\n\n**4**" in md
    export(s, None, "html", tmp_path / "out.html")
    page = (tmp_path / "out.html").read_text()
    assert '<details class="thinking"><summary>Thought for 3 s</summary><p>Two and two.\nMake four.</p>\n</details>' \
           '<p><strong>4</strong></p>' in page
    export(s, None, "json", tmp_path / "out.json")
    again = Storage(resolve_paths(str(tmp_path / "again")).database)
    import_file(again, tmp_path / "out.json", tmp_path / "again" / "images")
    reply = again.branch(again.conversations()[0].id)[-1]
    assert reply.content == "**4**" and reply.meta["reasoning"] == "Two and two.\nMake four."


def test_a_reply_cut_off_while_thinking_says_so_and_how_to_get_more(make_app, qtbot):
    thinking = [ReasoningDelta(w) for w in ("Hmm", ", let", " me", " see")]
    engine = FakeChatEngine([thinking, [ReasoningDelta("Ok."), TextDelta("The answer")]], finish_reason="length")
    parts = make_app(engine, settings=Settings(max_tokens=4))
    for question in ("Hard question", "Another"):
        with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
            parts.session.submit(question)
    first, second = (m for m in parts.storage.branch(parts.session.current.id) if m.role == "assistant")
    assert (first.content, first.meta["cut_at"], first.status) == ("", 4, "done")
    footer = parts.window.view.widgets[first.id].footer
    assert footer.isVisibleTo(parts.window) and "still thinking when it was cut off at 4 tokens" in footer.text()
    assert "Max tokens per reply" in footer.text()
    assert parts.window.view.widgets[second.id].footer.text().startswith("Cut off at 2 tokens")   # before 4: context


def test_a_reply_that_is_all_thinking_shows_it_open_and_says_there_was_no_answer(make_app, qtbot):
    # Seen with a template that opens the thinking: the model wrote its answer inside it and never closed it.
    engine = FakeChatEngine([[ReasoningDelta("The capital of France is Paris.")], "Berlin."])
    parts = make_app(engine)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("What is the capital of France?")
    reply = parts.storage.branch(parts.session.current.id)[-1]
    bubble = parts.window.view.widgets[reply.id]
    qtbot.waitUntil(lambda: "Paris" in bubble.thinking.body.text(), timeout=30000)
    assert bubble.thinking.body.isVisibleTo(bubble) and not bubble.label.isVisibleTo(bubble)
    assert bubble.footer.text() == "The model gave no answer apart from its thinking (shown above)"
    from PySide6.QtGui import QGuiApplication
    qtbot.mouseClick(bubble.action_buttons["copy"], Qt.MouseButton.LeftButton)   # what the model wrote: its thinking
    assert QGuiApplication.clipboard().text() == "The capital of France is Paris."
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("And of Germany?")
    # The thinking is not sent back, and the two questions go as one user turn (an empty answer between them
    # was tried: Ministral 3's template refuses an assistant message without content).
    assert engine.received[1][-1] == {"role": "user", "content": "What is the capital of France?\n\nAnd of Germany?"}


# The thinking that led to tool calls, while the turn's tool rounds go on -------------------------------------------

CALL = {"id": "abcDEF123", "type": "function", "function": {"name": "draw_picture", "arguments": '{"prompt": "a cat"}'}}


def test_thinking_before_calls_goes_with_them_to_templates_that_show_it_and_never_to_a_server(tmp_path):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from chatapp import branches
    from chatapp.engines.openai_chat import OpenAIChatEngine
    from chatapp.engines.tool_calls.formats import history_for_template, probe
    from chatapp.serve.schemas import ChatBody
    from chatapp.storage import Storage
    s = Storage(tmp_path / "db.sqlite3")
    c = s.create_conversation("Draw")
    q = s.add_message(c.id, "user", "Draw a cat")
    s.add_message(c.id, "assistant", "", parent_id=q.id,
                  meta={"reasoning": "A cat: call the tool.", "tool_calls": [CALL]})
    history = branches.history(s, s.conversation(c.id), "", tools=True)
    assert history[-2]["reasoning_content"] == "A cat: call the tool."
    assert all("reasoning_content" not in m for m in branches.history(s, s.conversation(c.id), ""))   # folded
    # Gemma 4's published template shows it in the thought channel during the turn's tool rounds.
    gemma4 = Jinja2ChatFormatter(THINK_TEMPLATE.with_name("google-gemma-4-31B-it.jinja").read_text(),
                                 eos_token="<eos>", bos_token="<bos>")
    render = lambda messages, tools: gemma4(messages=messages, tools=tools).prompt   # noqa: E731
    text = render(history_for_template(history, probe(render)), [{"type": "function", "function": {
        "name": "draw_picture", "parameters": {"type": "object", "properties": {"prompt": {"type": "string"}}}}}])
    assert "<|channel>thought\nA cat: call the tool.\n<channel|>" in text
    # A server never gets it back (DeepSeek's API refuses it); chatapp serve takes it from a client.
    sent = OpenAIChatEngine("http://127.0.0.1:9/v1")._request(history, GenParams())["messages"]
    assert sent[-2]["tool_calls"] and all("reasoning_content" not in m for m in sent)
    body = ChatBody.model_validate({"messages": [{"role": "user", "content": "Draw a cat"},
                                                 {"role": "assistant", "content": None, "tool_calls": [CALL],
                                                  "reasoning_content": "A cat."},
                                                 {"role": "tool", "tool_call_id": CALL["id"], "content": "Drew #1."}]})
    assert body.dict_messages()[1]["reasoning_content"] == "A cat."


@pytest.mark.parametrize("pieces", [
    chars("<|channel|>analysis<|message|>The user greets.<|end|><|start|>assistant<|channel|>final<|message|>Hello!"),
    ["<|channel|>analysis<|message|>The user greets.<|end|>", "<|start|>", "assistant", "<|channel|>", "final",
     "<|message|>", "Hello!"]])
def test_gpt_oss_analysis_is_thinking_and_its_final_header_is_not_shown(pieces):
    reply = split(pieces)
    assert (reply.reasoning, reply.text) == ("The user greets.", "Hello!")


def test_gpt_oss_final_channel_alone_and_a_cut_header():
    assert split(chars("<|channel|>final<|message|>Hi")).text == "Hi"
    cut = split(chars("<|channel|>analysis<|message|>Hm.<|end|><|start|>assistant"))
    assert (cut.reasoning, cut.text) == ("Hm.", "")


@pytest.mark.real
def test_an_end_of_generation_token_is_never_shown_as_text():
    """SmolLM2's <|im_end|> ends a reply: asked to show it as text (it is hidden by plain detokenizing), it is left."""
    from chatapp.engines.llama import LlamaChatEngine
    from chatapp.engines.llama_tools import special_pieces
    engine = LlamaChatEngine(tool_model_path(), n_ctx=512)
    engine.load()
    assert special_pieces(engine.llm, ["<|im_end|>"]) == {}
    assert len(special_pieces(engine.llm, ["<|im_start|>"])) == 1   # not an end: shown
