"""Issue 28 item 2: every setting has its range in one place (settings.OPTIONS), and the settings file, the
Settings dialog and the command line all keep to it; thread counts stop at the cores this process may use."""
import json
from dataclasses import fields

import pytest
from PySide6.QtWidgets import QDialog

from chatapp.__main__ import parse_args
from chatapp.engines import torch_runtime as rt
from chatapp.engines.cpu import cores
from chatapp.settings import OPTIONS, Number, Settings, Text, check_setting, load_settings, setting_value


def test_every_field_has_an_option():
    from chatapp import backends
    nested = {name for name, _cls, _f in backends.option_fields()}
    assert "chat.openai.url" in nested and "n_ctx" in nested      # a server's option, a local one (a Settings field)
    assert set(OPTIONS) == ({f.name for f in fields(Settings)} - {"backend_options"}) | nested


def test_the_schema_names_what_the_app_really_offers():
    from chatapp import backends
    from chatapp.ui.style import THEMES
    assert OPTIONS["theme"].allowed() == THEMES
    assert OPTIONS["image_precision"].allowed() == rt.PRECISIONS
    assert OPTIONS["llm_backend"].allowed() == tuple(backends.CHAT)
    assert OPTIONS["image_backend"].allowed() == tuple(backends.IMAGE)
    assert OPTIONS["image_threads"].bounds() == OPTIONS["n_threads"].bounds() == (0, cores())


# The values first (256 and 100000 image threads), then the other fields it named, then more.
BAD = [("image_threads", 256), ("image_threads", 100_000), ("image_threads", -1),
       ("image_idle_unload_min", -5), ("image_idle_unload_min", 10**9), ("chat.openai.ctx", 0),
       ("chat.openai.ctx", 10**12), ("chat.openai.timeout", 0.0), ("chat.openai.timeout", 1e9),
       ("image.openai.timeout", -1), ("theme", "blue"), ("image_precision", "float16"),
       ("llm_backend", "magic"), ("image_backend", ""), ("chat.openai.url", "ftp://gpu-box/v1"),
       ("image.openai.url", "gpu-box:8000"), ("image_size", "0x512"), ("chat.openai.model", "m" * 5000),
       ("n_threads", cores() + 1), ("llm_model", "/x" * 3000)]


@pytest.mark.parametrize("field, value", BAD)
def test_the_settings_file_refuses_values_out_of_range(tmp_path, field, value):
    path = tmp_path / "settings.json"
    kind, _, option = field.rpartition(".")
    path.write_text(json.dumps({"backend_options": {kind: {option: value}}, "top_k": 7} if kind else
                               {field: value, "top_k": 7}))
    loaded, note = load_settings(path)
    assert setting_value(loaded, field) == setting_value(Settings(), field)      # the default instead
    assert loaded.top_k == 7                                         # the good field beside it stays
    assert note and field in note


GOOD = [("image_threads", 0), ("image_threads", cores()), ("theme", "dark"), ("image_precision", "bfloat16"),
        ("chat.openai.url", "HTTPS://box:8/v1"), ("chat.openai.url", ""), ("image_idle_unload_min", 0),
        ("chat.openai.ctx", 8192)]


@pytest.mark.parametrize("field, value", GOOD)
def test_values_in_range_are_kept(field, value):
    assert check_setting(field, value) == (value, None)


def test_the_dialog_offers_no_more_threads_than_this_process_has_cores(qtbot):
    from chatapp.ui.settings_dialog import SettingsDialog
    dlg = SettingsDialog(Settings(image_threads=0))
    qtbot.addWidget(dlg)
    # Today's dialog offered 256 image threads on any machine.
    assert dlg.image_threads.maximum() == dlg.n_threads.maximum() == cores()
    dlg.image_threads.setValue(256)
    assert dlg.result_settings().image_threads == cores()


