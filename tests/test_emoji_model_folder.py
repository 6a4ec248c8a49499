"""The emoji image model's trainer writes a folder chatapp's own image engine loads and draws from (issue 26):
a two-step run with the real recipe, resumed, through the real diffusers pipeline (random-ish weights)."""
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from chatapp.conversation import ImageRequest
from chatapp.engines.base import EngineError
from chatapp.engines.diffusion import DiffusionImageEngine

TOOLS = Path(__file__).resolve().parent.parent / "tools"
sys.path.insert(0, str(TOOLS))
import emoji_objects  # noqa: E402

pytestmark = [pytest.mark.real, pytest.mark.skipif(
    not emoji_objects.FONT.exists(), reason="Debian fonts-noto-color-emoji is not installed")]


BATCH = 3   # no other part of the trainer asks for 3 pictures at once


def _train(monkeypatch, work: Path, steps: int, stop_at_batch: int = 0) -> None:
    """One trainer run; stop_at_batch: send ourselves SIGTERM (as `kill PID` would) in that training step."""
    import train_image_model
    monkeypatch.setattr(sys, "argv", ["train_image_model.py", "--model", "emoji", "--work", str(work),
                                      "--out", str(work / "model"), "--steps", str(steps), "--vae-steps", "1",
                                      "--batch", str(BATCH), "--threads", "1"])
    real, calls = train_image_model.training_batch, []

    def batch(rng, n, drop=0.1):
        calls.append(n)
        if n == BATCH and calls.count(BATCH) == stop_at_batch:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(rng, n, drop)
    monkeypatch.setattr(train_image_model, "training_batch", batch)
    train_image_model.main()


def test_stopped_run_resumes_from_its_last_step_and_writes_a_folder_the_app_draws_from(tmp_path, monkeypatch):
    work = tmp_path / "work"
    handler = signal.getsignal(signal.SIGTERM)
    _train(monkeypatch, work, 50, stop_at_batch=2)       # stopped by SIGTERM in its second step
    assert signal.getsignal(signal.SIGTERM) is handler
    _train(monkeypatch, work, 3)
    log = (work / "progress.log").read_text()
    assert "done: 2 steps" in log and "resumed at step 2" in log and "done: 3 steps" in log
    model = work / "model"
    card = json.loads((model / "chatapp.json").read_text())
    assert card["training_steps"] == 3 and card["width"] == 32
    files = [p for p in model.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 30 * 2**20
    assert {p.suffix for p in files if p.parent.name in ("unet", "vae", "text_encoder")} == {".json", ".safetensors"}

    from diffusers import DDIMScheduler
    assert DDIMScheduler.from_pretrained(model / "scheduler").config.clip_sample is False   # see export()
    engine = DiffusionImageEngine(model, threads=1)
    engine.load()
    tok = engine.pipe.tokenizer
    unk = tok.convert_tokens_to_ids("[UNK]")
    assert unk not in tok("a cat and a car on a blue background").input_ids   # its words, shapes' too
    assert unk not in tok("a red circle on the left").input_ids
    result = engine.generate(ImageRequest(prompt="a cat", steps=2, seed=1), lambda *a: None, lambda: False)[0]
    assert result.image.size == (32, 32) and result.seed == 1
    # It reads 128-wide text like tiny-shapes; its block widths tell them apart, so the shipped tiny-shapes LoRA is
    # neither offered for it nor applied to it, and the refusal names both kinds.
    from chatapp.engines.lora import BUILTIN_DIR, names
    assert names([BUILTIN_DIR], model) == []
    engine.lora_dirs = [BUILTIN_DIR]
    with pytest.raises(EngineError, match="LoRA white-background was made for tiny-shapes models, but model is a "
                                          "tiny-things model"):
        engine.generate(ImageRequest(prompt="a cat", steps=2, seed=1, loras=[("white-background", 1.0)]),
                        lambda *a: None, lambda: False)
    assert not engine.loras.loaded


def test_tiny_shapes_tokenizer_is_unchanged_by_the_second_model():
    from image_model_parts import build_tokenizer
    shipped = json.loads((TOOLS.parent / "resources/models/tiny-shapes/tokenizer/tokenizer.json").read_text())
    assert build_tokenizer().get_vocab() == shipped["model"]["vocab"]
