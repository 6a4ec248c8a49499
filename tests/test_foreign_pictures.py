"""Pictures other tools wrote (issue 25): real files from A1111, ComfyUI, Fooocus, InvokeAI and NovelAI (tests/data/pictures),
and SwarmUI, RuinedFooocus and Forge layouts, each read into the recipe it holds, said where something did not carry over."""
import json
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from chatapp.commands import CommandError, parse_input
from chatapp.conversation import ImageRequest
from chatapp.recipes.a1111 import format_parameters, parse_parameters
from chatapp.recipes.png import EmptyFile, NoRecipe, RecipeError, read_recipe

from .gui_drops import drop_on_composer, dropped_menu

PICTURES = Path(__file__).parent / "data" / "pictures"
NOVELAI_NEGATIVE = "lowres, bad anatomy, bad hands, text, error, missing fingers"

# file: (tool, prompt start, negative start, steps, cfg, seed, scheduler, size, words in its notes)
REAL = {
    "automatic1111_cropped.png": ("AUTOMATIC1111", "photo of a duck", "monochrome", 15, 5.0, 235284042, "unipc",
                                  (512, 400), []),
    "automatic1111_cropped.jpg": ("AUTOMATIC1111", "photo of a duck", "monochrome", 15, 5.0, 235284042, "unipc",
                                  (512, 400), []),
    "text_after_idat.png": ("AUTOMATIC1111", "photo of a duck", "monochrome", 15, 5.0, 235284042, "unipc",
                            (512, 400), []),
    "fooocus1_cropped.png": ("Fooocus", "a smiling goldfish", "", 30, 4.0, 6952411511246973023, "dpm++2m-karras",
                             (768, 1280), ["'dpmpp_2m_sde_gpu' is not here", "Fooocus styles"]),
    "img2img_cropped.png": ("ComfyUI", "photograph of victorian woman with wings", "watermark, text", 20, 8.0,
                            280823642470253, "dpm++2m", (None, None), ["redrew another picture (0.87"]),
    "unclip_2pass_cropped.png": ("ComfyUI", "(waifu, anime, exceptional", "lowres, (bad anatomy)", 26, 8.0,
                                 1106257833005336, "unipc", (1280, 704), ["2 samplers"]),
    "night_evening_day_morning_cropped.png": ("ComfyUI", "(best quality) (daytime:1.2) sky (blue), (best quality) "
                                              "(night:1.3)", "(hands), text, error", 13, 8.5, 335608130539327,
                                              "dpm++2m", (704, 1280), ["2 samplers", "combines 5 prompts",
                                                                        "'dpmpp_sde' is not here"]),
    "noisy_latents_3_subjects_cropped.png": ("ComfyUI", "girl (flat chest:0.9)", "(hands), text", 9, 5.5,
                                             1084614416978598, "dpm++2m", (256, 512),
                                             ["6 samplers", "'dpmpp_sde' is not here", "redrew another picture (0.54"]),
    "invokeai_dream1.png": ("InvokeAI", "professional full body photo of young woman", "rendering, glowing eyes",
                            50, 5.0, 2980747362, "lms", (512, 768), []),
    "invokeai_sdmeta1.png": ("InvokeAI", "professional full body photo of young woman", "rendering, glowing eyes",
                             50, 5.0, 2980747362, "lms", (512, 768), []),
    "invokeai_imeta1.png": ("InvokeAI", "digital artwork, oil painting.", "grainy+, photo", 35, 8.0, 3293022630,
                            "euler", (1024, 1024), []),
    "novelai1_cropped.png": ("NovelAI", "masterpiece, best quality,  cat, space, icon", NOVELAI_NEGATIVE, 50, 10.0,
                             2253955223, "euler-a", (None, None), []),
}


@pytest.mark.parametrize("name", REAL)
def test_real_pictures_give_their_recipe_and_it_survives_send(name):
    tool, prompt, negative, steps, cfg, seed, scheduler, size, notes = REAL[name]
    recipe = read_recipe(PICTURES / name)
    req = recipe.request
    assert recipe.tool == tool
    assert req.prompt.startswith(prompt) and req.negative.startswith(negative)
    assert (req.steps, req.cfg, req.seed, req.scheduler, (req.width, req.height)) == (steps, cfg, seed, scheduler, size)
    for words in notes:
        assert any(words in n for n in recipe.notes), recipe.notes
    assert len(recipe.notes) == len(notes), recipe.notes
    # The command "Use its recipe" writes is accepted on send (64-bit seeds included) and reads back the same.
    assert parse_input(recipe.command()) == req


