"""Issue 22 item 4: a backend is one registration (name, label, its own options dataclass, factory); the
Settings form, the settings file, --set and the command line's choices follow from it; old files migrate."""
import json
from dataclasses import dataclass, fields

import pytest
from PySide6.QtWidgets import QDialog, QLabel

from chatapp import backends
from chatapp.__main__ import parse_args
from chatapp.engines.fake import FakeChatEngine
from chatapp.checks import Number, Text, option
from chatapp.settings import OPTIONS, Settings, load_settings, save_settings, setting_value, with_setting


@dataclass(frozen=True)
class EchoOptions:
    greeting: str = option("hello", Text(max_chars=20), "First words", help="what the echo engine says first")


@dataclass(frozen=True)
class WarmOptions:
    warmth: int = option(3, Number(0, 9), "Warmth", reload=False)
    size: int = option(1, Number(1, 4), "Size")


def _echo(options, _settings, _paths):
    return lambda: FakeChatEngine([f"{options.greeting} there"])


ECHO = backends.Backend("echo", "Echo (a test's backend)", EchoOptions, _echo)


@pytest.fixture
def echo():
    """Registered only by this test, exactly as a plugin would: no other file names it."""
    with backends.CHAT.registered(ECHO.name, ECHO):
        yield ECHO


def test_a_registered_backend_is_in_the_schema_and_the_factory(echo):
    assert OPTIONS["chat.echo.greeting"].max_chars == 20
    assert "echo" in OPTIONS["llm_backend"].allowed()
    settings = backends.choose(Settings(), "chat", "echo", greeting="hi")
    assert backends.chat_backend(settings) is echo
    assert backends.chat_factory(settings)().replies == ["hi there"]
    assert setting_value(settings, "chat.echo.greeting") == "hi"
    assert setting_value(Settings(), "chat.echo.greeting") == "hello"       # its default when never set


def test_a_registered_backend_gets_its_rows_in_the_dialog_and_round_trips_through_the_file(echo, qtbot, tmp_path):
    from chatapp.ui.settings_dialog import SettingsDialog
    dialog = SettingsDialog(backends.choose(Settings(), "chat", "echo", greeting="hi"), config_dir=tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.llm_backend.currentText() == "Echo (a test's backend)"
    edit = dialog.widget("chat.echo.greeting")
    assert edit.text() == "hi" and edit.isVisibleTo(dialog) and edit.toolTip() == "what the echo engine says first"
    labels = [w.text() for w in dialog.findChildren(QLabel) if w.isVisibleTo(dialog)]
    assert "First words" in labels and "Chat model (GGUF)" not in labels    # the local backend's rows are not shown
    edit.setText("good day")
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    path = tmp_path / "settings.json"
    save_settings(dialog.result_settings(), path)
    assert json.loads(path.read_text())["backend_options"]["chat.echo"] == {"greeting": "good day"}
    loaded, note = load_settings(path)
    assert note is None and loaded.llm_backend == "echo"
    assert backends.options_of("chat", echo, loaded) == EchoOptions(greeting="good day")
    dialog.llm_backend.setCurrentIndex(dialog.llm_backend.findData("local"))   # switching shows the local rows
    assert dialog.llm_model.isVisibleTo(dialog) and not edit.isVisibleTo(dialog)


def test_the_file_loader_and_the_dialog_check_a_registered_backends_option(echo, qtbot, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"llm_backend": "echo", "backend_options": {"chat.echo": {"greeting": "x" * 21}}}))
    loaded, note = load_settings(path)
    assert setting_value(loaded, "chat.echo.greeting") == "hello" and "chat.echo.greeting (21 characters" in note
    from chatapp.ui.settings_dialog import SettingsDialog
    dialog = SettingsDialog(loaded)
    qtbot.addWidget(dialog)
    assert dialog.widget("chat.echo.greeting").maxLength() == 20     # the widget keeps to the check too


