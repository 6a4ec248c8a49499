"""The /image and /help parser: good input resolves, every kind of bad input says what to fix."""
import pytest

from chatapp.commands import ChatTurn, CommandError, HelpRequest, help_text, parse_input
from chatapp.conversation import ImageRequest
from chatapp.recipes.request import ModelLimits


def test_plain_text_is_a_chat_turn():
    assert parse_input("hello /image not a command") == ChatTurn("hello /image not a command")


def test_image_with_every_flag():
    req = parse_input('/image a cat\'s "hat" --negative "blurry, dark" --steps 12 --cfg 5.5 --seed 7 '
                      '--size 64x48 --scheduler euler-a --n 3')
    assert req == ImageRequest(prompt='a cat\'s "hat"', negative="blurry, dark", steps=12, cfg=5.5, seed=7, width=64,
                               height=48, scheduler="euler-a", count=3)


def test_defaults_are_left_to_the_model():
    req = parse_input("/image a red circle")
    assert (req.steps, req.cfg, req.seed, req.width, req.scheduler, req.count) == (None, None, None, None, None, 1)


def test_command_round_trips():
    req = ImageRequest(prompt="a blue square", negative="red", steps=10, cfg=3.0, seed=42, width=32, height=32,
                       scheduler="ddim", count=2)
    assert parse_input(req.command()) == req


def test_help():
    assert isinstance(parse_input("/help"), HelpRequest)
    text = help_text()
    for flag in ("--negative", "--steps", "--cfg", "--seed", "--size", "--scheduler", "--n"):
        assert flag in text


@pytest.mark.parametrize("text, words", [
    ("/image", "needs a description"),
    ("/image    ", "needs a description"),
    ("/image --steps 10", "needs a description"),
    ("/image a cat --steps 0", "--steps must be between 1 and 150"),
    ("/image a cat --steps 500", "--steps must be between 1 and 150"),
    ("/image a cat --steps many", "invalid int value"),
    ("/image a cat --cfg 99", "--cfg must be between 0 and 30"),
    ("/image a cat --size 30x30", "multiple of 8"),
    ("/image a cat --size big", "size must look like"),
    ("/image a cat --size 4096x4096", "larger than this model allows"),
    ("/image a cat --scheduler warp", "Unknown scheduler"),
    ("/image a cat --n 0", "--n must be between"),
    ("/image a cat --n 50", "--n must be between"),
    ("/image a cat --seed -4", "--seed must be between"),
    ("/image a cat --bogus 1", "Unrecognized arguments: --bogus"),
    ("/image a cat --negative \"unclosed", "Could not read the flags"),
    ("/imagine a cat", "Unknown command /imagine"),
    ("   ", "Type a message first"),
])
def test_bad_input_says_what_to_fix(text, words):
    with pytest.raises(CommandError) as err:
        parse_input(text)
    assert words in str(err.value)


def test_size_limit_comes_from_the_model():
    with pytest.raises(CommandError, match="64x64"):
        parse_input("/image a cat --size 128x128", image_limits=ModelLimits(max_side=64))
    assert parse_input("/image a cat --size 64x64", image_limits=ModelLimits(max_side=64)).width == 64


def test_attach_and_library_commands(tmp_path):
    from chatapp.commands import AttachRequest, LibraryRequest
    assert parse_input('/attach a.txt "my file.pdf"') == AttachRequest(["a.txt", "my file.pdf"])
    assert parse_input("/library on") == LibraryRequest(True)
    assert parse_input("/library OFF") == LibraryRequest(False)
    assert parse_input("/library") == LibraryRequest(None)
    for bad in ("/attach", "/attach 'unclosed", "/library maybe"):
        with pytest.raises(CommandError):
            parse_input(bad)


def test_pasted_file_paths_attach(tmp_path):
    from chatapp.commands import AttachRequest
    a, b = tmp_path / "a.md", tmp_path / "b c.pdf"
    a.write_text("x")
    b.write_text("y")
    assert parse_input(f"{a}\n'{b}'\n") == AttachRequest([str(a), str(b)])
    assert parse_input(f"file://{str(b).replace(' ', '%20')}") == AttachRequest([str(b)])
    assert parse_input(f"what is in {a}?") == ChatTurn(f"what is in {a}?")
    with pytest.raises(CommandError):   # not every path exists: an (unknown) command, as before
        parse_input(f"{a}\n{tmp_path / 'missing.txt'}")


def test_a_requests_own_command_reads_back_as_the_same_request():
    """Re-run and Vary seed log request.command(): a prompt with flag-like words must stay words."""
    from chatapp.conversation import ImageRequest
    req = ImageRequest(prompt="a cat --n 8 --init /etc/passwd --ar 16:9", negative="-blurry, --mask x",
                       steps=5, cfg=3.0, seed=7, width=32, height=32)
    back = parse_input(req.command())
    assert (back.prompt, back.negative, back.steps, back.cfg, back.seed, back.width, back.height, back.count,
            back.init, back.mask) == (req.prompt, req.negative, 5, 3.0, 7, 32, 32, 1, None, None)