@pytest.mark.parametrize("name, error, words", [
    ("empty_file.png", EmptyFile, "it is empty (0 bytes)"),
    ("empty_image.png", NoRecipe, "has no generation parameters in it."),
    ("empty_image.jpg", NoRecipe, "has no generation parameters in it."),
    ("automatic1111_stealth.png", NoRecipe, "has no generation parameters"),   # in its pixels: never decoded
])
def test_pictures_without_a_recipe_say_why(name, error, words):
    with pytest.raises(error, match=re.escape(words)):
        read_recipe(PICTURES / name)


def png_with(tmp_path, name, **texts) -> Path:
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    path = tmp_path / name
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


SWARM = {"sui_image_params": {"prompt": "a lighthouse at dawn", "negativeprompt": "fog", "model": "sdxl_base",
                              "seed": 18446744073709551615, "steps": 24, "cfgscale": 6.5, "width": 832, "height": 1216,
                              "sampler": "euler_ancestral", "scheduler": "karras", "swarm_version": "0.9.5.2",
                              "loras": ["Styles/ink-wash.safetensors"], "loraweights": ["0.7"]},
         "sui_extra_data": {"date": "2025-01-02", "generation_time": "1.2 s"}}


def test_swarmui_json_is_its_recipe_not_the_prompt(tmp_path):
    """Issue: SwarmUI's JSON went whole into the prompt, was drawn, and titled the chat."""
    recipe = read_recipe(png_with(tmp_path, "swarm.png", parameters=json.dumps(SWARM)))
    req = recipe.request
    assert recipe.tool == "SwarmUI"
    assert (req.prompt, req.negative, req.steps, req.cfg, req.width, req.height) == \
        ("a lighthouse at dawn", "fog", 24, 6.5, 832, 1216)
    assert req.seed == 2**64 - 1 and req.scheduler == "euler-a" and req.loras == [("ink-wash", 0.7)]
    assert any("'karras' noise schedule has no match for euler-a" in n for n in recipe.notes)
    assert parse_input(recipe.command()) == req


def exif_jpeg(tmp_path, comment: bytes, name="swarm.jpg", size=(8, 8)) -> Path:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = comment
    path = tmp_path / name
    Image.new("RGB", size).save(path, exif=exif.tobytes())
    return path


def test_swarmui_jpeg_and_a1111_jpeg_read_from_exif(tmp_path):
    recipe = read_recipe(exif_jpeg(tmp_path, b"UNICODE\0" + json.dumps(SWARM).encode("utf-16-be")))
    assert recipe.tool == "SwarmUI" and recipe.request.prompt == "a lighthouse at dawn"
    text = "un café, ünïcödé\nSteps: 7, Sampler: Euler, CFG scale: 3, Seed: 9, Size: 64x64"
    recipe = read_recipe(exif_jpeg(tmp_path, b"UNICODE\0" + text.encode("utf-16-le"), "le.jpg"))
    assert (recipe.request.prompt, recipe.request.steps) == ("un café, ünïcödé", 7)


