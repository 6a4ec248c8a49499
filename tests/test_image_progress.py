"""/image progress and Cancel as the user sees them: the scheduler's real steps, a decode phase, picture
k of n, an estimate that never goes negative, Cancelling… at once, finished pictures kept, a note left."""
import pytest
from PySide6.QtCore import Qt

from chatapp.conversation import CANCELLED, DONE, ERROR, ImageRequest
from chatapp.engines.base import ImageProgress
from chatapp.engines.defaults import default_image_model_path
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
from chatapp.pictures.progress import ProgressTracker, duration, faster_settings

from .tiny_pipeline import build_random_pipeline


def image_messages(parts):
    return [m for m in parts.storage.messages(parts.session.current.id) if m.kind == "image"]


@pytest.fixture(scope="module")
def pndm_folder(tmp_path_factory):
    return build_random_pipeline(tmp_path_factory.mktemp("pndm-gui") / "sd", scheduler="pndm")


def test_estimate_never_negative_when_steps_and_decode_run_late():
    """A scripted clock: the second picture's steps and every decode take far longer than guessed."""
    req = ImageRequest(prompt="x", steps=4, cfg=7.0, seed=1, width=512, height=512, scheduler="pndm")
    tracker = ProgressTracker(0.0)
    now, statuses = 0.0, []
    for picture in (1, 2):
        for step in range(1, 6):
            now += 10 if picture == 1 else 40
            statuses.append(tracker.event(ImageProgress("step", step, 5, picture, 2, None, req), now))
            statuses += [tracker.status(now + dt) for dt in (5, 30, 100)]      # the 1 s timer between events
        now += 1
        statuses.append(tracker.event(ImageProgress("decoding", 5, 5, picture, 2, None, req), now))
        statuses += [tracker.status(now + dt) for dt in (10, 60, 500)]
        now += 500
        assert tracker.event(ImageProgress("done", 0, 0, picture, 2, None, req), now) is None
    lefts = [tracker.seconds_left(t) for t in (0, now)]
    assert all(x >= 0 for x in lefts)
    texts = [s.text for s in statuses if s]
    assert all("-" not in t for t in texts) and all(0 <= s.fraction < 1 for s in statuses if s)
    assert texts[0] == "Picture 1 of 2 · Step 1/5 · about 2 min left"   # 10 s/step, decode guessed at 16 s
    assert any(t.startswith("Picture 2 of 2 · Decoding…") for t in texts)
    assert texts[-1] == "Picture 2 of 2 · Decoding… · almost done"      # late, and says so, never "-40 s"
    assert statuses[0].hint.startswith("About 2 min in all on this CPU.")


def test_long_jobs_come_with_faster_settings():
    req = ImageRequest(prompt="x", steps=25, cfg=7.0, seed=1, width=512, height=512, scheduler="pndm")
    text = faster_settings(req, 28.0, 45.0, 26 * 28 + 45)
    assert text == "Faster: --steps 15 --scheduler dpm++2m (about 8 min); or --size 384x384 (about 7 min, rougher)."
    small = ImageRequest(prompt="x", steps=15, cfg=7.0, seed=1, width=384, height=384, scheduler="dpm++2m")
    assert faster_settings(small, 1.0, 1.0, 16) == ""
    assert (duration(-3), duration(59.4), duration(779), duration(3 * 3600 + 60)) == ("0 s", "59 s", "13 min", "3 h 1 min")


def test_pndm_progress_ends_at_n_of_n_then_decodes(make_app, qtbot, pndm_folder):
    parts = make_app(image_engine=DiffusionImageEngine(pndm_folder))
    statuses = []
    parts.session.images.progress.connect(lambda mid, s: statuses.append(s.text))
    parts.session.submit("/image a red circle --steps 4 --seed 3")
    msg = image_messages(parts)[0]
    qtbot.waitUntil(lambda: parts.storage.message(msg.id).status == DONE, timeout=120000)
    steps = [t for t in statuses if t.startswith("Step")]
    assert steps[-1].startswith("Step 5/5 · ") and not [t for t in statuses if "6/" in t or "/4" in t]
    assert statuses.index(steps[-1]) < max(i for i, t in enumerate(statuses) if t.startswith("Decoding…"))
    assert parts.storage.message(msg.id).meta["request"]["steps"] == 4      # the recipe keeps what was asked
    # The countdown timer stops with the last job: left running, a later garbage collection on a
    # worker thread killed it from the wrong thread and crashed the next test.
    qtbot.waitUntil(lambda: not parts.session.images._tick.isActive(), timeout=30000)


