"""A real Stable Diffusion pipeline with small random weights, built from configs (no download)."""
from __future__ import annotations

from pathlib import Path


def build_random_pipeline(folder: Path, dtype: str = "float32", scheduler: str = "ddim") -> Path:
    """Saved in `dtype` ("float32", "float16" or "bfloat16"), as published folders often are: the
    text encoder's config then names that dtype too. scheduler "pndm" is SD 1.5's own (N+1 steps)."""
    import torch
    from diffusers import (AutoencoderKL, DDIMScheduler, PNDMScheduler, StableDiffusionPipeline,
                           UNet2DConditionModel)
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    words = ["[PAD]", "[UNK]", "a", "red", "blue", "circle", "square", "on", "background"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", model_max_length=8)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64,
                                                num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=8,
                                                pad_token_id=0, eos_token_id=0))
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                        norm_num_groups=8, sample_size=32)
    unet = UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(16, 32), norm_num_groups=8, cross_attention_dim=32,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=8)
    sched = (PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                           steps_offset=1, set_alpha_to_one=False) if scheduler == "pndm"
             else DDIMScheduler(steps_offset=1, clip_sample=False))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=sched, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.to(getattr(torch, dtype))
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