def test_a_jpeg_recipe_is_read_without_decoding_its_pixels(tmp_path):
    """A JPEG header claiming 60,000 x 60,000 pixels: Pillow's open would refuse it as a bomb; the recipe is found."""
    path = exif_jpeg(tmp_path, b"ASCII\0\0\0a castle\nSteps: 3, Sampler: DDIM, CFG scale: 2, Seed: 1", "big.jpg")
    data = bytearray(path.read_bytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    path.write_bytes(bytes(data))
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    assert read_recipe(path).request.prompt == "a castle"


def test_ruinedfooocus_json_is_read(tmp_path):
    data = {"Prompt": "a red fox in snow", "Negative": "blurry", "steps": 30, "cfg": 7.0, "width": 1152,
            "height": 896, "seed": 5000000000, "sampler_name": "dpmpp_2m", "scheduler": "karras",
            "base_model_name": "sd_xl_base_1.0.safetensors", "loras": [], "software": "RuinedFooocus"}
    recipe = read_recipe(png_with(tmp_path, "rf.png", parameters=json.dumps(data)))
    req = recipe.request
    assert recipe.tool == "RuinedFooocus" and recipe.notes == []
    assert (req.prompt, req.negative, req.steps, req.cfg, req.seed, req.scheduler, req.width, req.height) == \
        ("a red fox in snow", "blurry", 30, 7.0, 5000000000, "dpm++2m-karras", 1152, 896)


def test_recipe_chunks_chatapp_does_not_know_are_named(tmp_path):
    with pytest.raises(NoRecipe, match=r"that chatapp knows \(it has Software\)"):
        read_recipe(png_with(tmp_path, "sw.png", Software="Some Painter 3"))


def test_unknown_json_is_refused_not_drawn(tmp_path):
    with pytest.raises(RecipeError, match="JSON in a layout chatapp does not know"):
        read_recipe(png_with(tmp_path, "odd.png", parameters='{"what": "a cat"}'))
    with pytest.raises(RecipeError, match="looks like JSON but is damaged"):
        read_recipe(png_with(tmp_path, "bad.png", parameters='{"sui_image_params": {'))


def test_forge_schedule_type_and_a1111_spellings(tmp_path):
    """Forge/SD.Next write the schedule apart; others write "CFG Scale"; A1111 writes UTF-8 into tEXt; some
    write Windows line ends. Each used to lose a field or garble the prompt."""
    forge = ("a café at night, ünïcödé ☕\r\nNegative prompt: rain\r\nSteps: 28, Sampler: DPM++ 2M, Schedule type: "
             "Karras, CFG Scale: 4.5, Seed: 42, Size: 896x1152, Model: juggernaut, Version: f2.0.1v1.10.1")
    path = tmp_path / "forge.png"
    raw = b"parameters\0" + forge.encode("utf-8")   # tEXt, as A1111 and Forge write it: UTF-8 bytes
    body = Path(PICTURES / "empty_image.png").read_bytes()
    end = body.rfind(b"IEND") - 4
    path.write_bytes(body[:end] + struct.pack(">I", len(raw)) + b"tEXt" + raw +
                     struct.pack(">I", zlib.crc32(b"tEXt" + raw)) + body[end:])
    recipe = read_recipe(path)
    req = recipe.request
    assert req.prompt == "a café at night, ünïcödé ☕" and req.negative == "rain"
    assert (req.cfg, req.scheduler, req.steps, req.seed) == (4.5, "dpm++2m-karras", 28, 42)
    assert recipe.notes == []
    # Written back under A1111's name, which keeps the schedule.
    assert "Sampler: DPM++ 2M Karras," in format_parameters(req)
    assert parse_parameters(format_parameters(req)).scheduler == "dpm++2m-karras"


@pytest.mark.parametrize("sampler, schedule, flag, note", [
    ("euler_ancestral_karras", "", "euler-a", "'karras' noise schedule has no match for euler-a"),
    ("DPM++ 2M Karras", "", "dpm++2m-karras", ""),
    ("DPM++ 2M", "Exponential", "dpm++2m-exponential", ""),
    ("dpmpp_2m", "karras", "dpm++2m-karras", ""),
    ("euler", "exponential", "euler-exponential", ""),
    ("DPM++ 2M SDE Karras", "", "dpm++2m-karras", "'DPM++ 2M SDE Karras' is not here"),
    ("Restart", "", None, "'Restart' is not here, so the model's default is used"),
])
def test_samplers_keep_their_schedule_or_say_so(sampler, schedule, flag, note):
    from chatapp.recipes.samplers import sampler_match
    got, said = sampler_match(sampler, schedule)
    assert got == flag and (note in said if note else said == "")


def test_64_bit_seeds_are_accepted_and_beyond_refused():
    assert parse_input("/image a cat --seed 18446744073709551615").seed == 2**64 - 1
    with pytest.raises(CommandError, match="between 0 and 18446744073709551615"):
        parse_input("/image a cat --seed 18446744073709551616")
    recipe = parse_parameters("a cat\nSteps: 5, Sampler: Euler, Seed: -1, Size: 8x8", notes=(notes := []))
    assert recipe.seed is None and "its seed -1 is outside" in notes[0]


def test_hostile_graphs_are_bounded(tmp_path):
    long_prompt = {"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "x" * 5000}}}
    graph = {"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 3, "sampler_name": "euler",
                                                        "scheduler": "normal", "positive": ["1", 0],
                                                        "negative": ["1", 0], "denoise": 1}}, **long_prompt}
    workflow = {"links": [[1, 1, 0, 3, 0, "CONDITIONING"], [2, 1, 0, 3, 1, "CONDITIONING"]]}
    with pytest.raises(RecipeError, match="5,000 characters long"):
        read_recipe(png_with(tmp_path, "long.png", prompt=json.dumps(graph), workflow=json.dumps(workflow)))
    huge = {str(i): {"class_type": "Note", "inputs": {}} for i in range(3000)}
    with pytest.raises(RecipeError, match="not one chatapp can read"):
        read_recipe(png_with(tmp_path, "huge.png", prompt=json.dumps(huge), workflow="{}"))
    # sd-parsers walks the graph once per sampler (300 chained samplers took 1.2 s, 2,000 took 2 minutes)
    chain = {str(i): {"class_type": "KSampler", "inputs": {"steps": 1, "latent_image": [str(i - 1), 0]}}
             for i in range(1, 300)}
    links = [[i, i - 1, 0, i, 0, "LATENT"] for i in range(2, 300)]
    with pytest.raises(RecipeError, match=r"too large to read here \(299 nodes, 299 samplers\)"):
        read_recipe(png_with(tmp_path, "chain.png", prompt=json.dumps(chain), workflow=json.dumps({"links": links})))
    # InvokeAI 2's Dream line: its reader's patterns backtrack on long runs of quotes or spaces (32,000: 2-5 s)
    dream = read_recipe(png_with(tmp_path, "dream.png", Dream='"a cat' + " " * 5000 + 'on a mat [blurry]" -s 9 -S 4 -A k_euler'))
    req = dream.request
    assert (req.prompt, req.negative, req.steps, req.seed, req.scheduler) == ("a cat on a mat", "blurry", 9, 4, "euler")
    with pytest.raises(RecipeError, match="damaged"):   # nested past Python's stack: a message, not a crash
        read_recipe(png_with(tmp_path, "deep.png", prompt="[" * 100_000, workflow="{}"))
    with pytest.raises(RecipeError, match="damaged"):
        read_recipe(png_with(tmp_path, "deep2.png", parameters="{" + '"a":[' * 20_000))
    with pytest.raises(RecipeError, match="too long to be real"):
        read_recipe(png_with(tmp_path, "big.png", prompt="{" + " " * 3_000_000 + "}", workflow="{}"))


