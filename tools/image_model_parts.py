"""Builds the embedded image model's parts (tokenizer, text encoder, VAE, UNet) from configs."""
from __future__ import annotations

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

from shapes import vocabulary

MAX_TOKENS = 24  # longest caption is ~19 words; longer prompts are truncated
TEXT_HIDDEN = 128


def build_tokenizer(words: list[str] | None = None, max_tokens: int = MAX_TOKENS) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over the model's own vocabulary (tiny-shapes' by default); unknown words map to [UNK]."""
    vocab = {w: i for i, w in enumerate(words or vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", special_tokens=[("[BOS]", vocab["[BOS]"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="[BOS]",
        model_max_length=max_tokens)


def build_text_encoder(vocab_size: int, max_tokens: int = MAX_TOKENS) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=TEXT_HIDDEN, intermediate_size=TEXT_HIDDEN * 2,
        num_hidden_layers=3, num_attention_heads=4, max_position_embeddings=max_tokens,
        projection_dim=TEXT_HIDDEN, pad_token_id=0, bos_token_id=2, eos_token_id=0)
    return CLIPTextModel(config)


def build_vae():
    from diffusers import AutoencoderKL
    # Two blocks: 32x32 pictures <-> 16x16x4 latents. No attention: flat shapes need none.
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=32,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=16,
        mid_block_add_attention=False)


def build_unet(channels=(32, 64, 96)):
    from diffusers import UNet2DConditionModel
    # Cross-attention only at 8x8 and 4x4: attention at 16x16 costs several times more.
    return UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=channels,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN, attention_head_dim=16, norm_num_groups=16)


def build_train_scheduler(phase: int = 2):
    """Phase 1: Stable Diffusion's own schedule, epsilon prediction (learns colours and shapes fast).

    Phase 2: a cosine schedule shifted towards noise, v-prediction. On a 16x16 latent, SD's
    schedule leaves an object's position readable in x_t even at t=999, so the model learned
    to take position from the starting noise and ignored "left"/"top" in the prompt. Near-zero
    terminal SNR forces position to come from the text; v-prediction keeps that stable.
    """
    from diffusers import DDPMScheduler
    if phase == 1:
        return DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear",
                             beta_start=0.00085, beta_end=0.012)
    return DDPMScheduler(num_train_timesteps=1000, trained_betas=shifted_cosine_betas(),
                         prediction_type="v_prediction")


def shifted_cosine_betas(steps: int = 1000, shift: float = 2.0) -> list[float]:
    import math
    s = 0.008

    def alpha_bar(t: float) -> float:
        ab = math.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2
        ab = min(max(ab, 1e-6), 1 - 1e-6)
        log_snr = math.log(ab / (1 - ab)) - 2 * math.log(shift)
        return 1 / (1 + math.exp(-log_snr))
    return [min(1 - alpha_bar(t + 1) / alpha_bar(t), 0.999) for t in range(steps)]
