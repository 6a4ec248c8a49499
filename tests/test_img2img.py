"""Editing pictures on the embedded tiny-shapes model (real diffusers, fixed seeds): img2img, inpainting
with a 4-channel UNet (latent blending) and a 9-channel inpainting UNet, the PNG recipe, bad files."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw

from chatapp.conversation import ImageRequest
from chatapp.engines.base import EngineError
from chatapp.engines.defaults import SHAPES_IMAGE_MODEL
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.recipes.a1111 import parse_parameters
from chatapp.recipes.png import read_parameters, save_png

BLUE, RED = (40, 70, 215), (220, 40, 30)


@pytest.fixture(scope="module")
def engine():
    e = DiffusionImageEngine(SHAPES_IMAGE_MODEL)
    e.load()
    return e


@pytest.fixture
def red_circle(tmp_path):
    """A red circle on a blue background, 32x32, drawn with PIL: any picture file can be edited."""
    picture = Image.new("RGB", (32, 32), BLUE)
    ImageDraw.Draw(picture).ellipse([9, 9, 22, 22], fill=RED)
    path = tmp_path / "circle.png"
    picture.save(path)
    return path


def corner_mask(tmp_path, size=(32, 32), box=(0, 0, 13, 13)):
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    path = tmp_path / "mask.png"
    mask.save(path)
    return path


def pixels(image):
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def steps_seen(events):
    return [(e.step, e.total) for e in events if e.phase == "step"]


def test_strength_zero_returns_the_source_exactly(engine, red_circle):
    events = []
    out = engine.generate(ImageRequest(prompt="a green circle", seed=1, init=str(red_circle), strength=0.0),
                          events.append, lambda: False)[0]
    assert np.array_equal(pixels(out.image), pixels(Image.open(red_circle)))
    assert steps_seen(events) == [] and events[-1].phase == "done"


def test_red_circle_turns_green_and_progress_counts_the_steps_run(engine, red_circle):
    events = []
    out = engine.generate(ImageRequest(prompt="a green circle on a blue background", steps=20, seed=2,
                                       init=str(red_circle), strength=0.8), events.append, lambda: False)[0]
    # img2img runs int(steps * strength) steps: the total says so from the first event on.
    assert steps_seen(events) == [(i, 16) for i in range(1, 17)]
    centre = pixels(out.image)[12:20, 12:20].reshape(-1, 3).mean(0)
    assert centre[1] > centre[0] + 60, centre          # green now, no longer red
    edge = pixels(out.image)[:4].reshape(-1, 3).mean(0)
    assert edge[2] > edge[0] + 80 and edge[2] > edge[1] + 50, edge   # background still blue
    assert (out.request.init, out.request.strength, out.request.width) == (str(red_circle), 0.8, 32)


def test_inpainting_paints_a_square_in_a_corner_and_leaves_the_rest(engine, red_circle, tmp_path):
    mask = corner_mask(tmp_path)
    events = []
    out = engine.generate(ImageRequest(prompt="small yellow square top left", seed=3, init=str(red_circle),
                                       mask=str(mask), strength=1.0), events.append, lambda: False)[0]
    after, before = pixels(out.image), pixels(Image.open(red_circle))
    inside = np.asarray(Image.open(mask)) > 0
    assert np.abs(after - before)[~inside].max() <= 2     # measured: 0 (pasted back, feathered inward)
    corner = after[inside].mean(0)
    assert corner[0] > 110 and corner[1] > 110 and corner[2] < 150, corner   # yellow where it was blue
    assert steps_seen(events)[-1] == (20, 20)


def test_size_flag_and_oversized_sources_are_scaled_to_fit(engine, tmp_path):
    big = tmp_path / "big.jpg"
    Image.new("RGB", (300, 150), BLUE).save(big)
    out = engine.generate(ImageRequest(prompt="a red circle", steps=2, seed=1, init=str(big), strength=0.5),
                          lambda e: None, lambda: False)[0]
    assert out.image.size == (64, 32)                         # within tiny-shapes' largest side, aspect kept
    out = engine.generate(ImageRequest(prompt="a red circle", steps=2, seed=1, init=str(big), strength=0.5,
                                       width=32, height=32), lambda e: None, lambda: False)[0]
    assert out.image.size == (32, 32)


def test_recipe_records_denoising_strength_and_the_mask(engine, red_circle, tmp_path):
    out = engine.generate(ImageRequest(prompt="a red square", steps=4, seed=4, init=str(red_circle), strength=0.6,
                                       mask=str(corner_mask(tmp_path))), lambda e: None, lambda: False)[0]
    saved = save_png(out, tmp_path / "out", "tiny-shapes")
    text = read_parameters(saved.path)
    assert "Denoising strength: 0.6" in text and "Mask blur: 1" in text
    assert parse_parameters(text).strength == 0.6


@pytest.mark.parametrize("case", ["not_a_picture", "mask_size", "missing"])
def test_bad_files_fail_before_any_step(engine, red_circle, tmp_path, case):
    req = ImageRequest(prompt="a red circle", steps=4, seed=1, init=str(red_circle), strength=0.5)
    if case == "not_a_picture":
        junk = tmp_path / "notes.png"
        junk.write_text("just text")
        req.init, expected = str(junk), "not a picture"
    elif case == "mask_size":
        req.mask, expected = str(corner_mask(tmp_path, size=(64, 64))), "same size"
    else:
        req.init, expected = str(tmp_path / "gone.png"), "cannot be opened"
    events = []
    with pytest.raises(EngineError, match=expected):
        engine.generate(req, events.append, lambda: False)
    assert events == []


@pytest.fixture(scope="module")
def nine_channel_folder(tmp_path_factory):
    """tiny-shapes with a random-weight 9-channel UNet (the layout of dedicated inpainting checkpoints)."""
    import torch
    from diffusers import UNet2DConditionModel
    folder = tmp_path_factory.mktemp("inpaint") / "tiny-inpaint"
    shutil.copytree(SHAPES_IMAGE_MODEL, folder)
    config = json.loads((folder / "unet" / "config.json").read_text())
    config["in_channels"] = 9
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(config)
    shutil.rmtree(folder / "unet")
    unet.save_pretrained(folder / "unet", safe_serialization=True)
    return folder


def test_nine_channel_inpainting_unet(nine_channel_folder, red_circle, tmp_path):
    engine = DiffusionImageEngine(nine_channel_folder)
    engine.load()
    assert engine.pipe.unet.config.in_channels == 9
    mask = corner_mask(tmp_path)
    events = []
    out = engine.generate(ImageRequest(prompt="a yellow square", steps=6, seed=5, init=str(red_circle), mask=str(mask),
                                       strength=1.0), events.append, lambda: False)[0]
    after, before = pixels(out.image), pixels(Image.open(red_circle))
    inside = np.asarray(Image.open(mask)) > 0
    assert out.image.size == (32, 32) and steps_seen(events) == [(i, 6) for i in range(1, 7)]
    assert np.abs(after - before)[~inside].max() <= 2
    assert np.abs(after - before)[inside].mean() > 5      # random weights: the corner is repainted (noise)


def test_an_inpainting_checkpoint_also_draws_new_pictures_and_edits_without_a_mask(nine_channel_folder, red_circle):
    """A1111's way: a plain /image on a 9-channel model paints a blank canvas with all of it masked."""
    engine = DiffusionImageEngine(nine_channel_folder)
    engine.load()
    events = []
    new = engine.generate(ImageRequest(prompt="a red circle", steps=4, seed=3, width=40, height=32), events.append,
                          lambda: False)[0]
    assert new.image.size == (40, 32) and steps_seen(events) == [(i, 4) for i in range(1, 5)]
    assert new.request.init is None            # the recipe stays a plain text-to-image one
    edited = engine.generate(ImageRequest(prompt="a red circle", steps=4, seed=3, init=str(red_circle), strength=0.5),
                             lambda e: None, lambda: False)[0]
    assert edited.image.size == (32, 32)


