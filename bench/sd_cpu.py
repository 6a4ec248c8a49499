"""A Stable Diffusion 1.5-shaped model on this CPU: load, s/step, decode, peak memory; app engine vs raw diffusers.

`python -m bench.sd_cpu [--quick] [--write docs/PERFORMANCE.md]`. The model has SD 1.5's exact
architecture (1,066 M parameters) with random weights, built from configs (no download) and saved
in float16 as published folders are, once, under ~/.cache/chatapp-bench. Each configuration runs
in a fresh process so its peak memory is its own. Heavy: ~20 min on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import _status_mb, write_section  # noqa: E402  (one /proc reader, one section writer)
CACHE = Path(os.environ.get("CHATAPP_BENCH_CACHE", Path.home() / ".cache" / "chatapp-bench"))
SECTION = "## Stable Diffusion 1.5-shaped model on this CPU"
PROMPT = "a red circle on a blue background"


def build_sd15(folder: Path) -> Path:
    """SD 1.5's UNet, VAE and CLIP text encoder from their configs, random weights, saved in fp16."""
    if (folder / "model_index.json").is_file():
        return folder
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast
    torch.manual_seed(0)
    words = ["[PAD]", "[UNK]", *PROMPT.split()]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(dict.fromkeys(words))}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                                num_hidden_layers=12, num_attention_heads=12,
                                                max_position_embeddings=77, hidden_act="quick_gelu",
                                                projection_dim=768, pad_token_id=0, eos_token_id=0))
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=512,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        block_out_channels=(128, 256, 512, 512), layers_per_block=2)
    unet = UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                                block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                                attention_head_dim=8,
                                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    sched = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                          steps_offset=1, set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.to(torch.float16)
    tmp = folder.with_name(folder.name + ".part")
    pipe.save_pretrained(tmp, safe_serialization=True)
    tmp.rename(folder)
    return folder


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")   # Linux: VmHWM starts again from VmRSS
    except OSError:
        pass


