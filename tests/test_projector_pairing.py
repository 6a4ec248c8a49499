"""A chat model pairs with the vision projector beside it (LM Studio's rule: same folder, mmproj*.gguf, widths fit)."""
import os

import pytest

from chatapp.backends.local import llm_factory, projector_path
from chatapp.engines.defaults import default_llm_path
from chatapp.models import Source, scan
from chatapp.models.projector import SEES_PICTURES, paired_projector
from chatapp.settings import Settings

from .vision_model import vision_model  # noqa: F401  (the fixture)


@pytest.fixture
def folder(tmp_path, vision_model):  # noqa: F811
    """One folder: the tiny vision model, its projector, and SmolLM2 (whose width the projector does not fit)."""
    gguf, mmproj = vision_model
    for src, name in ((gguf, "Tiny-VL-F16.gguf"), (mmproj, "mmproj-Tiny-VL-F16.gguf"),
                      (default_llm_path(), "SmolLM2.gguf")):
        os.symlink(src, tmp_path / name)
    return tmp_path


def test_the_picker_marks_the_model_that_sees(folder):
    entries = {e.name: e for e in scan([Source("~/models", folder)])}
    vl, smol, proj = entries["Tiny-VL-F16"], entries["SmolLM2"], entries["mmproj-Tiny-VL-F16"]
    assert vl.usable and vl.projector == str(folder / "mmproj-Tiny-VL-F16.gguf")
    assert vl.reason.startswith(f"{SEES_PICTURES} (with mmproj-Tiny-VL-F16.gguf)")
    assert smol.usable and not smol.projector and SEES_PICTURES not in smol.reason   # 576 wide, the projector 64
    assert not proj.usable and proj.details["projection_dim"] == 64 and proj.details["image_size"] == 560


def test_the_engine_takes_the_paired_projector_unless_one_is_chosen(folder, tmp_path_factory):
    vl = folder / "Tiny-VL-F16.gguf"
    assert paired_projector(vl) == folder / "mmproj-Tiny-VL-F16.gguf"
    assert paired_projector(folder / "SmolLM2.gguf") is None
    engine = llm_factory(Settings(llm_model=str(vl)))()
    assert engine.projector == folder / "mmproj-Tiny-VL-F16.gguf"
    chosen = tmp_path_factory.mktemp("other") / "my-projector.gguf"
    assert projector_path(Settings(llm_model=str(vl), projector=str(chosen)), vl) == chosen
    alone = tmp_path_factory.mktemp("alone") / "Tiny-VL.gguf"
    os.symlink(vl, alone)
    assert llm_factory(Settings(llm_model=str(alone)))().projector is None   # nothing beside it: text only


def test_settings_chooses_a_projector_by_hand(qtbot):
    from chatapp.ui.settings_dialog import SettingsDialog
    dialog = SettingsDialog(Settings(projector="/models/mmproj-a.gguf"))
    qtbot.addWidget(dialog)
    edit = dialog.widget("projector")   # drawn from LocalChatOptions by ui/options_form.py, with Browse…
    assert edit.text() == "/models/mmproj-a.gguf" and "beside the model" in edit.placeholderText()
    edit.setText("/models/mmproj-b.gguf")
    assert dialog.result_settings().projector == "/models/mmproj-b.gguf"
    edit.setText("")
    assert dialog.result_settings().projector == ""   # empty: pair the one beside the model again


def _notices(parts) -> list[str]:
    return [n.label.text() for n in parts.window.view._notices]


@pytest.mark.real
def test_another_chat_model_forgets_a_projector_chosen_by_hand(folder, make_app, qtbot):
    """Picked in the picker, SmolLM2 loads with no projector (it pairs none) instead of failing on the one
    chosen by hand for the vision model; the saved settings forget it too, and a line says so."""
    from chatapp.settings import load_settings
    vl, smol = folder / "Tiny-VL-F16.gguf", folder / "SmolLM2.gguf"
    parts = make_app(settings=Settings(llm_model=str(vl), projector=str(folder / "mmproj-Tiny-VL-F16.gguf")))
    parts.window._switch_model("chat", str(smol))   # what the picker's "Use this model" calls
    assert parts.session.settings.llm_model == str(smol) and parts.session.settings.projector == ""
    qtbot.waitUntil(lambda: parts.session.llm_status in ("ready", "error"), timeout=120_000)
    assert parts.session.llm_status == "ready", parts.window.model_label.text()
    assert parts.session.llm.engine.projector is None
    assert load_settings(parts.session.paths.settings_file)[0].projector == ""
    assert sum("chosen by hand was for the previous chat model" in t for t in _notices(parts)) == 1


@pytest.mark.real
def test_a_projector_of_another_model_is_said_in_the_window_and_nothing_is_lost(folder, make_app, qtbot):
    """Chosen by hand for SmolLM2 (576 wide), the tiny vision model's 64-wide projector: the load fails in words
    naming both widths, the app keeps running and the chat typed before is still there."""
    smol, proj = folder / "SmolLM2.gguf", folder / "mmproj-Tiny-VL-F16.gguf"
    settings = Settings(llm_model=str(smol), projector=str(proj))
    parts = make_app(chat_engine=llm_factory(settings)(), settings=settings)
    assert parts.session.llm_status == "error"
    said = [t for t in _notices(parts) if "does not belong to this model" in t]
    assert len(said) == 1 and "64" in said[0] and "576" in said[0], _notices(parts)
    assert parts.session.submit("/image a red circle --seed 1")   # the window goes on: pictures still draw
    qtbot.waitUntil(lambda: parts.storage.last_picture(parts.session.current.id) is not None, timeout=30_000)


def test_a_projector_chosen_with_the_new_model_or_another_setting_stays(make_app, qtbot):
    parts = make_app(settings=Settings(llm_model="/m/a.gguf", projector="/m/mmproj-a.gguf"))
    parts.window._switch_model("image", "/m/some-image-model")   # not the chat model: the projector stays
    assert parts.session.settings.projector == "/m/mmproj-a.gguf"
    parts.window.settings_changed.emit(Settings(llm_model="/m/b.gguf", projector="/m/mmproj-b.gguf"))  # Settings, both
    assert parts.session.settings.projector == "/m/mmproj-b.gguf"
    parts.window.settings_changed.emit(Settings(llm_model="/m/c.gguf"))   # none chosen: nothing to say
    assert parts.session.settings.projector == "" and not _notices(parts)
    qtbot.waitUntil(lambda: parts.session.llm_status in ("ready", "error"), timeout=60_000)