def test_two_pictures_say_which_and_cancel_keeps_the_first(make_app, qtbot, pndm_folder):
    parts = make_app(image_engine=DiffusionImageEngine(pndm_folder))
    statuses = []
    jobs = parts.session.images
    jobs.progress.connect(lambda mid, s: statuses.append(s.text))
    # A lambda on a worker signal runs on the worker's thread: the flag is set before picture 2's
    # next UNet block, however busy the GUI thread is.
    jobs.worker.progress.connect(lambda rid, e: jobs.worker.cancel(rid) if e.picture == 2 and e.step == 2 else None)
    parts.session.submit("/image a red circle --steps 3 --seed 3 --n 2")
    msg = image_messages(parts)[0]
    qtbot.waitUntil(lambda: parts.storage.message(msg.id).status == DONE, timeout=120000)
    qtbot.waitUntil(lambda: not jobs.jobs, timeout=60000)
    assert any(t.startswith("Picture 1 of 2 · Step") for t in statuses)
    assert any(t.startswith("Picture 2 of 2 · Step") for t in statuses)
    kept = image_messages(parts)
    assert len(kept) == 1 and kept[0].meta["request"]["seed"] == 3
    assert kept[0].meta["note"] == "Cancelled before picture 2 of 2."
    assert len(list(parts.paths.images.glob("*.png"))) == 1
    bubble = parts.window.view.widgets[msg.id]
    assert bubble.hint.text() == "Cancelled before picture 2 of 2." and bubble.hint.isVisible()


def test_cancel_while_the_model_loads_or_while_queued_ends_at_once(make_app, qtbot):
    parts = make_app(image_engine=FakeImageEngine(load_delay=1.5, step_delay=0.05))
    parts.session.submit("/image a red circle --steps 40")
    parts.session.submit("/image a blue square --steps 40")
    first, second = image_messages(parts)
    bubbles = [parts.window.view.widgets[m.id] for m in (first, second)]
    qtbot.waitUntil(lambda: bubbles[0].status.text() == "Loading image model…", timeout=30000)
    assert bubbles[1].status.text() == "Loading image model…"
    qtbot.mouseClick(bubbles[0].cancel_button, Qt.MouseButton.LeftButton)
    # Nothing ran yet, so nothing has to be waited for:
    assert parts.storage.message(first.id).status == CANCELLED and bubbles[0].status.text() == "Cancelled"
    qtbot.waitUntil(lambda: "Step" in bubbles[1].status.text(), timeout=30000)
    parts.session.submit("/image a green circle --steps 40")
    third = image_messages(parts)[2]
    qtbot.mouseClick(parts.window.view.widgets[third.id].cancel_button, Qt.MouseButton.LeftButton)
    assert parts.storage.message(third.id).status == CANCELLED                # queued behind the second
    qtbot.waitUntil(lambda: parts.storage.message(second.id).status == DONE, timeout=30000)
    assert parts.storage.message(first.id).status == CANCELLED


def test_size_beyond_the_models_limit_is_refused_once_the_model_is_known(make_app, qtbot):
    model = default_image_model_path()
    if model is None:
        pytest.skip("the embedded model is not installed")
    parts = make_app(image_engine=DiffusionImageEngine(model))
    assert parts.session.submit("/image a red circle --size 2048x2048")   # the parser cannot know the limit yet
    msg = image_messages(parts)[0]
    qtbot.waitUntil(lambda: parts.storage.message(msg.id).status == ERROR, timeout=120000)
    assert f"larger than {model.name} allows (64x64 at most)" in parts.storage.message(msg.id).content
    assert not parts.paths.images.exists() or not list(parts.paths.images.glob("*.png"))


def test_long_prompt_note_under_the_picture(make_app, qtbot, random_sd_folder):
    parts = make_app(image_engine=DiffusionImageEngine(random_sd_folder))
    parts.session.submit("/image a red circle on a blue background a blue square on red --steps 2")
    msg = image_messages(parts)[0]
    qtbot.waitUntil(lambda: parts.storage.message(msg.id).status == DONE, timeout=120000)
    note = parts.storage.message(msg.id).meta["note"]
    assert note.startswith("The model read only the first 8 of the prompt's 12 tokens")
    bubble = parts.window.view.widgets[msg.id]
    assert bubble.hint.text() == note and bubble.hint.isVisible()


def test_chat_worker_says_when_it_computes(make_app, qtbot):
    parts = make_app(FakeChatEngine([" ".join(["word"] * 30)], token_delay=0.05))
    busy = parts.session.llm.busy
    assert parts.session.images.worker.chat_busy is busy and not busy.is_set()
    parts.session.submit("hello")
    qtbot.waitUntil(busy.is_set, timeout=30000)
    qtbot.waitUntil(lambda: not busy.is_set(), timeout=30000)


def test_settings_dialog_image_controls(make_app, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from chatapp.backends.local import image_factory
    from chatapp.settings import load_settings
    from chatapp.ui.settings_dialog import SettingsDialog
    parts = make_app()

    def fake_exec(dialog):
        dialog.image_threads.setValue(1)
        dialog.image_precision.setCurrentText("bfloat16")
        dialog.vae_tiling.setChecked(True)
        return QDialog.DialogCode.Accepted
    monkeypatch.setattr(SettingsDialog, "exec", fake_exec)
    parts.window.open_settings()
    saved, note = load_settings(parts.paths.settings_file)
    assert note is None and (saved.image_threads, saved.image_precision, saved.vae_tiling) == (1, "bfloat16", True)
    engine = image_factory(saved)()   # built, not loaded
    assert (engine.threads, engine.precision, engine.vae_tiling) == (1, "bfloat16", True)