def test_the_command_line_offers_registered_backends_and_sets_their_options(echo, capsys):
    args = parse_args(["--chat-backend", "echo", "--set", "chat.echo.greeting=hey"])
    assert args.chat_backend == "echo" and args.overrides == [("chat.echo.greeting", "hey")]
    from chatapp.app import apply_backend_args
    settings = apply_backend_args(Settings(), args)
    settings = with_setting(settings, *args.overrides[0])
    assert settings.llm_backend == "echo" and backends.chat_factory(settings)().replies == ["hey there"]
    with pytest.raises(SystemExit):
        parse_args(["--set", "chat.echo.greeting=" + "x" * 21])
    assert "chat.echo.greeting (21 characters, at most 20)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--chat-backend", "nowhere"])
    assert "echo" in capsys.readouterr().err        # argparse lists the registry's names as the choices


def test_an_old_flat_settings_file_loads_into_the_per_backend_shape(tmp_path):
    path = tmp_path / "settings.json"
    old = {"llm_backend": "openai", "llm_remote_url": "http://gpu-box:8000/v1", "llm_remote_model": "qwen",
           "llm_remote_ctx": 8192, "llm_remote_timeout": 90.0, "image_backend": "local",
           "image_remote_url": "http://gpu-box:8080/v1", "image_remote_model": "", "image_remote_timeout": 300.0,
           "n_ctx": 4096, "temperature": 0.5}
    path.write_text(json.dumps(old))
    loaded, note = load_settings(path)
    assert note is None and (loaded.llm_backend, loaded.n_ctx, loaded.temperature) == ("openai", 4096, 0.5)
    chat = backends.options_of("chat", backends.CHAT["openai"], loaded)
    assert (chat.url, chat.model, chat.ctx, chat.timeout) == ("http://gpu-box:8000/v1", "qwen", 8192, 90.0)
    assert backends.options_of("image", backends.IMAGE["openai"], loaded).url == "http://gpu-box:8080/v1"
    engine = backends.chat_factory(loaded)()   # built, not connected
    assert (engine.model, engine.n_ctx, engine.timeout) == ("qwen", 8192, 90.0)
    save_settings(loaded, path)                # saved again in the new shape, and read back the same
    saved = json.loads(path.read_text())
    assert "llm_remote_url" not in saved and saved["backend_options"]["chat.openai"]["ctx"] == 8192
    assert load_settings(path) == (loaded, None)


def test_old_flat_values_out_of_range_fall_back_one_by_one(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"llm_remote_url": "ftp://x/v1", "llm_remote_ctx": 8192}))
    loaded, note = load_settings(path)
    assert setting_value(loaded, "chat.openai.url") == "" and setting_value(loaded, "chat.openai.ctx") == 8192
    assert "chat.openai.url" in note


def test_options_of_a_backend_not_installed_now_survive_a_save(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"backend_options": {"chat.gone": {"anything": [1, 2]}}}))
    loaded, note = load_settings(path)
    assert note is None and loaded.backend_options == {"chat.gone": {"anything": [1, 2]}}
    save_settings(loaded, path)
    assert json.loads(path.read_text())["backend_options"] == {"chat.gone": {"anything": [1, 2]}}


def test_only_options_marked_for_it_reload_the_engine():
    warm = backends.Backend("warm", "Warm", WarmOptions, _echo)
    with backends.CHAT.registered("warm", warm):
        before = backends.choose(Settings(), "chat", "warm")
        assert not backends.chat_needs_reload(before, with_setting(before, "chat.warm.warmth", 7))
        assert backends.chat_needs_reload(before, with_setting(before, "chat.warm.size", 2))
        assert warm.reload_fields() == ("size",)
        assert setting_value(before, "chat.warm.warmth") == 3    # with_setting made a copy; the old one is as it was


def test_the_local_backends_options_are_the_settings_fields_of_the_same_names():
    for kind, registry in backends.KINDS.items():
        backend = registry["local"]
        assert backend.flat
        for f in fields(backend.options):   # same default in both places, so neither can drift
            assert getattr(backend.options(), f.name) == getattr(Settings(), f.name), (kind, f.name)
