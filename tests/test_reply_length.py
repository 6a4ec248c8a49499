"""A reply's length: no limit by default (to its end or the context's, as LM Studio and Ollama), the room trimming
keeps for it, an older settings file's 512 read as that default, and what a cut-off reply says under it."""
import json

from chatapp.conversation import GenParams, reply_reserve, unfinished_note
from chatapp.engines.defaults import default_llm_path
from chatapp.engines.events import ReasoningDelta, TextDelta
from chatapp.engines.fake import FakeChatEngine
from chatapp.engines.openai_chat import OpenAIChatEngine
from chatapp.settings import SETTINGS_VERSION, Settings, load_settings, save_settings

from .test_bad_input import real_llm_app


def test_replies_have_no_limit_by_default_and_trimming_keeps_a_quarter_of_the_context_for_them():
    assert Settings().max_tokens == 0 and Settings().gen_params().max_tokens == 0
    assert reply_reserve(0, 4096) == 1024 and reply_reserve(-1, 2048) == 512
    assert reply_reserve(300, 4096) == 300 and reply_reserve(8192, 4096) == 2048   # a limit: at most half


def test_an_older_files_512_is_the_old_default_and_reads_as_no_limit(tmp_path):
    path = tmp_path / "settings.json"
    for written, max_tokens, read in (({}, 512, 0), ({"settings_version": 2}, 512, 0), ({"settings_version": 2}, 900, 900),
                                      ({"settings_version": 3}, 512, 512)):
        path.write_text(json.dumps({**written, "max_tokens": max_tokens}))
        loaded, note = load_settings(path)
        assert (loaded.max_tokens, note) == (read, None), written
    save_settings(Settings(max_tokens=512), path)   # chosen now: kept
    assert json.loads(path.read_text())["settings_version"] == SETTINGS_VERSION == 3
    assert load_settings(path)[0].max_tokens == 512


def test_a_server_is_sent_no_max_tokens_without_a_limit():
    engine = OpenAIChatEngine("http://127.0.0.1:9/v1")
    ask = [{"role": "user", "content": "hi"}]
    assert "max_tokens" not in engine._request(ask, GenParams(max_tokens=0))
    assert engine._request(ask, GenParams(max_tokens=300))["max_tokens"] == 300


def test_what_a_cut_off_reply_says_names_what_cut_it():
    assert unfinished_note({"cut_at": 512}, "Once upon").endswith("raise Max tokens per reply in Settings for a longer answer")
    context = unfinished_note({"cut_at": 900, "cut_by": "context"}, "Once upon")
    assert context.startswith("Cut off at 900 tokens, where the model's context was full") and "Context length" in context
    thinking = unfinished_note({"cut_at": 900, "cut_by": "context", "reasoning": "Hmm"}, "")
    assert thinking.startswith("The model was still thinking when it was cut off at 900 tokens, where the model's context")


def test_the_settings_dialog_shows_no_limit(qtbot, tmp_path):
    from chatapp.ui.settings_dialog import SettingsDialog
    dialog = SettingsDialog(Settings(), config_dir=tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.max_tokens.value() == 0 and dialog.max_tokens.text() == "no limit"
    dialog.max_tokens.setValue(700)
    assert dialog.result_settings().max_tokens == 700


def test_a_limited_reply_and_one_that_filled_the_context_say_which_in_the_window(make_app, qtbot):
    engine = FakeChatEngine([[ReasoningDelta(w) for w in ("Hmm", ", let", " me", " see")], [TextDelta("Ok")]],
                            finish_reason="length")
    parts = make_app(engine, settings=Settings(max_tokens=4))
    for question in ("Hard question", "Another"):
        with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
            parts.session.submit(question)
    first, second = (m for m in parts.storage.branch(parts.session.current.id) if m.role == "assistant")
    assert "cut_by" not in first.meta and "Max tokens per reply" in parts.window.view.widgets[first.id].footer.text()
    # Ended as cut off before its own limit of 4: the context was what ran out.
    assert second.meta["cut_by"] == "context"
    assert "Context length" in parts.window.view.widgets[second.id].footer.text()


def test_the_real_engine_runs_a_reply_with_no_limit_to_the_contexts_end_and_says_so(make_app, qtbot):
    # n_ctx 256 (the least allowed): the question leaves the reply about a hundred tokens, far fewer than the story
    # takes (at a 512 context it ended by itself after ~330 tokens in one run, so the room must be well under that).
    parts = real_llm_app(make_app, qtbot, default_llm_path(), n_ctx=256, temperature=0.0, seed=1)
    assert parts.session.llm_status == "ready"
    with qtbot.waitSignal(parts.session.reply_finished, timeout=300000):
        parts.session.submit("Write a very long story about a dragon who learns to bake bread, in ten chapters, "
                             "with many details about every character, every place and every loaf. " * 3)
    reply = parts.storage.branch(parts.session.current.id)[-1]
    used, n_ctx = reply.meta["context"]
    assert reply.status == "done" and n_ctx == 256 and used == 256, reply.meta
    assert reply.meta["cut_by"] == "context" and reply.meta["cut_at"] > 0
    assert "Context length" in parts.window.view.widgets[reply.id].footer.text()