SPINS = {"temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens", "seed", "n_ctx", "n_threads",
         "n_gpu_layers", "image_steps", "image_cfg", "image_threads", "image_idle_unload_min", "chat.openai.ctx",
         "chat.openai.timeout", "image.openai.timeout"}


def test_every_spin_box_and_combo_reads_its_range_from_the_schema(qtbot):
    from chatapp.ui.settings_dialog import SettingsDialog
    dlg = SettingsDialog(Settings())
    qtbot.addWidget(dlg)
    numbers = {name for name, o in OPTIONS.items() if isinstance(o, Number)}
    assert SPINS == numbers        # a new number field needs its spin box here
    for name in SPINS:
        box = dlg.widget(name)
        assert (box.minimum(), box.maximum()) == pytest.approx(OPTIONS[name].bounds()), name
    for name in ("theme", "image_precision"):
        combo = dlg.widget(name)
        assert tuple(combo.itemData(i) for i in range(combo.count())) == OPTIONS[name].allowed()


def test_an_older_looser_value_shows_as_the_nearest_allowed(qtbot):
    from chatapp.ui.settings_dialog import SettingsDialog
    dlg = SettingsDialog(Settings(image_threads=100_000, image_precision="bfloat16", theme="dark"))
    qtbot.addWidget(dlg)
    chosen = dlg.result_settings()
    assert (chosen.image_threads, chosen.image_precision, chosen.theme) == (cores(), "bfloat16", "dark")


@pytest.mark.parametrize("url", ["ftp://gpu-box/v1", "gpu-box:8000/v1"])
def test_the_dialog_refuses_a_server_url_that_is_not_one_and_stays_open(qtbot, url):
    from chatapp.ui.settings_dialog import SettingsDialog
    dlg = SettingsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.widget("chat.openai.url").setText(url)
    dlg.accept()
    assert dlg.result() != QDialog.DialogCode.Accepted
    assert not dlg.problem.isHidden() and "chat.openai.url" in dlg.problem.text()
    assert dlg.widget("chat.openai.url").text() == url                 # what was typed stays, to be corrected
    dlg.widget("chat.openai.url").setText("http://gpu-box:8000/v1")
    dlg.accept()
    assert dlg.result() == QDialog.DialogCode.Accepted


@pytest.mark.parametrize("argv, words", [
    (["--llm-url", "ftp://gpu-box/v1"], "not an http(s) address"),
    (["--image-url", "gpu-box:8000"], "not an http(s) address"),
    (["--set", "image_threads=256"], "image_threads (256 is outside 0–"),
    (["--set", "theme=blue"], "is not one of system, light, dark"),
    (["--set", "image_idle_unload_min=-1"], "outside 0–1440"),
    (["--set", "no_such_setting=1"], "no setting called"),
    (["--set", "vae_tiling=perhaps"], "is not bool"),
])
def test_the_command_line_checks_flags_with_the_same_schema(capsys, argv, words):
    with pytest.raises(SystemExit) as stop:
        parse_args(argv)
    assert stop.value.code == 2 and words in capsys.readouterr().err


def test_the_command_line_takes_good_settings_for_this_run():
    args = parse_args(["--set", f"image_threads={cores()}", "--set", "theme=dark", "--set", "vae-tiling=on",
                       "--llm-url", "http://gpu-box:8000/v1"])
    assert args.overrides == [("image_threads", cores()), ("theme", "dark"), ("vae_tiling", True)]
    assert args.llm_url == "http://gpu-box:8000/v1"


def test_the_engine_never_takes_more_threads_than_cores():
    """Defence in depth: a caller that skips the schema (serve, an old file) is capped too."""
    assert rt.image_threads(256, False) == rt.image_threads(100_000, True) == cores()
    assert rt.image_threads(1, False) == 1


def test_text_patterns_see_only_bounded_text():
    """The length is checked before any pattern runs, so a hostile value costs nothing to refuse."""
    long = "http://" + "a" * 1_000_000
    assert "at most" in Text(OPTIONS["chat.openai.url"].pattern, max_chars=4096).problem(long)
