"""Trains chatapp's embedded tiny text-to-image models and writes them as diffusers folders.

Usage: python tools/train_image_model.py [--model shapes|emoji] [--steps N] [--out DIR] [--chunk-minutes M]
Resumable: checkpoints go to --work (tools/.work/ for shapes, tools/.work/emoji/ for emoji), written
every few minutes; run again to continue where it stopped. Progress lines go to <work>/progress.log.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import emoji_scenes  # noqa: E402
import shapes  # noqa: E402
from image_model_parts import (build_text_encoder, build_tokenizer, build_train_scheduler,  # noqa: E402
                               build_unet, build_vae)
from train_log import log  # noqa: E402

HELD_OUT = {s.key for s in shapes.held_out_scenes()}
WORK = Path(__file__).parent / ".work"


def shapes_example(rng: random.Random, drop: float):
    while True:
        scene = shapes.random_scene(rng)
        if scene.key not in HELD_OUT:
            return shapes.render(scene, rng), ("" if rng.random() < drop else shapes.caption(scene, rng))


@dataclass(frozen=True)
class Recipe:
    """What differs between the embedded models: their data, words and sizes (the training is shared)."""
    example: Callable[[random.Random, float], tuple]
    words: Callable[[], list[str]]
    max_tokens: int
    unet_channels: tuple[int, ...]
    work: Path
    out: Path
    steps: int
    vae_steps: int
    cfg: float = 3.0   # the app's default guidance for the model (its chatapp.json)


RECIPES = {
    "shapes": Recipe(shapes_example, shapes.vocabulary, 24, (32, 64, 96), WORK,
                     Path("resources/models/tiny-shapes"), 6000, 1000),
    # Written beside its checkpoints; shipped (resources/models/tiny-things) by hand once its eval is read.
    # CFG 6: two-thing prompts both right 50-53% against 38% at 3, one thing 74.7% against 75.3% (step 14,000).
    "emoji": Recipe(emoji_scenes.training_example, emoji_scenes.vocabulary, 32, (64, 96, 128), WORK / "emoji",
                    WORK / "emoji" / "model", 30000, 3000, cfg=6.0),
}
RECIPE = RECIPES["shapes"]


def training_batch(rng: random.Random, n: int, drop: float = 0.1):
    """n pictures in [-1, 1] with captions; held-out scenes are never drawn."""
    imgs, caps = zip(*(RECIPE.example(rng, drop) for _ in range(n)))
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x, list(caps)


def train_vae(vae, work: Path, steps: int, rng: random.Random):
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3)
    for step in range(steps):
        x, _ = training_batch(rng, 32, drop=0)
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.sample()).sample
        kl = post.kl().mean()
        loss = (rec - x).abs().mean() + (rec - x).pow(2).mean() + 1e-6 * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(work, f"vae step {step} loss {loss.item():.4f}")
    vae.requires_grad_(False).eval()
    with torch.no_grad():
        lat = torch.cat([vae.encode(training_batch(rng, 64, 0)[0]).latent_dist.mean for _ in range(8)])
    vae.register_to_config(scaling_factor=float(1.0 / lat.std()))
    log(work, f"vae scaling factor {vae.config.scaling_factor:.4f}")


def export(out: Path, vae, text_encoder, tokenizer, unet, steps_done: int, minutes: float, phase: int = 2):
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline
    sched = DPMSolverMultistepScheduler.from_config(build_train_scheduler(phase).config, steps_offset=1)
    # Said outright for the schedulers a user may switch to: DDIM's default (clip_sample=True) clips the
    # predicted latents to [-1, 1] and gave the wrong background colour in 70-96% of pictures.
    sched.register_to_config(clip_sample=False)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=sched, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(out, safe_serialization=True)
    # The app reads its defaults for this model from here (stock diffusers ignores the file).
    (out / "chatapp.json").write_text(json.dumps({
        "steps": 20, "cfg": RECIPE.cfg, "width": 32, "height": 32,
        "training_steps": steps_done, "training_minutes": round(minutes, 1)}, indent=2))


def fit_latent_rgb(vae, rng: random.Random) -> list[list[float]]:
    """Least-squares latent -> RGB map (4 factors + bias): the app's cheap live preview."""
    with torch.no_grad():
        x, _ = training_batch(rng, 256, drop=0)
        z = vae.encode(x).latent_dist.mean * vae.config.scaling_factor      # what the pipeline's callback sees
        rgb = torch.nn.functional.avg_pool2d(x, 2)                           # 16x16, like the latent
        a = torch.cat([z.permute(0, 2, 3, 1).reshape(-1, 4), torch.ones(z.numel() // 4, 1)], dim=1)
        b = rgb.permute(0, 2, 3, 1).reshape(-1, 3)
        w = torch.linalg.lstsq(a, b).solution
    return [[round(float(v), 5) for v in row] for row in w]


def finalize(out: Path, args) -> None:
    """Record what the app and the model card need beside the weights (chatapp.json)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel
    vae = AutoencoderKL.from_pretrained(out / "vae")
    unet = UNet2DConditionModel.from_pretrained(out / "unet")
    te = CLIPTextModel.from_pretrained(out / "text_encoder")
    card = json.loads((out / "chatapp.json").read_text())
    card.update({
        "parameters": {"unet": sum(p.numel() for p in unet.parameters()),
                       "total": sum(p.numel() for m in (unet, te, vae) for p in m.parameters())},
        "switch_step": args.switch_step, "vae_steps": args.vae_steps, "max_size": 64,
        "latent_rgb": fit_latent_rgb(vae, random.Random(args.seed + 1))})
    (out / "chatapp.json").write_text(json.dumps(card, indent=2))


def pick_threads(unet, text_encoder, tokenizer, vae, batch: int, work: Path) -> int:
    """The faster of 1 and 2 torch threads for a training step here and now (machines differ, and a
    busy machine can make 2 slower than 1); the weights are untouched."""
    x, caps = training_batch(random.Random(99), batch)
    ids = tokenizer(caps, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    with torch.no_grad():
        lat = vae.encode(x).latent_dist.mean
    best = {}
    for n in (1, 2, 1, 2):
        torch.set_num_threads(n)
        t0 = time.perf_counter()
        unet(lat, torch.full((batch,), 500), text_encoder(ids)[0]).sample.pow(2).mean().backward()
        best[n] = min(best.get(n, 1e9), time.perf_counter() - t0)
    unet.zero_grad(set_to_none=True)
    text_encoder.zero_grad(set_to_none=True)
    pick = 1 if best[1] < 0.9 * best[2] else 2   # single timings are noisy: 1 only when clearly faster
    log(work, "threads: " + ", ".join(f"{n}: {t:.2f} s a step" for n, t in best.items()) + f" -> {pick}")
    return pick


def main() -> None:
    global RECIPE
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", choices=RECIPES, default="shapes", help="which embedded model to train")
    ap.add_argument("--steps", type=int, help="total steps (the learning-rate schedule spans them)")
    ap.add_argument("--switch-step", type=int, default=0,
                    help="train phase 1 (SD's schedule, epsilon) until here, then phase 2 (v-prediction, "
                         "noisier schedule); 0: phase 2 from the start, which is what learns position")
    ap.add_argument("--init-vae", type=Path, help="take the VAE from this checkpoint instead of training one")
    ap.add_argument("--vae-steps", type=int)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads; 0: measure 1 and 2 on this machine now")
    ap.add_argument("--max-minutes", type=float,
                    help="stop and export when the run's total reaches this (default: no limit; the emoji "
                         "model's run is many hours in chunks, so a total cap would end every chunk at once)")
    ap.add_argument("--chunk-minutes", type=float, help="stop and export after this many minutes of this invocation")
    ap.add_argument("--checkpoint-minutes", type=float, default=5, help="checkpoint at least this often")
    ap.add_argument("--work", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--finalize-only", action="store_true", help="only (re)write chatapp.json for --out")
    args = ap.parse_args()
    RECIPE = RECIPES[args.model]
    args.steps = RECIPE.steps if args.steps is None else args.steps
    args.vae_steps = RECIPE.vae_steps if args.vae_steps is None else args.vae_steps
    args.work, args.out = args.work or RECIPE.work, args.out or RECIPE.out
    if args.finalize_only:
        finalize(args.out, args)
        return
    torch.set_num_threads(max(1, args.threads))
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.work / "checkpoint.pt"
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    tokenizer = build_tokenizer(RECIPE.words(), RECIPE.max_tokens)
    text_encoder = build_text_encoder(len(tokenizer), RECIPE.max_tokens)
    vae, unet = build_vae(), build_unet(RECIPE.unet_channels)
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    step, elapsed, phase = 0, 0.0, 1
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)  # our own file, written below
        vae.load_state_dict(ck["vae"])
        vae.register_to_config(scaling_factor=ck["scaling_factor"])
        vae.requires_grad_(False).eval()
        unet.load_state_dict(ck["unet"])
        text_encoder.load_state_dict(ck["text_encoder"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, phase = ck["step"], ck["elapsed"], ck.get("phase", 1)
        rng.setstate(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        ema_unet, ema_te = build_unet(RECIPE.unet_channels), build_text_encoder(len(tokenizer), RECIPE.max_tokens)
        ema_unet.load_state_dict(ck["ema_unet"])
        ema_te.load_state_dict(ck["ema_te"])
        log(args.work, f"resumed at step {step}")
    else:
        t0 = time.time()
        if args.init_vae:
            ck = torch.load(args.init_vae, weights_only=False)  # our own checkpoint file
            vae.load_state_dict(ck["vae"])
            vae.register_to_config(scaling_factor=ck["scaling_factor"])
            vae.requires_grad_(False).eval()
            log(args.work, f"VAE taken from {args.init_vae}")
        else:
            train_vae(vae, args.work, args.vae_steps, rng)
        elapsed = time.time() - t0
        ema_unet, ema_te = copy.deepcopy(unet), copy.deepcopy(text_encoder)
        if args.switch_step == 0:
            phase = 2
    ema_unet.requires_grad_(False)
    ema_te.requires_grad_(False)
    if args.threads == 0:
        torch.set_num_threads(pick_threads(unet, text_encoder, tokenizer, vae, args.batch, args.work))
    n_params = sum(p.numel() for m in (unet, text_encoder, vae) for p in m.parameters())
    log(args.work, f"parameters: unet {sum(p.numel() for p in unet.parameters())}, total {n_params}")

    def schedule(phase):
        s = build_train_scheduler(phase)
        return s, s.alphas_cumprod / (1 - s.alphas_cumprod)
    sched, snr = schedule(phase)
    def save_checkpoint():
        torch.save({"vae": vae.state_dict(), "scaling_factor": vae.config.scaling_factor,
                    "unet": unet.state_dict(), "text_encoder": text_encoder.state_dict(),
                    "ema_unet": ema_unet.state_dict(), "ema_te": ema_te.state_dict(),
                    "opt": opt.state_dict(), "step": step, "elapsed": time.time() - start, "phase": phase,
                    "rng": rng.getstate(), "torch_rng": torch.get_rng_state()}, ckpt_path.with_suffix(".tmp"))
        os.replace(ckpt_path.with_suffix(".tmp"), ckpt_path)

    # `kill PID` (SIGTERM) ends the run after the current step, checkpointed and exported.
    stop: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    start = time.time() - elapsed
    invoked, saved_at, saved_step = time.time(), time.time(), step
    while (not stop and step < args.steps
           and (args.max_minutes is None or (time.time() - start) / 60 < args.max_minutes)
           and (args.chunk_minutes is None or (time.time() - invoked) / 60 < args.chunk_minutes)):
        if phase == 1 and step >= args.switch_step:
            # Phase 2 starts from the EMA weights with a fresh optimizer: the target changed.
            phase = 2
            unet.load_state_dict(ema_unet.state_dict())
            text_encoder.load_state_dict(ema_te.state_dict())
            opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
            sched, snr = schedule(phase)
            log(args.work, f"phase 2 from step {step}: v-prediction, shifted cosine schedule")
        phase_start = args.switch_step if phase == 2 else 0
        phase_steps = (args.steps if phase == 2 else args.switch_step) - phase_start
        k = step - phase_start
        x, caps = training_batch(rng, args.batch)
        ids = tokenizer(caps, padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            lat = vae.encode(x).latent_dist.sample() * vae.config.scaling_factor
        noise = torch.randn_like(lat)
        t = torch.randint(0, sched.config.num_train_timesteps, (lat.shape[0],))
        if phase == 2:
            # 30% of the batch from the noisiest 30%: that is where the layout (the object's
            # place) is decided, and where the model must learn to take it from the words.
            high = torch.randint(700, sched.config.num_train_timesteps, (lat.shape[0],))
            t = torch.where(torch.rand(lat.shape[0]) < 0.3, high, t)
        noisy = sched.add_noise(lat, noise, t)
        pred = unet(noisy, t, text_encoder(ids)[0]).sample
        # Min-SNR-5 weighting: converges several times faster than plain MSE.
        if phase == 1:
            target, weight = noise, torch.clamp(snr[t], max=5.0) / snr[t]
        else:
            # Cap the weight of nearly clean steps (min-SNR-5) but keep full weight on noisy ones:
            # min(SNR, 5)/(SNR + 1) would all but ignore them, and position is decided there.
            target, weight = sched.get_velocity(lat, noise, t), torch.clamp(snr[t] + 1, max=5.0) / (snr[t] + 1)
        loss = (weight * (pred - target).pow(2).mean(dim=(1, 2, 3))).mean()
        lr = args.lr * min(1.0, (k + 1) / 300) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / phase_steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + k) / (10 + k))
        with torch.no_grad():
            for ema, live in ((ema_unet, unet), (ema_te, text_encoder)):
                for pe, pl in zip(ema.parameters(), live.parameters()):
                    pe.lerp_(pl, 1 - decay)
        step += 1
        if step % 50 == 0:
            log(args.work, f"step {step} loss {loss.item():.4f} lr {lr:.2e} {(time.time() - start) / 60:.1f} min")
        if step % 500 == 0 or step == args.steps or time.time() - saved_at > 60 * args.checkpoint_minutes:
            saved_at, saved_step = time.time(), step
            save_checkpoint()
            export(args.work / "snapshot", vae, ema_te, tokenizer, ema_unet, step, (time.time() - start) / 60, phase)
    signal.signal(signal.SIGTERM, previous)
    if saved_step != step:   # a chunk's end or a stop request: keep every step done
        save_checkpoint()
    minutes = (time.time() - start) / 60
    export(args.out, vae, ema_te, tokenizer, ema_unet, step, minutes, phase)
    finalize(args.out, args)
    log(args.work, f"done: {step} steps in {minutes:.1f} min -> {args.out}")


if __name__ == "__main__":
    main()
