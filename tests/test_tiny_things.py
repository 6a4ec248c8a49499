"""The everyday-things image model, tiny-things (issue 26): the prompts the issue names draw the thing asked for, where asked,
judged from the pixels by tools/emoji_judge.py (nearest clean glyph render: never trained on model output)."""
import sys
from pathlib import Path

import pytest

from chatapp.conversation import ImageRequest
from chatapp.engines.defaults import THINGS_IMAGE_MODEL
from chatapp.engines.diffusion import DiffusionImageEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import emoji_objects  # noqa: E402
from emoji_scenes import Scene  # noqa: E402

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(not (THINGS_IMAGE_MODEL / "model_index.json").is_file(),
                                 reason="resources/models/tiny-things is not in this checkout"),
              pytest.mark.skipif(not emoji_objects.FONT.exists(),
                                 reason="the judge renders Debian's fonts-noto-color-emoji, not installed")]

# (prompt, the scene it asks for, the aspects the prompt names); a background not named is the model's choice.
CASES = [
    ("a cat", Scene(("cat",), "white"), {"object"}),
    ("a red car on a blue background", Scene(("car",), "blue"), {"object", "background"}),
    ("a small tree in the bottom left", Scene(("tree",), "white", "small", "bottom left"), {"object", "position"}),
    ("an apple and a banana", Scene(("apple", "banana"), "white"), {"both objects"}),
]
# The model card reports rates; here one picture of six must be right in every aspect asked. Six, not three: "a cat"
# comes out as a cat's face that the judge puts nearest to the cat (U+1F431) or to the grinning cat (U+1F63A), two
# near-identical glyphs, about half each; and another CPU's arithmetic may draw a seed a little differently.
SEEDS = tuple(range(6))


@pytest.fixture(scope="module")
def engine():
    e = DiffusionImageEngine(THINGS_IMAGE_MODEL)
    e.load()
    return e


@pytest.fixture(scope="module")
def judge():
    import emoji_judge
    return emoji_judge.default_judge()


@pytest.mark.parametrize("prompt, scene, asked", CASES, ids=[c[0] for c in CASES])
def test_draws_the_thing_asked_for(engine, judge, prompt, scene, asked):
    verdicts = []
    for seed in SEEDS:
        image = engine.generate(ImageRequest(prompt=prompt, seed=seed), lambda *a: None, lambda: False)[0].image
        assert image.size == (32, 32)
        verdict = judge.judge(image, scene)
        verdicts.append({aspect: verdict[aspect] for aspect in asked})
    assert any(all(v.values()) for v in verdicts), f"{prompt!r}: {verdicts}"

