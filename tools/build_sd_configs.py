"""Writes resources/sd_configs/: the diffusers config trees single-file checkpoints load with, offline.

`python tools/build_sd_configs.py [--bpe PATH]`. Each kind folder holds JSON only (model_index.json,
unet/, vae/, text_encoder(_2)/, scheduler/, tokenizer(_2)/ settings, chatapp.json defaults); the CLIP
BPE vocabulary (vocab.json, merges.txt, ~1.6 MB) is written once to clip_bpe/ and joined in at load
time by chatapp.engines.single_file, so six kinds do not carry eight copies of it.

The vocabulary is OpenAI CLIP's public BPE, read from the file pip package open_clip_torch ships
(bpe_simple_vocab_16e6.txt.gz); nothing is downloaded from a model hub. It is needed only to run
this tool, not by the app:
    pip install --no-deps --target ~/.cache/chatapp-tools/open_clip 'open_clip_torch==3.3.0'
    PYTHONPATH=~/.cache/chatapp-tools/open_clip python tools/build_sd_configs.py
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import shutil
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "resources" / "sd_configs"
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
N_MERGES = 49152 - 256 - 2   # CLIP's vocabulary: 256 bytes x 2 (+ "</w>"), these merges, BOS, EOS = 49408

SD_BETAS = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
            "trained_betas": None, "steps_offset": 1, "clip_sample": False, "set_alpha_to_one": False}
CROSS = ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",)
CROSS_UP = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3
UNET_COMMON = {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "center_input_sample": False,
               "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
               "out_channels": 4, "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05,
               "norm_num_groups": 32, "dual_cross_attention": False, "only_cross_attention": False}
SD1_UNET = dict(UNET_COMMON, sample_size=64, block_out_channels=[320, 640, 1280, 1280], attention_head_dim=8,
                cross_attention_dim=768, down_block_types=list(CROSS), up_block_types=list(CROSS_UP))
SD2_UNET = dict(SD1_UNET, attention_head_dim=[5, 10, 20, 20], cross_attention_dim=1024, use_linear_projection=True,
                upcast_attention=False)
SDXL_UNET = dict(UNET_COMMON, sample_size=128, block_out_channels=[320, 640, 1280], attention_head_dim=[5, 10, 20],
                 cross_attention_dim=2048, transformer_layers_per_block=[1, 2, 10], use_linear_projection=True,
                 down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                 up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                 addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816, upcast_attention=None)
VAE = {"_class_name": "AutoencoderKL", "act_fn": "silu", "in_channels": 3, "out_channels": 3, "latent_channels": 4,
       "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "norm_num_groups": 32,
       "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
       "sample_size": 512, "scaling_factor": 0.18215}
CLIP_L = {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": 49408,
          "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
          "max_position_embeddings": 77, "hidden_act": "quick_gelu", "projection_dim": 768, "layer_norm_eps": 1e-05,
          "attention_dropout": 0.0, "dropout": 0.0, "initializer_factor": 1.0, "initializer_range": 0.02,
          # CLIP's original ids here, as published configs have them: transformers then finds the
          # pooled (EOS) position by argmax of the ids, which is the EOS token 49407.
          "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
# OpenCLIP ViT-H (SD 2.x): SD 2 reads the penultimate layer, so the encoder keeps 23 of its 24 layers.
OPENCLIP_H = dict(CLIP_L, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
                  hidden_act="gelu", projection_dim=512)
OPENCLIP_BIGG = dict(CLIP_L, architectures=["CLIPTextModelWithProjection"], hidden_size=1280, intermediate_size=5120,
                     num_hidden_layers=32, num_attention_heads=20, hidden_act="gelu", projection_dim=1280)
PNDM = dict(SD_BETAS, _class_name="PNDMScheduler", skip_prk_steps=True, prediction_type="epsilon")
DDIM = dict(SD_BETAS, _class_name="DDIMScheduler", prediction_type="epsilon")
EULER = dict(SD_BETAS, _class_name="EulerDiscreteScheduler", prediction_type="epsilon", interpolation_type="linear",
             timestep_spacing="leading", use_karras_sigmas=False)
# Turbo models were distilled to 1-4 steps with "trailing" timesteps (the last step starts at pure noise).
EULER_TRAILING = dict(EULER, timestep_spacing="trailing")
EULER_A_TRAILING = dict(SD_BETAS, _class_name="EulerAncestralDiscreteScheduler", prediction_type="epsilon",
                        timestep_spacing="trailing")


def sd_index(pipeline: str, xl: bool) -> dict:
    index = {"_class_name": pipeline, "_diffusers_version": "0.30.0", "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers", "EulerDiscreteScheduler"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"]}
    if xl:
        # SDXL's published index says so too: an empty prompt is a zero embedding, not CLIP("").
        index.update(text_encoder_2=["transformers", "CLIPTextModelWithProjection"],
                     tokenizer_2=["transformers", "CLIPTokenizer"], force_zeros_for_empty_prompt=True,
                     image_encoder=[None, None], feature_extractor=[None, None])
    else:
        index.update(safety_checker=[None, None], feature_extractor=[None, None], requires_safety_checker=False,
                     image_encoder=[None, None])
    return index


# kind -> (pipeline, unet, vae, text encoders, tokenizer pad tokens, scheduler, chatapp defaults)
KINDS = {
    "sd1": ("StableDiffusionPipeline", SD1_UNET, VAE, [CLIP_L], [EOS], PNDM,
            {"steps": 25, "cfg": 7.0, "width": 512, "height": 512}),
    "sd2": ("StableDiffusionPipeline", SD2_UNET, VAE, [OPENCLIP_H], ["!"], dict(DDIM),
            {"steps": 25, "cfg": 7.0, "width": 512, "height": 512}),
    "sd2-v": ("StableDiffusionPipeline", dict(SD2_UNET, sample_size=96, upcast_attention=True),
              dict(VAE, sample_size=768), [OPENCLIP_H], ["!"], dict(DDIM, prediction_type="v_prediction"),
              {"steps": 25, "cfg": 7.0, "width": 768, "height": 768}),
    "sdxl": ("StableDiffusionXLPipeline", SDXL_UNET,
             dict(VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True),
             [CLIP_L, OPENCLIP_BIGG], [EOS, "!"], EULER,
             {"steps": 25, "cfg": 7.0, "width": 1024, "height": 1024}),
    "sd-turbo": ("StableDiffusionPipeline", SD2_UNET, VAE, [OPENCLIP_H], ["!"], EULER_TRAILING,
                 {"steps": 1, "cfg": 0.0, "width": 512, "height": 512}),
    "sdxl-turbo": ("StableDiffusionXLPipeline", dict(SDXL_UNET, sample_size=64),
                   dict(VAE, sample_size=512, scaling_factor=0.13025, force_upcast=True),
                   [CLIP_L, OPENCLIP_BIGG], [EOS, "!"], EULER_A_TRAILING,
                   {"steps": 1, "cfg": 0.0, "width": 512, "height": 512}),
}


def tokenizer_settings(pad: str) -> tuple[dict, dict]:
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": pad}
    config = dict(special, tokenizer_class="CLIPTokenizer", model_max_length=77, do_lower_case=True,
                  errors="replace", add_prefix_space=False, clean_up_tokenization_spaces=True)
    return config, special


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_bpe(bpe_gz: Path, out: Path) -> None:
    """vocab.json + merges.txt in the layout CLIPTokenizer reads, built the way CLIP builds its encoder."""
    merges = gzip.open(bpe_gz).read().decode("utf-8").split("\n")[1:N_MERGES + 1]
    base = list(bytes_to_unicode().values())
    vocab = base + [v + "</w>" for v in base] + ["".join(m.split()) for m in merges] + [BOS, EOS]
    encoder = {tok: i for i, tok in enumerate(vocab)}
    assert len(encoder) == 49408 and encoder[BOS] == 49406 and encoder[EOS] == 49407, len(encoder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(encoder, ensure_ascii=False, separators=(",", ":")) + "\n")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")


def find_bpe() -> Path:
    spec = importlib.util.find_spec("open_clip")   # no import: open_clip would pull in torch and timm
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open_clip_torch is not installed; see this tool's docstring, or pass --bpe PATH")
    return Path(list(spec.submodule_search_locations)[0]) / "bpe_simple_vocab_16e6.txt.gz"


def check_against_open_clip(out: Path) -> None:
    """Our files through transformers' CLIPTokenizer must give open_clip's own token ids."""
    from transformers import CLIPTokenizer
    # Its tokenizer.py alone (needs ftfy and regex): the package's __init__ would pull in timm.
    spec = importlib.util.spec_from_file_location("open_clip_tokenizer", find_bpe().parent / "tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    SimpleTokenizer = module.SimpleTokenizer
    ours = CLIPTokenizer(str(out / "clip_bpe" / "vocab.json"), str(out / "clip_bpe" / "merges.txt"))
    theirs = SimpleTokenizer()
    for prompt in ["a photo of a cat", "A Red CIRCLE on a blue background!!", "café, naïve 12.5% <tag> x2",
                   "masterpiece, best quality, (1girl:1.2), looking at viewer"]:
        a = ours(prompt).input_ids
        b = [theirs.sot_token_id, *theirs.encode(prompt), theirs.eot_token_id]
        assert a == b, (prompt, a, b)
    print("tokenizer matches open_clip's on the check prompts")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bpe", type=Path, help="bpe_simple_vocab_16e6.txt.gz (default: from open_clip_torch)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    write_bpe(args.bpe or find_bpe(), args.out / "clip_bpe")
    for kind, (pipeline, unet, vae, encoders, pads, scheduler, defaults) in KINDS.items():
        folder = args.out / kind
        shutil.rmtree(folder, ignore_errors=True)
        xl = len(encoders) == 2
        write_json(folder / "model_index.json", dict(sd_index(pipeline, xl), scheduler=["diffusers", scheduler["_class_name"]]))
        write_json(folder / "unet" / "config.json", unet)
        write_json(folder / "vae" / "config.json", vae)
        write_json(folder / "scheduler" / "scheduler_config.json", scheduler)
        write_json(folder / "chatapp.json", dict(defaults, kind=kind))
        for n, (encoder, pad) in enumerate(zip(encoders, pads)):
            suffix = f"_{n + 1}" if n else ""
            write_json(folder / f"text_encoder{suffix}" / "config.json", encoder)
            config, special = tokenizer_settings(pad)
            write_json(folder / f"tokenizer{suffix}" / "tokenizer_config.json", config)
            write_json(folder / f"tokenizer{suffix}" / "special_tokens_map.json", special)
    print(f"wrote {', '.join(KINDS)} and clip_bpe/ under {args.out}")
    if importlib.util.find_spec("open_clip") is not None and importlib.util.find_spec("ftfy") is not None:
        check_against_open_clip(args.out)


if __name__ == "__main__":
    main()