def child(cfg: dict) -> dict:
    """One configuration in this (fresh) process: load, one picture, timings from step events."""
    import torch
    from chatapp.conversation import ImageRequest
    path, size, steps = Path(cfg["path"]), cfg["size"], cfg["steps"]
    stamps: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    if cfg["kind"] == "vae":
        return vae_child(cfg)
    if cfg["kind"] == "raw":
        from diffusers import DiffusionPipeline
        torch.set_num_threads(cfg["threads"])
        # The careful user's raw call: dtype asked for explicitly (without it the fp16 folder fails).
        pipe = DiffusionPipeline.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        pipe.set_progress_bar_config(disable=True)
        load_s = time.perf_counter() - t0
        rss_loaded = _status_mb("VmRSS")
        _reset_peak()

        def cb(p, i, t, kw):
            stamps.append(("step", time.perf_counter()))
            return kw
        pipe(PROMPT, num_inference_steps=steps, width=size, height=size,
             generator=torch.Generator("cpu").manual_seed(1), callback_on_step_end=cb)
        stamps.append(("done", time.perf_counter()))
    else:
        from chatapp.engines.diffusion import DiffusionImageEngine
        engine = DiffusionImageEngine(path, threads=cfg["threads"], precision=cfg.get("precision", "float32"),
                                      attention_slicing=cfg.get("memory", False), vae_tiling=cfg.get("memory", False))
        engine.load()
        load_s = time.perf_counter() - t0
        rss_loaded = _status_mb("VmRSS")
        _reset_peak()

        def on_progress(e):
            stamps.append((e.phase, time.perf_counter()))
            if e.phase == "step":
                print(f"  step {e.step}/{e.total} at {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        engine.generate(ImageRequest(prompt=PROMPT, steps=steps, seed=1, width=size, height=size), on_progress, lambda: False)
    step_times = [b[1] - a[1] for a, b in zip(stamps, stamps[1:]) if a[0] == b[0] == "step"]
    last_step = max(t for k, t in stamps if k == "step")
    return {"load_s": load_s, "step_s": statistics.median(step_times), "decode_s": stamps[-1][1] - last_step,
            "steps_timed": len(step_times), "rss_loaded_mb": rss_loaded, "peak_render_mb": _status_mb("VmHWM")}


def vae_child(cfg: dict) -> dict:
    """The VAE decode alone at a large size, tiled or not: where decoding in tiles saves memory."""
    import torch
    from diffusers import AutoencoderKL
    torch.set_num_threads(cfg["threads"])
    t0 = time.perf_counter()
    vae = AutoencoderKL.from_pretrained(Path(cfg["path"]) / "vae", local_files_only=True, dtype=torch.float32)
    load_s = time.perf_counter() - t0
    if cfg.get("memory"):
        vae.enable_tiling()
    latents = torch.randn(1, 4, cfg["size"] // 8, cfg["size"] // 8, generator=torch.Generator().manual_seed(0))
    rss_loaded = _status_mb("VmRSS")
    _reset_peak()
    t = time.perf_counter()
    with torch.no_grad():
        vae.decode(latents / vae.config.scaling_factor)
    return {"load_s": load_s, "step_s": float("nan"), "decode_s": time.perf_counter() - t, "steps_timed": 0,
            "rss_loaded_mb": rss_loaded, "peak_render_mb": _status_mb("VmHWM")}


CONFIGS = [  # name, settings
    ("app, float32, 2 threads", {"kind": "app", "threads": 2}),
    ("raw diffusers, float32, 2 threads", {"kind": "raw", "threads": 2}),
    ("app, float32, 1 thread", {"kind": "app", "threads": 1}),
    ("app, float32, 2 threads, memory options", {"kind": "app", "threads": 2, "memory": True}),
    ("app, bfloat16, 2 threads", {"kind": "app", "threads": 2, "precision": "bfloat16"}),
]
VAE_CONFIGS = [  # the decode alone at 1024x1024, where tiles matter (at 512 one tile is the whole picture)
    ("VAE decode alone, 1024x1024, float32", {"kind": "vae", "threads": 2, "size": 1024}),
    ("VAE decode alone, 1024x1024, in tiles", {"kind": "vae", "threads": 2, "size": 1024, "memory": True}),
]


def run(quick: bool, log=sys.stderr, only_vae: bool = False) -> list[tuple[str, dict]]:
    if quick:
        import tempfile
        from tests.tiny_pipeline import build_random_pipeline
        path, size, steps = build_random_pipeline(Path(tempfile.mkdtemp()) / "sd", "float16"), 32, 2
        configs = CONFIGS[:2] + [("VAE decode alone, 64x64, in tiles", dict(VAE_CONFIGS[1][1], size=64))]
    else:
        t = time.time()
        path = build_sd15(CACHE / "sd15-random-fp16")
        print(f"[sd_cpu] model ready in {time.time() - t:.0f} s: {path}", file=log, flush=True)
        size, steps, configs = 512, 3, (VAE_CONFIGS if only_vae else CONFIGS + VAE_CONFIGS)
    results = []
    for name, cfg in configs:
        cfg = dict({"size": size}, **cfg, path=str(path), steps=steps)
        print(f"[sd_cpu] {name} ...", file=log, flush=True)
        out = subprocess.run([sys.executable, "-m", "bench.sd_cpu", "--child", json.dumps(cfg)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=log, text=True, timeout=3600)
        res = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {"error": out.returncode}
        print(f"[sd_cpu] {name}: {res}", file=log, flush=True)
        results.append((name, res))
    return results


def table(results: list[tuple[str, dict]], size: int) -> str:
    raw = dict(results).get("raw diffusers, float32, 2 threads", {})
    lines = ["| Configuration | Load | s/step | Decode | Memory after load | Peak while drawing | s/step vs raw |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results:
        if "error" in r:
            lines.append(f"| {name} | failed ({r['error']}) | | | | | |")
            continue
        ratio = f"{r['step_s'] / raw['step_s']:.2f}" if raw.get("step_s") and r["steps_timed"] else ""
        step = f"{r['step_s']:.1f} s" if r["steps_timed"] else ""
        lines.append(f"| {name} | {r['load_s']:.1f} s | {step} | {r['decode_s']:.1f} s | "
                     f"{r['rss_loaded_mb'] / 1024:.2f} GB | {r['peak_render_mb'] / 1024:.2f} GB | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="the small random model, three configurations")
    ap.add_argument("--write", type=Path, help="put the table into this markdown file (its own section)")
    ap.add_argument("--vae-only", action="store_true", help="only the VAE decode rows")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return
    results = run(args.quick, only_vae=args.vae_only)
    size = 32 if args.quick else 512
    text = (f"{SECTION}\n\n`python -m bench.sd_cpu` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
            f"{size}x{size}, PNDM, CFG on; one fresh process per row.\n\n" + table(results, size))
    print(text)
    if args.write:
        write_section(args.write, SECTION, text)
    sys.exit(1 if any("error" in r for _, r in results) else 0)


if __name__ == "__main__":
    main()
