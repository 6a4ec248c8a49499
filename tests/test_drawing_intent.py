"""The "Draw this" rules (chatapp/tools/drawing_intent.py): figures on the written set, the prompt and shape they fill in,
the tricky negatives, and the request a suggestion stands for."""
import importlib.util
import sys
from pathlib import Path

import pytest

from chatapp.tools.drawing_intent import MAX_CHARS, DrawingIntent, read, request, size
from chatapp.recipes import RecipeError
from chatapp.recipes.request import ModelLimits

TOOL = Path(__file__).resolve().parent.parent / "tools" / "eval_drawing_intent.py"
_spec = importlib.util.spec_from_file_location("eval_drawing_intent", TOOL)
evaluation = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))   # dataclasses look it up
_spec.loader.exec_module(evaluation)

# What the rules reach (README "Draw this"): dev 1.000 / 0.976, held-out 1.000 / 0.938 (the misses are the
# non-English requests and "render a 3d model of a coffee mug"). Checked with a margin of about one message.
FLOORS = {"dev": (0.98, 0.95), "heldout": (0.96, 0.90)}


@pytest.mark.parametrize("part", ["dev", "heldout"])
def test_precision_and_recall_on_the_written_set(part):
    rows = evaluation.load(part)
    assert sum(r.draw for r in rows) >= 30 and sum(not r.draw for r in rows) >= 30
    got = evaluation.score(rows, read)
    precision, recall = FLOORS[part]
    assert got.precision >= precision, evaluation.report(part, got)
    assert got.recall >= recall, evaluation.report(part, got)


def test_the_set_has_sixty_of_each_and_the_prompts_it_names():
    rows = evaluation.load("dev") + evaluation.load("heldout")
    assert sum(r.draw for r in rows) >= 60 and sum(not r.draw for r in rows) >= 60
    right = evaluation.score(rows, read)
    # Requests read right fill in the prompt and shape the set names (all of them today; a few may drift).
    assert len(right.prompt_diffs) <= 3, "\n".join(right.prompt_diffs)


@pytest.mark.parametrize("text, prompt, shape", [
    ("draw me a lighthouse at dusk", "a lighthouse at dusk", None),
    ("paint a cat in watercolour, square", "a cat in watercolour", "square"),
    ("Can you make an image of a castle on a hill?", "a castle on a hill", None),
    ("show me a picture of a sunset over the ocean", "a sunset over the ocean", None),
    ("Could you draw a fox in a suit, wide please", "a fox in a suit", "wide"),
    ("Draw a tall lighthouse on a cliff, portrait orientation", "a tall lighthouse on a cliff", "tall"),
    ("paint a wide river valley", "a wide river valley", None),   # an adjective, not a shape
    ("Thanks! Now sketch an owl on a branch.", "an owl on a branch", None),
    ("show me what a cyberpunk samurai would look like", "a cyberpunk samurai", None),
    ("I\u2019d like a painting of a quiet forest lake", "a quiet forest lake", None),
])
def test_a_request_gives_its_prompt_and_shape(text, prompt, shape):
    assert read(text) == DrawingIntent(prompt, shape)


@pytest.mark.parametrize("text", [
    "How do I draw a circle in Python with turtle?", "Write a poem about the sea", "draw a conclusion",
    "Draw a conclusion from these results", "draw up a contract", "Can you draw up a contract?",
    "picture this scenario", "Picture this: a world without cars", "what's the best paint for walls",
    "describe a painting by Monet", "draw water from a well", "sketch out a plan", "image processing in OpenCV",
    "Describe the picture I sent", "Render this markdown table", "Paint me a picture of your weekend (in words)",
    "Generate a SQL query", "Make a logo? no, just suggest names", "Sketch out a plan for my essay",
    "I drew a cat yesterday", "Show me the code", "Draw attention to the risks", "paint the town red",
    "draw your sword", "paint my walls white", "draw it again", "Draw a picture", "Illustrate your point",
    "Can you make the picture brighter?", "Let me paint the picture: sales are down", "draw a card",
    "I'd like to draw a cat", "Generate an image caption for this photo", "Show me the picture I sent",
])
def test_tricky_messages_are_not_requests(text):
    assert read(text) is None


def test_long_texts_and_code_are_never_read():
    assert read("draw a cat " + "x" * MAX_CHARS) is None
    assert read("draw a cat\n```\nprint(1)\n```") is None
    assert read("") is None and read("   ") is None


def test_a_shape_becomes_a_size_within_the_models_limits():
    sd = ModelLimits(fits=(512, 512), max_side=1024)
    assert size("square", sd) == (512, 512)
    assert size("wide", sd) == (768, 512) and size("tall", sd) == (512, 768)
    assert size("wide", ModelLimits(fits=(512, 512), max_side=640)) == (640, 512)   # cut to the largest side
    assert size("wide", ModelLimits(fits=(32, 32), max_side=64)) == (48, 32)        # the embedded model
    assert size("square", ModelLimits()) is None    # before the image model has loaded: its own size
    assert size(None, sd) is None and size("round", sd) is None


def test_a_suggestion_is_an_image_request_checked_by_the_recipe():
    limits = ModelLimits(fits=(32, 32), max_side=64)
    got = request({"prompt": "a cat in watercolour", "shape": "wide"}, limits)
    assert (got.prompt, got.width, got.height) == ("a cat in watercolour", 48, 32)
    assert got.command() == "/image a cat in watercolour --size 48x32"
    assert request({"prompt": "a fox"}, limits).width is None
    with pytest.raises(RecipeError):
        request({}, limits)
    with pytest.raises(RecipeError):
        request({"prompt": "   "}, limits)
