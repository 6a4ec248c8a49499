"""Model discovery on fake stores laid out like LM Studio, Ollama, the HF cache, GPT4All and ~/models."""
import os

import pytest
from PySide6.QtCore import QTimer

from chatapp.models import ScanCancelled, Source, default_sources, scan
from chatapp.models.scan import PROGRESS_EVERY

from .model_trees import build_home, write_gguf


@pytest.fixture
def home(tmp_path):
    return build_home(tmp_path / "home")


def found(home, **kw):
    return {e.name: e for e in scan(default_sources(home=home, env={}, **kw))}


def test_every_store_is_found_with_its_metadata(home):
    entries = found(home)
    lm = entries["tiny-chat-Q4_K_M"]
    assert (lm.source, lm.kind, lm.usable) == ("LM Studio", "chat", True)
    assert (lm.quantization, lm.context_length, lm.chat_template, lm.architecture) == ("Q4_K_M", 8192, True, "llama")
    assert lm.size_bytes == os.path.getsize(lm.path) and lm.details["general.name"] == "Tiny Chat"
    olla = entries["olla:latest"]
    assert olla.source == "Ollama" and olla.usable and olla.quantization == "Q8_0" and olla.context_length == 2048
    assert os.path.basename(olla.path).startswith("sha256-")
    hub = entries["hub-tiny.Q8_0"]
    assert hub.source == "Hugging Face" and hub.usable and hub.context_length == 32768
    assert not hub.chat_template and "no chat template" in hub.reason
    sd = entries["acme/tiny-sd"]
    assert (sd.kind, sd.source, sd.usable, sd.architecture) == ("image", "Hugging Face", True, "StableDiffusionPipeline")
    g4a = entries["gpt4all-mini.Q4_0"]
    assert g4a.source == "GPT4All" and g4a.quantization == "Q4_0"
    assert entries["my-sd"].usable and entries["my-sd"].kind == "image"
    assert entries["whole"].usable


@pytest.mark.parametrize("name, reason", [
    ("not-a-model", "not a GGUF file"),
    ("cut", "truncated"),
    ("mmproj-vision", "vision projector"),
    ("big-00002-of-00003", "part 2 of 3"),
    ("old-sd", "pickle"),
    ("half-sd", "vae part is missing"),
    ("gone:7b", "blob is missing"),
])
def test_unusable_models_are_listed_with_a_reason(home, name, reason):
    e = found(home)[name]
    assert not e.usable and reason in e.reason


def test_user_folders_are_scanned_and_duplicates_listed_once(home, tmp_path):
    extra = tmp_path / "mine"
    write_gguf(extra / "sub" / "mine.gguf", name="Mine")
    entries = scan(default_sources(home=home, env={}, extra=[str(extra), str(home / "models")]))
    names = [e.name for e in entries]
    assert "mine" in names and names.count("whole") == 1


def test_env_overrides_where_ollama_and_hf_live(home, tmp_path):
    moved = tmp_path / "elsewhere"
    (home / ".ollama" / "models").rename(moved)
    labels = {s.label: s.root for s in default_sources(home=home, env={"OLLAMA_MODELS": str(moved)})}
    assert labels["Ollama"] == moved


def test_scan_can_be_cancelled(home):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(ScanCancelled):
        scan(default_sources(home=home, env={}), stop)


def test_picker_scans_a_10000_file_tree_without_stalling_the_gui(qtbot, tmp_path):
    from chatapp.settings import Settings
    from chatapp.ui.model_picker import ModelPicker
    root = tmp_path / "big"
    for d in range(100):
        folder = root / f"dir{d:03d}"
        folder.mkdir(parents=True)
        for f in range(100):
            (folder / f"file{f:03d}.txt").touch()
    write_gguf(root / "dir050" / "needle.gguf")
    ticks = []
    timer = QTimer()
    timer.setInterval(0)   # runs whenever the GUI thread's event loop is free
    picker = None
    timer.timeout.connect(lambda: ticks.append(picker is not None and picker.scanning))
    timer.start()
    progress = []
    picker = ModelPicker(Settings(), make_sources=lambda: [Source("big", root)])
    qtbot.addWidget(picker)
    picker.worker.progress.connect(lambda sid, n, where: progress.append(n))
    try:
        qtbot.waitUntil(lambda: not picker.scanning, timeout=120_000)
    finally:
        timer.stop()
        picker.shutdown()
    assert any(ticks), "the GUI thread never ran while the scan was going on"
    assert [e.name for e in picker.entries] == ["needle"]
    assert max(progress) >= 10_000 - PROGRESS_EVERY
    assert picker.lists["chat"].topLevelItemCount() == 1


@pytest.mark.parametrize("make, words", [
    (lambda p: write_gguf(p, tensors=0), "holds no weights (a vocabulary-only file)"),
    (lambda p: write_gguf(p, arch="bert", template=False), "an embedding model, not a chat model"),
    (lambda p: write_gguf(p, arch="clip", template=False), "a vision projector"),
])
def test_loading_what_cannot_chat_as_the_chat_model_says_what_it_is(tmp_path, make, words):
    """Not llama.cpp's 'may be truncated or of an unsupported architecture': the header says what the file is."""
    from chatapp.engines.base import EngineError
    from chatapp.engines.llama import LlamaChatEngine
    path = make(tmp_path / "model.gguf")
    with pytest.raises(EngineError) as err:
        LlamaChatEngine(path).load()
    assert f"model.gguf cannot be used as the chat model ({words}" in str(err.value) and "truncated" not in str(err.value)


def test_a_shipped_image_model_other_than_the_default_is_chosen_by_its_path(tmp_path, monkeypatch):
    """The default is chosen as "" (the setting follows the default); another shipped one (tiny-things beside
    tiny-shapes, issue 26) by its path, so choosing it is not silently the default."""
    import shutil

    from chatapp.engines import defaults
    from chatapp.models.scan import builtin_sources
    other = tmp_path / "tiny-other"
    shutil.copytree(defaults.DEFAULT_IMAGE_MODEL, other)
    monkeypatch.setattr(defaults, "builtin_image_models", lambda: [defaults.DEFAULT_IMAGE_MODEL, other])
    images = {e.name: e for e in scan(builtin_sources()) if e.kind == "image"}
    assert set(images) == {defaults.DEFAULT_IMAGE_MODEL.name, "tiny-other"}
    default = images[defaults.DEFAULT_IMAGE_MODEL.name]
    assert default.path == "" and default.details["file"] == str(defaults.DEFAULT_IMAGE_MODEL)
    assert images["tiny-other"].path == str(other) and images["tiny-other"].usable
