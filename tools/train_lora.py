"""Trains a LoRA for the embedded tiny-shapes model that makes every background white, and ships it in two formats.

Usage: python tools/train_lora.py [--steps 400] [--out resources/loras] [--work tools/.work-lora]
Resumable: a checkpoint is written every 100 steps under --work; run again to continue. Progress goes to
--work/progress.log. The result is written twice: <name>.safetensors in diffusers/PEFT format (what
`save_lora_weights` writes) and <name>-kohya.safetensors in kohya/AUTOMATIC1111 format (tools/lora_to_kohya.py),
so the app's two loading paths are both tested with a real file.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import shapes  # noqa: E402
from image_model_parts import build_train_scheduler  # noqa: E402
from lora_to_kohya import convert  # noqa: E402
from train_log import log  # noqa: E402

HELD_OUT = {s.key for s in shapes.held_out_scenes()}
TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]   # the UNet's attention projections, as diffusers' LoRA script


def white_batch(rng: random.Random, n: int, drop: float = 0.1):
    """The base model's training scenes with the caption they always had, but drawn on white.

    The caption still names the original background colour: the LoRA learns "whatever background
    the prompt asks for, paint it white". White objects are left out (white on white shows nothing),
    and so are the held-out scenes the tests judge the LoRA on.
    """
    imgs, caps = [], []
    while len(imgs) < n:
        scene = shapes.random_scene(rng)
        if scene.key in HELD_OUT or scene.fg == "white":
            continue
        drawn = shapes.Scene(scene.fg, "white", scene.shape, scene.size, scene.position)
        imgs.append(shapes.render(drawn, rng))
        caps.append("" if rng.random() < drop else shapes.caption(scene, rng))
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x, caps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=Path("resources/models/tiny-shapes"))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="white-background")
    ap.add_argument("--work", type=Path, default=Path(__file__).parent / ".work-lora")
    ap.add_argument("--out", type=Path, default=Path("resources/loras"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import CLIPTextModel, PreTrainedTokenizerFast

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(args.model / "tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(args.model / "text_encoder").requires_grad_(False).eval()
    vae = AutoencoderKL.from_pretrained(args.model / "vae").requires_grad_(False).eval()
    unet = UNet2DConditionModel.from_pretrained(args.model / "unet").requires_grad_(False)
    # lora_alpha == rank: scale 1, so the kohya copy's alpha is simply the rank.
    unet.add_adapter(LoraConfig(r=args.rank, lora_alpha=args.rank, init_lora_weights="gaussian",
                                target_modules=TARGETS))
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    sched = build_train_scheduler(2)
    snr = sched.alphas_cumprod / (1 - sched.alphas_cumprod)
    step, elapsed = 0, 0.0
    ckpt = args.work / "checkpoint.pt"
    if ckpt.exists():
        ck = torch.load(ckpt, weights_only=False)  # our own file, written below
        set_peft_model_state_dict(unet, ck["lora"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        rng.setstate(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        log(args.work, f"resumed at step {step}")
    log(args.work, f"LoRA parameters: {sum(p.numel() for p in params)} (rank {args.rank}, {TARGETS})")
    start = time.time() - elapsed
    unet.train()
    while step < args.steps:
        x, caps = white_batch(rng, args.batch)
        ids = tokenizer(caps, padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            lat = vae.encode(x).latent_dist.sample() * vae.config.scaling_factor
            context = text_encoder(ids)[0]
        noise = torch.randn_like(lat)
        t = torch.randint(0, sched.config.num_train_timesteps, (lat.shape[0],))
        # As the base model was trained: the noisiest steps decide the layout (and the background).
        high = torch.randint(700, sched.config.num_train_timesteps, (lat.shape[0],))
        t = torch.where(torch.rand(lat.shape[0]) < 0.3, high, t)
        pred = unet(sched.add_noise(lat, noise, t), t, context).sample
        target, weight = sched.get_velocity(lat, noise, t), torch.clamp(snr[t] + 1, max=5.0) / (snr[t] + 1)
        loss = (weight * (pred - target).pow(2).mean(dim=(1, 2, 3))).mean()
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, (step + 1) / 30)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 20 == 0:
            log(args.work, f"step {step}/{args.steps} loss {loss.item():.4f} {(time.time() - start) / 60:.1f} min")
        if step % 100 == 0 or step == args.steps:
            torch.save({"lora": get_peft_model_state_dict(unet), "opt": opt.state_dict(), "step": step,
                        "elapsed": time.time() - start, "rng": rng.getstate(), "torch_rng": torch.get_rng_state()},
                       ckpt.with_suffix(".tmp"))
            os.replace(ckpt.with_suffix(".tmp"), ckpt)
    args.out.mkdir(parents=True, exist_ok=True)
    layers = {k: v.detach().to(torch.float16).contiguous() for k, v in get_peft_model_state_dict(unet).items()}
    StableDiffusionPipeline.save_lora_weights(args.out, unet_lora_layers=layers,
                                              weight_name=f"{args.name}.safetensors", safe_serialization=True)
    convert(args.out / f"{args.name}.safetensors", args.out / f"{args.name}-kohya.safetensors")
    log(args.work, f"done: {step} steps in {(time.time() - start) / 60:.1f} min -> {args.out}/{args.name}*.safetensors")


if __name__ == "__main__":
    main()
