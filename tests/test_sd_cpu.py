"""Stable Diffusion folders as published (fp16, bf16, fp32) on a CPU through the app's engine: dtype,
the scheduler's real step count, threads, prompt truncation, size limits, memory and error wording."""
import pytest

from chatapp.conversation import ImageRequest
from chatapp.engines import torch_runtime as rt
from chatapp.engines.base import EngineError
from chatapp.engines.diffusion import DiffusionImageEngine

from .tiny_pipeline import build_random_pipeline


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd-dtypes")
    return {dtype: build_random_pipeline(root / dtype, dtype) for dtype in ("float16", "bfloat16", "float32")}


@pytest.mark.parametrize("stored", ["float16", "bfloat16", "float32"])
def test_folder_saved_in_any_dtype_renders_on_cpu(folders, stored):
    import json
    import torch
    config = json.loads((folders[stored] / "text_encoder" / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == stored   # as published folders say
    engine = DiffusionImageEngine(folders[stored])
    info = engine.load()
    assert info.details["device"] == "cpu" and info.details["precision"] == "float32"
    assert {engine.pipe.text_encoder.dtype, engine.pipe.unet.dtype, engine.pipe.vae.dtype} == {torch.float32}
    out = engine.generate(ImageRequest(prompt="a red circle", steps=2, seed=1), lambda e: None, lambda: False)
    assert len(out) == 1 and out[0].image.size == (32, 32)


def test_plain_diffusers_fails_on_the_fp16_folder(folders):
    """What the user met before: the text encoder followed its config, UNet and VAE did not."""
    from diffusers import DiffusionPipeline
    pipe = DiffusionPipeline.from_pretrained(folders["float16"], local_files_only=True)
    with pytest.raises(RuntimeError) as err:
        pipe("a red circle", num_inference_steps=1, width=32, height=32)
    assert "Precision to float32" in rt.plain_error(err.value)


@pytest.mark.skipif(not rt.cpu_bf16_supported(), reason="this CPU has no bfloat16")
def test_bfloat16_on_request_renders(folders):
    import torch
    engine = DiffusionImageEngine(folders["float16"], precision="bfloat16")
    assert engine.load().details["precision"] == "bfloat16"
    assert engine.pipe.unet.dtype == engine.pipe.text_encoder.dtype == torch.bfloat16
    out = engine.generate(ImageRequest(prompt="a red circle", steps=2, seed=1), lambda e: None, lambda: False)
    assert out[0].image.size == (32, 32)


def test_auto_keeps_small_models_in_float32():
    import torch
    assert rt.choose_device_dtype("auto", 4_000_000) == ("cpu", torch.float32)
    assert rt.choose_device_dtype("float32", 2_000_000_000) == ("cpu", torch.float32)


@pytest.fixture(scope="module")
def pndm_engine(tmp_path_factory):
    engine = DiffusionImageEngine(build_random_pipeline(tmp_path_factory.mktemp("pndm") / "sd", scheduler="pndm"))
    assert engine.load().details["scheduler"] == "pndm"
    return engine


@pytest.mark.parametrize("scheduler,steps,expected", [("pndm", 4, 5), ("dpm++2m", 4, 4), ("euler", 4, 4),
                                                      ("heun", 3, 5)])
def test_progress_counts_the_schedulers_real_steps_then_decodes(pndm_engine, scheduler, steps, expected):
    events = []
    pndm_engine.generate(ImageRequest(prompt="a red circle", steps=steps, seed=2, scheduler=scheduler),
                         events.append, lambda: False)
    step_events = [(e.step, e.total) for e in events if e.phase == "step"]
    assert step_events == [(i, expected) for i in range(1, expected + 1)]   # ends exactly at N of N
    assert [e.phase for e in events[-2:]] == ["decoding", "done"]
    assert events[-1].request.steps == steps                                # the recipe keeps what was asked


def test_count_reports_picture_k_of_n_and_stop_keeps_finished_pictures(pndm_engine):
    events = []
    out = pndm_engine.generate(ImageRequest(prompt="a red circle", steps=3, seed=4, count=2), events.append,
                               lambda: any(e.picture == 2 and e.step == 2 for e in events))
    assert {(e.picture, e.pictures) for e in events if e.phase == "step"} == {(1, 2), (2, 2)}
    assert [r.seed for r in out] == [4]          # picture 1 was finished before the stop and is kept


def test_cancel_is_noticed_inside_a_step(pndm_engine):
    """Block hooks: a stop asked for during a UNet pass ends it before the next block."""
    calls = []
    stop = lambda: len(calls) > 0  # noqa: E731  (set from inside the first UNet block)
    handle = pndm_engine.pipe.unet.down_blocks[1].register_forward_hook(lambda *a: calls.append(1))
    try:
        events = []
        out = pndm_engine.generate(ImageRequest(prompt="a red circle", steps=5, seed=1), events.append, stop)
    finally:
        handle.remove()
    assert out == [] and not [e for e in events if e.phase == "step"] and len(calls) == 1


def test_threads_follow_the_chat(pndm_engine, monkeypatch):
    import torch
    monkeypatch.setattr(rt, "cores", lambda: 4)
    monkeypatch.setattr(pndm_engine, "params", rt.BIG_MODEL_PARAMS)   # small models never take every core
    seen, before = [], torch.get_num_threads()
    busy = {"on": False}
    pndm_engine.chat_busy = lambda: busy["on"]
    try:
        def on_progress(e):
            if e.phase == "step":
                seen.append(torch.get_num_threads())
                busy["on"] = e.step >= 2      # a reply starts streaming after step 2
        pndm_engine.generate(ImageRequest(prompt="a red circle", steps=4, seed=1, scheduler="euler"), on_progress,
                             lambda: False)
    finally:
        pndm_engine.chat_busy = lambda: False
        torch.set_num_threads(before)
        pndm_engine._threads_now = before
    assert seen[:2] == [4, 4] and seen[-1] == 2   # all cores, then half while the chat computes
    assert rt.image_threads(3, True) == 3         # an explicit setting wins
    assert rt.image_threads(0, False, 4_000_000) == 2   # a small model: half the cores


def test_long_prompt_says_what_was_left_out(pndm_engine):
    words = "a red circle on a blue background a blue square on red"   # 12 tokens; this model reads 8
    out = pndm_engine.generate(ImageRequest(prompt=words, steps=1, seed=1), lambda e: None, lambda: False)
    assert out[0].notes == ["The model read only the first 8 of the prompt's 12 tokens; "
                            "it ignored: \u201cblue square on red\u201d"]
    short = pndm_engine.generate(ImageRequest(prompt="a red circle", steps=1, seed=1), lambda e: None, lambda: False)
    assert short[0].notes == []


def test_size_over_the_models_limit_fails_before_rendering(pndm_engine):
    events = []
    pndm_engine.defaults["max_size"] = 64
    try:
        with pytest.raises(EngineError, match=r"larger than sd allows \(64x64 at most\)"):
            pndm_engine.generate(ImageRequest(prompt="a red circle", width=2048, height=2048), events.append, lambda: False)
    finally:
        pndm_engine.defaults["max_size"] = 2048
    assert events == []


def test_memory_check_and_plain_errors(folders):
    params = rt.model_params(folders["float16"])
    assert set(params) >= {"unet", "vae", "text_encoder"} and all(v > 0 for v in params.values())
    total = sum(params.values())
    with pytest.raises(EngineError, match="needs about .* GB .* only .* GB is free"):
        rt.check_memory("SD", 1_000_000_000, 4, 2 * rt.GIB)
    assert "may run out of memory" in rt.check_memory("SD", 1_000_000_000, 4, int(4.5 * rt.GIB))
    assert rt.check_memory("tiny", total, 4, 8 * rt.GIB) == ""
    assert "Precision to float32" in rt.plain_error(RuntimeError("mat1 and mat2 must have the same dtype, "
                                                                 "but got Half and Float"))
    assert "smaller --size" in rt.plain_error(RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    assert rt.plain_error(RuntimeError("something else")) is None


@pytest.mark.real
def test_sd_bench_quick_mode_measures_every_row():
    import subprocess
    import sys
    from pathlib import Path
    out = subprocess.run([sys.executable, "-m", "bench.sd_cpu", "--quick"], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split("|")[1].strip() for r in rows] == ["app, float32, 2 threads", "raw diffusers, float32, 2 threads",
                                                      "VAE decode alone, 64x64, in tiles"]
    assert not any("failed" in r or "nan" in r for r in rows), "\n".join(rows)


def test_model_hash_is_computed_beside_the_load(folders):
    import hashlib
    engine = DiffusionImageEngine(folders["float32"])
    engine.load()
    weights = next((folders["float32"] / "unet").glob("*.safetensors"))
    assert engine.model_hash == hashlib.sha256(weights.read_bytes()).hexdigest()[:10]
