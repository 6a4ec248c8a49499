"""Hostile files and paths (issue 15): dropped PNGs, model paths, settings.json, a data folder that is not one."""
import json
import os
import re
import struct
import zlib

import pytest

from chatapp.engines.base import EngineError
from chatapp.engines.gguf_file import check_gguf_file
from chatapp.recipes.a1111 import parse_parameters
from chatapp.recipes.png import read_parameters
from chatapp.settings import Settings, load_settings

from .gui_drops import drop_on_composer, dropped_menu

A1111_PARAM = re.compile(r'\s*([\w ]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')   # AUTOMATIC1111's own


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(tmp_path, *chunks: bytes, width=8, height=8, name="x.png"):
    """A PNG written chunk by chunk, so it can say anything (Pillow would refuse to write some)."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\0" * (1 + 3 * 8) * 8))
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + idat + chunk(b"IEND", b""))
    return path


def recipe_error():
    from chatapp.recipes.png import RecipeError   # imported here so each test fails on its own before the fix
    return RecipeError


RECIPE = "a castle\nSteps: 12, Sampler: Euler a, CFG scale: 6, Seed: 99, Size: 64x64"


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt", "iTXt-compressed"])
def test_recipe_read_from_every_text_chunk_kind(tmp_path, kind):
    body = RECIPE.encode()
    data = {"tEXt": b"parameters\0" + body, "zTXt": b"parameters\0\0" + zlib.compress(body),
            "iTXt": b"parameters\0\0\0\0\0" + body,
            "iTXt-compressed": b"parameters\0\1\0\0\0" + zlib.compress(body)}[kind]
    path = png(tmp_path, chunk(kind[:4].encode(), data))
    assert read_parameters(path) == RECIPE


def test_recipe_after_the_pixels_is_found_without_decoding_them(tmp_path):
    # Pillow decodes every pixel to reach text after IDAT; a 40,000 x 40,000 picture is a bomb.
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 40_000, 40_000, 8, 2, 0, 0, 0))
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IDAT", zlib.compress(b"\0" * 100_000)) +
                     chunk(b"tEXt", b"parameters\0" + RECIPE.encode()) + chunk(b"IEND", b""))
    assert read_parameters(path) == RECIPE


def test_a_ten_megabyte_recipe_is_refused_without_reading_it(tmp_path):
    path = png(tmp_path, chunk(b"tEXt", b"parameters\0" + b"a" * 10_000_000))
    with pytest.raises(recipe_error(), match="too long"):
        read_parameters(path)


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_a_zip_bomb_recipe_is_refused(tmp_path, kind):
    bomb = zlib.compress(b"a" * 200_000_000, 9)       # 200 MB that packs into ~200 KB... and less
    head = b"parameters\0\0" if kind == b"zTXt" else b"parameters\0\1\0\0\0"
    path = png(tmp_path, chunk(kind, head + bomb[:120_000]))
    with pytest.raises(recipe_error(), match="too long"):
        read_parameters(path)


@pytest.mark.parametrize("make", ["fifo", "dev-zero", "folder", "not-png", "missing"])
def test_files_that_are_not_pictures_give_a_reason_and_never_block(tmp_path, make):
    if make == "fifo":
        path = tmp_path / "pipe.png"
        os.mkfifo(path)        # reading it would wait for a writer forever
    elif make == "dev-zero":
        path = "/dev/zero"     # never ends
    elif make == "folder":
        path = tmp_path
    elif make == "not-png":
        path = tmp_path / "fake.png"
        path.write_bytes(b"GIF89a" + b"\0" * 100)
    else:
        path = tmp_path / "gone.png"
    with pytest.raises(recipe_error()):
        read_parameters(path)


def test_settings_line_parser_matches_a1111_and_is_linear():
    from chatapp.recipes.a1111 import MAX_RECIPE_CHARS, _fields
    lines = ["Steps: 28, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 3913211557, "
             "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.9.4",
             'Steps: 20, Lora hashes: "a: 1f2e, b: 3c4d", Time: 12:30, TI: "x \\" y", Seed: 1',
             "junk, more junk: value, Steps: 5,, Seed: 2", "no pairs at all", 'Key: "unclosed, Steps: 3']
    for line in lines:
        assert _fields(line) == [(k, v) for k, v in A1111_PARAM.findall(line)], line
    # A1111's regex retries at every position: 40,000 characters took 30 s. This is one pass.
    hostile = "a" * 1_000_000 + ": x, " + "b" * 1_000_000
    assert [v for _k, v in _fields(hostile)] == ["x"]
    req = parse_parameters("p\n" + "word " * 100_000)
    assert len(req.prompt) <= MAX_RECIPE_CHARS


@pytest.mark.qt_log_ignore("This plugin does not support")   # the offscreen platform and a popup menu
def test_dropping_a_hostile_file_gives_a_notice_and_the_gui_keeps_running(make_app, qtbot, tmp_path):
    parts = make_app()
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    drop_on_composer(parts.window, fifo)    # the real drop path: read on the thread pool, then a menu
    dropped_menu(parts.window, qtbot)
    notices = [n.message.content for n in parts.window.view._notices]
    assert any("pipe.png cannot be used: it is not a regular file" in n for n in notices), notices
    parts.window.picture_drop.menu = None
    good = png(tmp_path, chunk(b"tEXt", b"parameters\0" + RECIPE.encode()), name="good.png")
    drop_on_composer(parts.window, good)
    use = dropped_menu(parts.window, qtbot)[1]
    assert use.text() == "Use its recipe"
    use.trigger()
    assert parts.window.composer.editor.toPlainText().startswith("/image a castle")


# --- model paths -----------------------------------------------------------------------------------
@pytest.mark.parametrize("make, words", [
    ("dev-zero", "not a regular file"), ("fifo", "not a regular file"), ("folder", "is a folder"),
    ("nul", "cannot be used"),
])
def test_chat_model_paths_that_are_not_files(tmp_path, make, words):
    if make == "fifo":
        path = tmp_path / "model.gguf"
        os.mkfifo(path)
    else:
        path = {"dev-zero": "/dev/zero", "folder": str(tmp_path), "nul": "bad\0name.gguf"}[make]
    with pytest.raises(EngineError, match=words):
        check_gguf_file(type(tmp_path)(path) if make != "fifo" else path)


def test_an_unreadable_chat_model_is_explained(tmp_path, monkeypatch):
    model = tmp_path / "locked.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 64)
    real_open = open

    def guarded(path, *a, **k):   # as root, chmod 000 does not stop reading: refuse like the OS would
        if str(path) == str(model):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)
    monkeypatch.setattr("builtins.open", guarded)
    with pytest.raises(EngineError, match="not allowed to read"):
        check_gguf_file(model)


@pytest.mark.parametrize("make, words", [("dev-zero", "not a regular file"), ("fifo", "not a regular file")])
def test_image_model_paths_that_are_not_files(tmp_path, make, words):
    from chatapp.engines.diffusion import check_image_model_path
    path = type(tmp_path)("/dev/zero")
    if make == "fifo":
        path = tmp_path / "model.safetensors"
        os.mkfifo(path)
    with pytest.raises(EngineError, match=words):
        check_image_model_path(path)


# --- settings.json -----------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value", [
    ("n_threads", 100000), ("n_threads", 256), ("n_threads", -3), ("llm_model", None), ("system_prompt", None),
    ("cpu_offload", "false"), ("attention_slicing", 1), ("temperature", "hot"), ("temperature", 99.0),
    ("n_ctx", 1.5), ("n_ctx", True), ("max_tokens", -1), ("image_size", "huge"), ("image_size", 512),
    ("top_k", [40]), ("llm_model", "a\0b"),
])
def test_each_bad_setting_falls_back_on_its_own_with_a_note(tmp_path, field, value):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({field: value, "top_k": 7} if field != "top_k" else {field: value, "seed": 7}))
    loaded, note = load_settings(path)
    assert getattr(loaded, field) == getattr(Settings(), field)
    assert loaded.top_k == 7 or loaded.seed == 7          # the good field next to it is kept
    assert note and field in note


def test_good_values_of_every_kind_are_kept(tmp_path):
    from chatapp.settings import LIMITS
    path = tmp_path / "settings.json"
    good = {"n_threads": LIMITS["n_threads"][1], "cpu_offload": True, "temperature": 1, "n_ctx": 4096.0,
            "image_size": "512x768", "llm_model": "/m.gguf"}
    path.write_text(json.dumps(good))
    loaded, note = load_settings(path)
    assert note is None
    assert (loaded.n_threads, loaded.cpu_offload, loaded.temperature, loaded.n_ctx, loaded.image_size) == \
        (LIMITS["n_threads"][1], True, 1.0, 4096, "512x768")
    assert isinstance(loaded.temperature, float) and isinstance(loaded.n_ctx, int)


def test_a_new_settings_field_is_checked_with_no_extra_line(tmp_path, monkeypatch):
    """Other features add fields: the type check comes from the annotation alone."""
    import dataclasses

    from chatapp import settings as S
    extended = dataclasses.make_dataclass("Settings", [("theme", "str", dataclasses.field(default="light")),
                                                       ("port", "int", dataclasses.field(default=8080))],
                                          bases=(S.Settings,))
    monkeypatch.setattr(S, "Settings", extended)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"theme": None, "port": "80"}))
    loaded, note = S.load_settings(path)
    assert (loaded.theme, loaded.port) == ("light", 8080) and "theme" in note and "port" in note
