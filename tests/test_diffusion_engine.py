"""The real diffusers engine and image worker on a small random pipeline loaded back from disk."""
import shutil

import numpy as np
import pytest

from chatapp.conversation import ImageRequest
from chatapp.engines.base import EngineError
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.recipes.a1111 import parse_parameters
from chatapp.recipes.png import read_parameters
from chatapp.workers import ImageWorker


@pytest.fixture(scope="module")
def engine(random_sd_folder):
    e = DiffusionImageEngine(random_sd_folder)
    info = e.load()
    assert info.details["width"] == 32 and info.details["scheduler"] == "ddim"
    return e


def test_same_seed_same_pixels_other_seed_differs(engine):
    req = ImageRequest(prompt="a red circle", steps=4, seed=11)
    a = engine.generate(req, lambda *x: None, lambda: False)[0]
    b = engine.generate(req, lambda *x: None, lambda: False)[0]
    c = engine.generate(ImageRequest(prompt="a red circle", steps=4, seed=12), lambda *x: None, lambda: False)[0]
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))
    assert a.request.steps == 4 and a.request.seed == 11 and a.request.width == 32


def test_progress_once_per_step_with_cheap_previews(engine):
    events = []
    engine.generate(ImageRequest(prompt="a blue square", steps=7, seed=1), events.append, lambda: False)
    steps = [e for e in events if e.phase == "step"]
    assert [(e.step, e.total) for e in steps] == [(i, 7) for i in range(1, 8)]
    previews = [e.step for e in steps if e.preview is not None]
    assert previews == [3, 6] and steps[2].preview.size == (16, 16)   # latent-sized, no VAE decode
    assert [e.phase for e in events[-2:]] == ["decoding", "done"]


def test_cancel_stops_within_one_step(engine):
    seen = []
    out = engine.generate(ImageRequest(prompt="a red circle", steps=20, seed=1),
                          lambda e: seen.append(e.step) if e.phase == "step" else None, lambda: len(seen) >= 2)
    assert out == [] and seen == [1, 2]


def test_scheduler_and_count(engine):
    out = engine.generate(ImageRequest(prompt="a red circle", steps=3, seed=5, scheduler="euler", count=2),
                          lambda *a: None, lambda: False)
    assert [r.seed for r in out] == [5, 6] and all(r.request.scheduler == "euler" for r in out)


def test_refuses_pickle_and_broken_folders(tmp_path, random_sd_folder):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\x80\x04pickle")
    with pytest.raises(EngineError, match="pickle"):
        DiffusionImageEngine(ckpt).load()
    with pytest.raises(EngineError, match="not found"):
        DiffusionImageEngine(tmp_path / "missing").load()
    with pytest.raises(EngineError, match="no model_index.json"):
        DiffusionImageEngine(tmp_path).load()
    broken = tmp_path / "broken"
    shutil.copytree(random_sd_folder, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(EngineError, match="Could not load"):
        DiffusionImageEngine(broken).load()


@pytest.fixture
def worker(qtbot, random_sd_folder):
    w = ImageWorker()
    ready = []
    w.ready.connect(ready.append)
    w.request_load(lambda: DiffusionImageEngine(random_sd_folder))
    qtbot.waitUntil(lambda: bool(ready), timeout=60000)
    yield w
    assert w.shutdown(5000)


def collect(worker):
    events = []
    worker.started.connect(lambda rid: events.append(("started", rid)))
    worker.progress.connect(lambda rid, e: events.append(("step", rid, e.step)) if e.phase == "step" else None)
    worker.finished.connect(lambda rid, saved: events.append(("done", rid, saved)))
    worker.cancelled.connect(lambda rid, saved: events.append(("cancelled", rid, saved)))
    worker.failed.connect(lambda rid, msg: events.append(("failed", rid, msg)))
    return events


def test_worker_saves_png_with_recipe_and_queues_in_order(worker, qtbot, tmp_path):
    events = collect(worker)
    worker.request_image(1, ImageRequest(prompt="a red circle", steps=3, seed=7), tmp_path)
    worker.request_image(2, ImageRequest(prompt="a blue square", steps=3, seed=8), tmp_path)
    qtbot.waitUntil(lambda: sum(e[0] == "done" for e in events) == 2, timeout=60000)
    order = [(e[0], e[1]) for e in events if e[0] != "step"]
    assert order == [("started", 1), ("done", 1), ("started", 2), ("done", 2)]
    assert [e[2] for e in events if e[0] == "step" and e[1] == 1] == [1, 2, 3]
    saved = next(e[2] for e in events if e[0] == "done" and e[1] == 1)[0]
    assert parse_parameters(read_parameters(saved.path)) == saved.request
    assert saved.request.prompt == "a red circle" and saved.request.seed == 7


def test_worker_cancel_leaves_no_file(worker, qtbot, tmp_path):
    events = collect(worker)
    worker.progress.connect(lambda rid, e: worker.cancel(rid) if e.step == 2 else None)
    worker.request_image(5, ImageRequest(prompt="a red circle", steps=30, seed=1), tmp_path)
    qtbot.waitUntil(lambda: ("cancelled", 5, []) in events, timeout=60000)
    assert max(e[2] for e in events if e[0] == "step") <= 3
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.part"))
