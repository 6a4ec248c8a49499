"""The local engine sees pictures: the real MTMDChatHandler on the tiny vision model (tests/vision_model.py)."""
import base64
import io
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from chatapp.conversation import GenParams
from chatapp.engines.base import ChatStats, ContextOverflow, EngineError
from chatapp.engines.defaults import default_llm_path
from chatapp.engines.events import TextDelta, Usage
from chatapp.engines.llama import LlamaChatEngine

from .vision_model import vision_model  # noqa: F401  (the fixture)

pytestmark = pytest.mark.real
GREEDY = GenParams(temperature=0.0, max_tokens=12, seed=7)


def data_url(colour, size=(64, 48), fmt="PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def ask(text, *urls):
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         *({"type": "image_url", "image_url": {"url": u}} for u in urls)]}]


@pytest.fixture(scope="module")
def engine(vision_model):  # noqa: F811
    gguf, mmproj = vision_model
    e = LlamaChatEngine(gguf, n_ctx=1024, projector=mmproj)
    e.load()
    return e


def run(engine, messages, params=GREEDY, stop_after=None):
    stats, pieces = ChatStats(), []
    events = list(_events(engine, messages, params, stats, pieces, stop_after))
    assert isinstance(events[-1], Usage) and all(isinstance(e, TextDelta) for e in events[:-1])
    return pieces, stats


def _events(engine, messages, params, stats, pieces, stop_after):
    for event in engine.stream(messages, params, lambda: stop_after is not None and len(pieces) >= stop_after, stats):
        if isinstance(event, TextDelta):
            pieces.append(event.text)
        yield event


def test_declares_vision_with_the_projectors_image_size(engine):
    caps = engine.capabilities
    assert caps.vision and caps.image_side == 560   # clip.vision.image_size in the mmproj's header
    # The handler evaluates each prompt itself (pictures again every turn): nothing to warm or count ahead.
    assert not caps.warms_next_turn and not caps.counts_prompt


def test_a_picture_is_evaluated_and_counted(engine, capfd):
    red = data_url((220, 20, 20))
    pieces, stats = run(engine, ask("What is in this picture?", red))
    text_only, text_stats = run(engine, ask("What is in this picture?"))
    cells, positions = engine._vision.cost(red)
    # 64 x 48 px: 14-px patches merged 2 x 2 -> 4 x 3 = 12 embeddings, plus its two marker tokens.
    assert (cells, positions) == (14, 6)
    assert stats.prompt_tokens - text_stats.prompt_tokens == cells
    assert stats.evaluated_prompt_tokens == stats.prompt_tokens and stats.context_used == stats.prompt_tokens + len(pieces)
    assert len(pieces) == GREEDY.max_tokens and "".join(pieces) != "".join(text_only)
    # libmtmd's per-image log lines stay out of the output (routed to llama-cpp-python's quiet logger).
    err = capfd.readouterr().err
    assert "image slice encoded" not in err and "add_text" not in err


def test_the_reply_follows_the_picture(engine):
    """The embedding reaches the model: greedy replies repeat for the same picture and differ for another."""
    red, blue = data_url((220, 20, 20)), data_url((20, 20, 220))
    first, _ = run(engine, ask("Describe it.", red))
    again, _ = run(engine, ask("Describe it.", red))
    other, _ = run(engine, ask("Describe it.", blue))
    assert first == again and first != other


def test_same_seed_same_sampled_reply(engine):
    sampled = GenParams(temperature=0.9, max_tokens=10, seed=1234)
    picture = data_url((30, 160, 40), (100, 70), "JPEG")
    a, _ = run(engine, ask("And this?", picture), sampled)
    b, _ = run(engine, ask("And this?", picture), sampled)
    assert a == b and len(a) == 10


def test_stop_mid_reply(engine):
    pieces, stats = run(engine, ask("Tell me about it.", data_url((200, 200, 0))), GenParams(max_tokens=40, seed=3),
                        stop_after=3)
    assert stats.stopped and len(pieces) == 3 == stats.completion_tokens


def test_trimming_counts_pictures_with_their_message(engine):
    picture = data_url((10, 10, 10), (560, 560))   # 20 x 20 embeddings = 400 cells
    cells, _ = engine._vision.cost(picture)
    assert cells > 400
    history = [*ask("First look at this.", picture), {"role": "assistant", "content": "A dark square."},
               *ask("And this one?", picture), {"role": "assistant", "content": "Another."}, *ask("Which was darker?")]
    _, stats = run(engine, history, GenParams(max_tokens=200, seed=1))
    # 1024 - 200 reserved holds one picture's turn but not two: the oldest goes, its picture with it.
    assert stats.dropped_messages == 2 and 400 < stats.prompt_tokens < 1024 - 200