def test_file_checks_refuse_fifos_and_huge_headers_without_decoding(tmp_path):
    import os
    import struct
    import zlib

    from chatapp.engines.img2img import check_files
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(EngineError, match="not a regular file"):
        check_files(str(fifo), None)          # would block forever if it were opened
    small = tmp_path / "small.png"
    Image.new("RGB", (1, 1)).save(small)
    for side in (5000, 40000):   # over chatapp's limit; over PIL's own bomb limit too
        data = bytearray(small.read_bytes())
        ihdr = struct.pack(">II", side, side) + bytes(data[24:29])   # the header claims side x side
        data[16:29] = ihdr
        data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
        huge = tmp_path / f"huge{side}.png"
        huge.write_bytes(bytes(data))
        with pytest.raises(EngineError, match="too large to edit"):
            check_files(str(huge), None)


def test_edit_flags_parse_and_round_trip():
    import os

    from chatapp.commands import CommandError, parse_input
    req = parse_input("/image a green circle --init LAST")
    assert (req.init, req.strength, req.mask) == ("last", 0.75, None)
    req = parse_input("/image a green circle --init '~/my pics/a.png' --mask ~/m.png --strength 0.3")
    assert req.init == os.path.expanduser("~/my pics/a.png") and req.mask == os.path.expanduser("~/m.png")
    again = parse_input(req.command())
    assert (again.prompt, again.init, again.mask, again.strength) == ("a green circle", req.init, req.mask, 0.3)
    for bad, words in (("--init #x", "not a picture number"), ("--init #1 --strength -0.1", "between 0 and 1"),
                       ("--mask m.png", "need a picture to edit"), ("--init #1 --strength nan", "between 0 and 1")):
        with pytest.raises(CommandError, match=words):
            parse_input(f"/image a circle {bad}")


def test_previews_and_cancel_work_on_edits_too(engine, red_circle, tmp_path):
    events = []
    engine.generate(ImageRequest(prompt="a green circle", steps=10, seed=1, init=str(red_circle), strength=0.8,
                                 mask=str(corner_mask(tmp_path))), events.append, lambda: False)
    assert [e.step for e in events if e.phase == "step" and e.preview is not None] == [3, 6]
    seen = []
    out = engine.generate(ImageRequest(prompt="a green circle", steps=20, seed=1, init=str(red_circle), strength=0.8),
                          lambda e: seen.append(e.step) if e.phase == "step" else None, lambda: len(seen) >= 2)
    assert out == [] and seen == [1, 2]
