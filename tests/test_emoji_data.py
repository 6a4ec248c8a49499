"""The emoji image model's training data (issue 26): the manifest, compositions, captions and the judge.
Fast: no training, no diffusers. Needs Debian's fonts-noto-color-emoji (.ci/run installs it)."""
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import emoji_judge  # noqa: E402
import emoji_objects  # noqa: E402
import emoji_scenes as es  # noqa: E402
import shapes  # noqa: E402

pytestmark = pytest.mark.skipif(not emoji_objects.FONT.exists(),
                                reason="Debian fonts-noto-color-emoji is not installed (apt-get install fonts-noto-color-emoji)")


def test_manifest_has_several_hundred_everyday_things_with_unique_words_and_licences():
    m = emoji_objects.load_manifest()
    objs = m["objects"]
    assert len(objs) >= 300
    assert Counter(o["category"] for o in objs).keys() == {
        "faces", "animals", "plants", "food", "vehicles", "buildings", "weather", "tools", "objects"}
    words = [w for o in objs for w in o["words"]]
    assert len(words) == len(set(words))                       # a phrase names one thing only
    by_word = {w: o["char"] for o in objs for w in o["words"]}
    assert {w: by_word[w] for w in ("cat", "dog", "car", "apple", "tree", "house", "banana", "sun")} == {
        "cat": "🐱", "dog": "🐶", "car": "🚗", "apple": "🍎", "tree": "🌳", "house": "🏠", "banana": "🍌", "sun": "☀"}
    assert all(m["glyph_sources"][o["source"]]["licence"] == "SIL OFL 1.1" for o in objs)
    assert all(o["name"] == o["words"][0] for o in objs)


def test_every_glyph_renders_and_the_cache_gives_the_same_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(emoji_objects, "CACHE", tmp_path)
    first = emoji_objects.glyphs()
    assert (tmp_path / "noto_glyphs.npz").exists()
    again = emoji_objects.glyphs()
    cat = emoji_objects.render_glyph("🐱")
    assert cat.shape[2] == 4 and min(cat.shape[:2]) > 80
    assert np.array_equal(first["🐱"], cat) and np.array_equal(again["🐱"], cat)
    assert all(g is not None and g[..., 3].max() == 255 for g in again.values())
    assert emoji_objects.render_glyph("A") is None             # not an emoji: refused, not a blank picture


def test_vocabulary_keeps_tiny_shapes_ids_and_covers_every_phrase():
    from image_model_parts import build_tokenizer
    words = es.vocabulary()
    assert words[:len(shapes.vocabulary())] == shapes.vocabulary()
    tok = build_tokenizer(words, 32)
    unk = tok.convert_tokens_to_ids("[UNK]")
    for scene in es.held_out_scenes():
        ids = tok(es.eval_caption(scene)).input_ids
        assert unk not in ids and len(ids) <= 32, es.eval_caption(scene)
    assert unk in tok("a zorblax").input_ids


def test_render_puts_the_object_where_the_scene_says_on_its_background():
    rng = random.Random(3)
    img = es.render(es.Scene(("cat",), "blue", "small", "top left"), rng)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    bg, bg_rgb = emoji_judge.background(img)
    assert bg == "blue"
    ys, xs = np.nonzero(emoji_judge.object_mask(img, bg_rgb))
    assert xs.mean() < 12 and ys.mean() < 12 and xs.max() - xs.min() <= 13
    pair = es.render(es.Scene(("apple", "banana"), "white"), rng)
    left = emoji_judge.look(pair, emoji_judge.background(pair)[1], 0, 16)
    right = emoji_judge.look(pair, emoji_judge.background(pair)[1], 16, 32)
    assert left.box[2] <= 17 and right.box[0] >= 15


def test_captions_name_the_object_background_position_and_pairs_in_order():
    rng = random.Random(5)
    scene = es.Scene(("car",), "green", "large", "bottom right")
    words = es.catalogue()["car"]["words"]
    for _ in range(30):
        text = es.caption(scene, rng)
        assert "green" in text and any(w in text for w in words)
        assert any(p in text for p in shapes.POSITION_PHRASES["bottom right"])
        assert any(s in text.split() for s in shapes.SIZE_WORDS["large"])
    assert es.eval_caption(scene) == "a large car in the bottom right corner on a green background"
    assert es.eval_caption(es.Scene(("apple", "banana"), "blue")) == "an apple and a banana on a blue background"
    pair = es.caption(es.Scene(("apple", "banana"), "blue"), random.Random(1))
    apple, banana = (max(pair.find(w) for w in es.catalogue()[n]["words"]) for n in ("apple", "banana"))
    assert 0 <= apple < banana