def test_a_picture_larger_than_the_context_is_a_clear_overflow(vision_model):  # noqa: F811
    gguf, mmproj = vision_model
    small = LlamaChatEngine(gguf, n_ctx=256, projector=mmproj)
    small.load()
    big = ask("Look.", data_url((0, 0, 0), (560, 560)))   # 402 cells
    with pytest.raises(ContextOverflow, match="This message is about 4[0-9][0-9] tokens"):
        run(small, big, GenParams(max_tokens=16))
    # Untrimmed (an API's caller trims): the handler's own n_ctx check, in words.
    with pytest.raises(ContextOverflow, match="conversation and its pictures do not fit"):
        run(small, big, GenParams(max_tokens=16, fit_context=False))
    pieces, _ = run(small, ask("Look.", data_url((0, 0, 0))), GenParams(max_tokens=4))   # still answers
    assert pieces


@pytest.mark.parametrize("url, words", [("https://example.com/cat.png", "https: URL is refused"),
                                        ("file:///etc/passwd", "file: URL is refused")])
def test_only_data_urls(engine, url, words):
    with pytest.raises(EngineError, match=words):
        run(engine, ask("What is this?", url))


def test_pictures_only_in_user_messages(engine):
    assistant = {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": data_url((1, 1, 1))}}]}
    with pytest.raises(EngineError, match="'assistant' message cannot be sent"):
        run(engine, [*ask("Hi"), assistant, *ask("And?")])
    with pytest.raises(EngineError, match="type 'input_audio' cannot be sent"):
        run(engine, [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": ""}}]}])
    # A bare string where OpenAI has {"url": ...} (some clients send it; the handler reads both) is a picture too.
    bare = [{"role": "user", "content": [{"type": "text", "text": "See"}, {"type": "image_url", "image_url": data_url((5, 5, 5))}]}]
    _, stats = run(engine, bare)
    _, plain = run(engine, ask("See"))
    assert stats.prompt_tokens - plain.prompt_tokens == 14


def test_bad_pictures_are_refused_by_name(engine):
    with pytest.raises(EngineError, match="damaged or not a picture"):
        run(engine, ask("What?", "data:image/png;base64," + base64.b64encode(b"not a png at all").decode()))
    for size, words in (((20_000, 20_000), "more than 50 million pixels is too large"),   # Pillow's bomb limit
                        ((20_000, 3_000), "20000 x 3000 pixels is too large")):            # ours
        huge = io.BytesIO()
        Image.new("1", size).save(huge, "PNG")   # tens of KB on disk, never decoded
        with pytest.raises(EngineError, match=words):
            run(engine, ask("What?", "data:image/png;base64," + base64.b64encode(huge.getvalue()).decode()))
    pieces, _ = run(engine, ask("Still there?", data_url((1, 2, 3))))   # the engine carries on
    assert pieces


def test_a_model_without_projector_refuses_pictures():
    plain = LlamaChatEngine(default_llm_path(), n_ctx=512)
    plain.load()
    assert not plain.capabilities.vision
    with pytest.raises(EngineError, match="cannot see pictures"):
        run(plain, ask("What is this?", data_url((9, 9, 9))))
    pieces, _ = run(plain, ask("Say hi."), GenParams(max_tokens=4, temperature=0.0))   # text-only parts: fine
    assert pieces


def test_a_projector_of_another_model_is_a_clear_error(vision_model):  # noqa: F811
    _, mmproj = vision_model
    smollm2 = LlamaChatEngine(default_llm_path(), n_ctx=512, projector=mmproj)
    with pytest.raises(EngineError, match="[Tt]his projector does not belong to this model"):
        smollm2.load()
    assert smollm2.llm is None


def test_a_projector_whose_header_lies_is_refused_by_llama_cpp(vision_model, tmp_path):  # noqa: F811
    """The header says 576 wide (SmolLM2's width) but the tensors make 64: llama.cpp refuses it at load;
    an EngineError in words, the process alive, the model freed."""
    _, mmproj = vision_model
    liar = tmp_path / "mmproj-liar.gguf"
    shutil.copy(mmproj, liar)
    subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_set_metadata", "--force", str(liar),
                    "clip.vision.projection_dim", "576"], check=True, capture_output=True, stdin=subprocess.DEVNULL)
    smollm2 = LlamaChatEngine(default_llm_path(), n_ctx=512, projector=liar)
    with pytest.raises(EngineError, match="could not load the projector mmproj-liar.gguf"):
        smollm2.load()
    assert smollm2.llm is None


def test_a_chat_model_is_no_projector(vision_model):  # noqa: F811
    gguf, _ = vision_model
    wrong = LlamaChatEngine(gguf, n_ctx=512, projector=default_llm_path())
    with pytest.raises(EngineError, match="is not a vision projector"):
        wrong.load()
