"""Hardening, third round (issue 28 items 1, 5, 6, 9): hostile prompts and recipes, honest messages,
and a closed batch that keeps its finished pictures."""
import re
import threading

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from chatapp import commands
from chatapp.commands import CommandError, parse_input
from chatapp.conversation import DONE, ERROR, ImageRequest
from chatapp.engines.base import ModelInfo
from chatapp.engines.fake import FakeImageEngine
from chatapp.recipes import RecipeError, command, loras as lora
from chatapp.recipes.a1111 import parse_parameters
from chatapp.recipes.command import image_command
from chatapp.recipes.png import recipe_command
from chatapp.recipes.request import MAX_PROMPT_CHARS

from .gui_drops import drop_on_composer

# What the issue found (32,000 characters of "<lora:" held the window 1.8 s), and two of ours that the
# old whole-tag pattern also ran to the end of the text for, at every opening: an empty name with a
# weight colon, and mixed case with a name and no closing ">".
HOSTILE_TAGS = {"issue": "<lora:" * 5334, "colon": "<lora::" * 4572, "mixed case": "<LoRA:x," * 4000}
A1111_TAG = re.compile(r"<lora:([^:>]*)(?::([^>]*))?>", re.IGNORECASE)   # A1111's own, for the same answers


class Boom:
    """Stands in for a pattern (or the re module): any use fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"a pattern ran ({name}) on text that should have been refused first")


class CountingStr(str):
    """A prompt that counts the characters its find() calls look at."""
    examined = 0

    def find(self, sub, start=0, end=None):
        at = str.find(self, sub, start, len(self) if end is None else end)
        CountingStr.examined += (at + len(sub) if at >= 0 else len(self)) - start
        return at


class CountingPattern:
    """Stands in for each compiled pattern of the module under test. A search for a literal (no regex
    syntax, so it cannot backtrack) counts the characters it looks at; any other use of any pattern
    fails the test, as its work cannot be bounded by a count."""

    def __init__(self, pattern):
        self.pattern, self.examined = pattern, 0

    def search(self, text, pos=0):
        if re.escape(self.pattern.pattern) != self.pattern.pattern:
            raise AssertionError(f"the tag scan searched with {self.pattern.pattern!r}, which can backtrack")
        m = self.pattern.search(text, pos)
        self.examined += (m.end() if m else len(text)) - pos
        return m

    def __getattr__(self, name):
        raise AssertionError(f"the tag scan used {name}() of {self.pattern.pattern!r}, which can backtrack")


@pytest.mark.parametrize("name", list(HOSTILE_TAGS))
def test_lora_tag_scan_looks_at_each_character_a_bounded_number_of_times(monkeypatch, name):
    """Deterministic, not timed: the scan may use only literal searches (the tag's opening, then its ">"),
    and the test counts every character they look at. The old whole-tag pattern re-scanned to the end of
    the text from every "<lora:" (quadratic: ~n^2/12 characters here; it fails here as a pattern that can
    backtrack); the scan looks at each character about once. The lower bound proves the counted searches
    did the whole job (nothing uncounted read the text)."""
    text = CountingStr(HOSTILE_TAGS[name] + " a red circle")
    CountingStr.examined = 0
    patterns = {k: CountingPattern(v) for k, v in vars(lora).items() if isinstance(v, re.Pattern)}
    for k, counting in patterns.items():
        monkeypatch.setattr(lora, k, counting)
    prompt, tags = lora.split_tags(text)
    examined = CountingStr.examined + sum(p.examined for p in patterns.values())
    assert len(text) <= examined <= 2 * len(text) + 16
    assert (prompt, tags) == (text, [])   # no tag closes: the prompt is left as it was


def test_lora_tags_are_the_ones_a1111_finds():
    prompts = ["a red circle, <lora:white-background:0.5> on a blue background <LORA:b>",
               "<lora:a:0.8:te=1> x <lora:<lora:b> y>", "<lora:no close", "<lora::1>,, <lora:c:> , end",
               "x <lora:a\tb : 0.7 >z", "<lora:" * 50 + "> tail", "plain text, no tags"]
    for p in prompts:
        expected = [(m[1].strip(), (m[2] or "").strip()) for m in A1111_TAG.finditer(p)]
        text, tags = lora.split_tags(p)
        assert tags == expected, p
        if tags:
            assert text == re.sub(r"\s+,", ",", " ".join(A1111_TAG.sub(" ", p).split())).strip(" ,")


@pytest.mark.parametrize("body", ["<lora:" * 20_000, "a cat " * 20_000, "x" * 120_000])
def test_a_too_long_image_is_refused_before_any_pattern_runs(monkeypatch, body):
    """The issue's 120,000-character /image held the window 24.5 s; now no pattern, shell-word reader
    or LoRA scan sees it (each is replaced by something that fails the test when used)."""
    for module in (commands, command):   # the parser, and /image's text format it reads the prompt with
        monkeypatch.setattr(module, "re", Boom())
        monkeypatch.setattr(module, "shlex", Boom())
    monkeypatch.setattr(command, "_FLAG", Boom())
    monkeypatch.setattr(lora, "split_tags", Boom())
    with pytest.raises(CommandError, match=r"characters long; /image takes at most 4,000 .*77 tokens"):
        parse_input("/image " + body + " --steps 3")


def test_prompt_and_negative_limits_are_exact():
    ok = parse_input("/image " + "a" * MAX_PROMPT_CHARS + " --negative " + "b" * MAX_PROMPT_CHARS)
    assert len(ok.prompt) == len(ok.negative) == MAX_PROMPT_CHARS
    with pytest.raises(CommandError, match="The prompt is 4,001 characters long"):
        parse_input("/image " + "a" * (MAX_PROMPT_CHARS + 1))
    with pytest.raises(CommandError, match="The negative prompt is 4,001 characters long"):
        parse_input("/image a cat --negative " + "b" * (MAX_PROMPT_CHARS + 1))


def recipe_png(path, text):
    info = PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


SMUGGLING = ("a castle at dusk --ar 16:9 --init /etc/passwd --n 8 <lora:white-background:0.5>, it's 'quoted'\n"
             "second line --steps 150\n"
             "Negative prompt: --steps=5 x, -blurry, --mask /etc/shadow\n"
             "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x48, Model: m")


def test_a_recipes_text_stays_text_and_round_trips(tmp_path):
    """Issue: the prompt went into /image unquoted, so "--ar 16:9" gave "Unrecognized arguments" and a file
    could add --init or --n. Now: PNG recipe -> command -> parser gives back the very same recipe."""
    png = recipe_png(tmp_path / "mj.png", SMUGGLING)
    recipe = parse_parameters(SMUGGLING)
    command = recipe_command(png)
    back = parse_input(command)
    assert back == recipe
    assert back.prompt.startswith("a castle at dusk --ar 16:9 --init /etc/passwd --n 8")
    assert (back.init, back.count, back.mask, back.steps) == (None, 1, None, 20)
    assert back.negative == "--steps=5 x, -blurry, --mask /etc/shadow"
    assert back.loras == [("white-background", 0.5)]


@pytest.mark.parametrize("prompt, negative", [
    ("'wholly quoted'", "-"), ("--n 8", "--negative"), ("say \"hi\" --seed 1", "' \\"), ("# not a comment", "a, b"),
    ("a plain prompt", ""), ("it's a cat's hat", "-5 fingers"),
])
def test_every_request_reads_back_from_its_command(prompt, negative):
    req = ImageRequest(prompt=prompt, negative=negative, steps=12, cfg=5.5, seed=7, width=64, height=48,
                       scheduler="euler-a", count=2, loras=[("my lora", -0.5), ("-x", 1.0)])
    assert parse_input(image_command(req)) == req
    if prompt == "a plain prompt":   # nothing to protect: the command stays as a user would type it
        assert image_command(req).startswith("/image a plain prompt --steps 12")


def test_editing_a_picture_keeps_its_prompt_text():
    """The Edit action puts the stored prompt back in the box: a quoted one with "--ar 16:9" stays text."""
    from chatapp.conversation import Message
    from chatapp.pictures.edits import edit_command
    m = Message(5, 1, "assistant", "x", kind="image", meta={"request": {"prompt": "a castle --ar 16:9"}, "number": 2})
    req = parse_input(edit_command(m))
    assert (req.prompt, req.init, req.strength, req.count) == ("a castle --ar 16:9", "#2", 0.6, 1)


def test_a_recipe_over_the_limit_says_so_before_its_tags_are_read(monkeypatch, tmp_path):
    """The issue's drop: a PNG whose prompt is 32,000 characters of "<lora:" froze the window 2.5 s."""
    png = recipe_png(tmp_path / "hostile.png", "<lora:" * 5000 + "\nSteps: 20, Seed: 1, Size: 64x64")
    monkeypatch.setattr(lora, "split_tags", Boom())
    with pytest.raises(RecipeError, match=r"hostile.png cannot be used: its prompt is 30,000 characters long"):
        recipe_command(png)
    neg = recipe_png(tmp_path / "neg.png", "a cat\nNegative prompt: " + "n" * 5000 + "\nSteps: 2, Seed: 1, Size: 8x8")
    with pytest.raises(RecipeError, match="its negative prompt is 5,000 characters long"):
        recipe_command(neg)


@pytest.mark.qt_log_ignore("This plugin does not support")   # the offscreen platform and a popup menu
def test_dropping_a_hostile_recipe_says_why_and_still_offers_edit(make_app, qtbot, tmp_path):
    png = recipe_png(tmp_path / "hostile.png", "<lora:" * 5000 + "\nSteps: 20, Seed: 1, Size: 64x64")
    parts = make_app()
    drop_on_composer(parts.window, png)
    qtbot.waitUntil(lambda: parts.window.picture_drop.menu is not None, timeout=30000)
    menu = parts.window.picture_drop.menu
    assert [a.text() for a in menu.actions()] == ["Ask about this picture", "Edit this picture"]
    menu.close()   # an open popup would warn about its keyboard grab during the next test
    qtbot.waitUntil(lambda: not menu.isVisible())
    notices = [n.message.content for n in parts.window.view._notices]
    assert any("hostile.png cannot be used: its prompt is 30,000 characters long" in n for n in notices)


class SmallModel(FakeImageEngine):
    """A model that allows 64x64 at most, like the embedded tiny-shapes one."""

    def load(self):
        return ModelInfo(name="Small model", path="small",
                         details={"max_size": 64, "width": 32, "height": 32, "steps": 2, "cfg": 4.0})


def test_a_settings_size_too_big_says_it_is_the_settings_default(make_app, qtbot):
    """Issue: with Settings' size at 512x512 every /image said "--size 512x512 is larger than ..." though
    the user typed no --size. Both paths: the model still loading (first picture), and loaded."""
    from dataclasses import replace
    from chatapp.settings import Settings
    parts = make_app(image_engine=SmallModel(), settings=replace(Settings(), image_size="512x512"))
    s = parts.session
    for _ in range(2):
        assert s.submit("/image a red circle")
        msg = [m for m in parts.storage.messages(s.current.id) if m.kind == "image"][-1]
        qtbot.waitUntil(lambda: parts.storage.message(msg.id).status == ERROR, timeout=30000)
        text = parts.storage.message(msg.id).content
        assert text.startswith("The default picture size in Settings (512x512) is larger than Small model allows "
                               "(64x64 at most)"), text
        assert "Settings > Images" in text and "--size 32x32" in text and "--size 512x512" not in text
    with pytest.raises(CommandError, match=r"--size 512x512 is larger than Small model allows \(64x64 at most\)"):
        parse_input("/image a red circle --size 512x512", s.images.limits())   # typed: the flag is named


def test_a_cut_negative_prompt_gets_a_note(tmp_path_factory):
    from chatapp.engines.diffusion import DiffusionImageEngine
    from .tiny_pipeline import build_random_pipeline
    engine = DiffusionImageEngine(build_random_pipeline(tmp_path_factory.mktemp("neg") / "sd"))
    engine.load()
    words = "a red circle on a blue background a blue square on red"   # 12 tokens; this model reads 8
    out = engine.generate(ImageRequest(prompt="a cat", negative=words, steps=1, seed=1), lambda e: None, lambda: False)
    assert out[0].notes == ["The model read only the first 8 of the negative prompt's 12 tokens; "
                            "it ignored: \u201cblue square on red\u201d"]


class StopsAfterOne(FakeImageEngine):
    """Draws the first picture of a batch, then stays in the second until it is told to stop."""

    def __init__(self):
        super().__init__(default_steps=2)
        self.in_second, self._never = threading.Event(), threading.Event()

    def generate(self, request, on_progress, should_stop):
        first = super().generate(ImageRequest(prompt=request.prompt, steps=2, seed=1, count=1), on_progress, should_stop)
        self.in_second.set()
        while not should_stop():
            self._never.wait(0.01)   # the real engine checks before each UNet block
        return first


def test_closing_mid_batch_keeps_the_pictures_already_drawn(make_app, qtbot):
    """Issue: closing while picture 2 of 3 rendered threw picture 1 away (message and file)."""
    engine = StopsAfterOne()
    parts = make_app(image_engine=engine)
    s = parts.session
    assert s.submit("/image a red circle --n 3")
    # The worker is in picture 2, and the GUI thread has heard that the job started (a queued signal).
    qtbot.waitUntil(lambda: engine.in_second.is_set() and all(j.started for j in s.images.jobs.values()),
                    timeout=30000)
    conv = s.current.id
    parts.window.close()   # closeEvent -> session.shutdown(): the worker stops, and sends what it drew
    qtbot.waitUntil(lambda: not s.images.worker.thread_running, timeout=30000)
    pictures = [m for m in parts.storage.messages(conv) if m.kind == "image"]
    assert [m.status for m in pictures] == [DONE]
    assert pictures[0].meta["note"] == "chatapp was closed before picture 2 of 3."
    with Image.open(pictures[0].image_path) as im:
        assert im.size == (32, 32)