@pytest.mark.qt_log_ignore("This plugin does not support")   # the offscreen platform and a popup menu
def test_drop_menu_uses_a_comfyui_recipe_and_says_what_was_left(make_app, qtbot):
    parts = make_app()
    drop_on_composer(parts.window, PICTURES / "unclip_2pass_cropped.png")
    ask, use, edit = dropped_menu(parts.window, qtbot)
    assert (ask.text(), use.text(), edit.text()) == ("Ask about this picture", "Use its recipe", "Edit this picture")
    use.trigger()
    command = parts.window.composer.editor.toPlainText()
    assert command.startswith("/image (waifu, anime") and "--seed 1106257833005336" in command
    assert isinstance(parse_input(command), ImageRequest)
    notices = [n.message.content for n in parts.window.view._notices]
    assert any("unclip_2pass_cropped.png: a ComfyUI recipe; its graph has 2 samplers" in n for n in notices), notices


@pytest.mark.qt_log_ignore("This plugin does not support")
def test_drop_menu_on_an_empty_file_offers_nothing_and_says_why(make_app, qtbot, tmp_path):
    parts = make_app()
    drop_on_composer(parts.window, PICTURES / "empty_file.png")
    qtbot.waitUntil(lambda: any("empty_file.png cannot be used: it is empty (0 bytes)" in n.message.content
                                for n in parts.window.view._notices), timeout=30000)
    assert parts.window.picture_drop.menu is None   # no "Edit this picture" for a file with no picture
    drop_on_composer(parts.window, PICTURES / "empty_image.png")   # a picture without a recipe: asked about, editable
    assert [a.text() for a in dropped_menu(parts.window, qtbot)] == ["Ask about this picture", "Edit this picture"]
    notices = [n.message.content for n in parts.window.view._notices]   # most pictures have no recipe: not said
    assert not any("empty_image.png" in n for n in notices), notices
    parts.window.picture_drop.menu.close()


def test_text_chunks_in_latin_1_stay_latin_1():
    """tEXt is Latin-1 by the spec: bytes that are not UTF-8 (0xE9 alone) are read as Latin-1, not replaced."""
    from chatapp.recipes.png import decode_text
    assert decode_text("café".encode("latin-1")) == "café"
    assert decode_text("café ☕".encode("utf-8")) == "café ☕"