def test_training_never_draws_a_held_out_composition(monkeypatch):
    held = es.held_out_scenes()
    assert held == es.held_out_scenes() and len({s.key for s in held}) == 360   # fixed, no repeats
    fresh = es.Scene(("cat",), "red", None, None)
    assert fresh.key not in es.held_out_keys()
    queue = [held[0], held[-1], fresh]
    monkeypatch.setattr(es, "random_scene", lambda rng: queue.pop(0))
    drawn = []
    monkeypatch.setattr(es, "render", lambda scene, rng: drawn.append(scene) or np.zeros((32, 32, 3), np.uint8))
    rng = random.Random(0)
    rng.random = lambda: 0.5                                   # past the shapes share, no caption dropout
    es.training_example(rng)
    assert drawn == [fresh]


def test_training_mixes_shapes_scenes_in():
    rng = random.Random(11)
    caps = [es.training_example(rng, drop=0)[1] for _ in range(200)]
    with_shapes = [c for c in caps if any(s in c.split() for s in shapes.SHAPES)]
    assert 10 <= len(with_shapes) <= 60


@pytest.fixture(scope="module")
def judge():
    return emoji_judge.default_judge()


def test_judge_recognises_clean_held_out_renders(judge):
    rng = random.Random(0)
    verdicts = [(s, judge.judge(es.render(s, rng), s)) for s in es.held_out_scenes()]
    singles = [v for s, v in verdicts if len(s.objects) == 1]
    pairs = [v for s, v in verdicts if len(s.objects) == 2]
    assert sum(v["object"] for v in singles) / len(singles) >= 0.95
    assert all(v["background"] and v["position"] for v in singles)
    assert sum(v["both objects"] for v in pairs) / len(pairs) >= 0.95


def test_judge_can_fail(judge):
    rng = random.Random(1)
    cat = es.render(es.Scene(("cat",), "white", None, "left"), rng)
    assert judge.judge(cat, es.Scene(("cat",), "white", None, "left")) == {
        "background": True, "object": True, "object in top 10": True, "position": True}
    wrong = judge.judge(cat, es.Scene(("dog",), "blue", None, "right"))
    assert (wrong["background"], wrong["object"], wrong["position"]) == (False, False, False)
    seen = emoji_judge.look(cat, emoji_judge.background(cat)[1])
    assert judge.rank(seen, "cat") == 0 < judge.rank(seen, "dog") < judge.rank(seen, "rocket")
    blank = np.full((32, 32, 3), 245, np.uint8)
    assert judge.judge(blank, es.Scene(("cat",), "white", "small", "top")) == {
        "background": True, "object": False, "object in top 10": False, "position": False, "size": False}
    swapped = es.render(es.Scene(("banana", "apple"), "blue"), rng)
    assert judge.judge(swapped, es.Scene(("apple", "banana"), "blue"))["both objects"] is False
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)   # judged at native size
    assert judge.judge(noise, es.Scene(("cat",), "white"))["object"] is False


def test_some_captions_name_no_background_and_their_pictures_are_on_white(monkeypatch):
    """A person's first prompt names no background ("a cat"): such captions are in the training, on white, for the
    emoji scenes and the shapes ones alike (a white shape keeps its named ground)."""
    import random

    import emoji_scenes
    monkeypatch.setattr(emoji_scenes, "UNNAMED_BG_SHARE", 1.0)
    rng = random.Random(3)
    seen = 0
    for share in (0.0, 1.0):
        monkeypatch.setattr(emoji_scenes, "SHAPES_SHARE", share)
        for _ in range(8):
            picture, caption = emoji_scenes.training_example(rng, drop=0.0)
            if share and "white" in caption:
                continue
            assert "background" not in caption and not any(f" on {c}" in caption for c in emoji_scenes.BACKGROUNDS)
            corner = tuple(int(v) for v in picture[0, 0])
            assert all(abs(v - w) <= 12 for v, w in zip(corner, (245, 245, 245))), (caption, corner)
            seen += 1
    assert seen >= 12
    monkeypatch.setattr(emoji_scenes, "UNNAMED_BG_SHARE", 0.0)
    assert all("background" in c or " on " in c
               for c in (emoji_scenes.training_example(rng, drop=0.0)[1] for _ in range(12)))
