"""Converts a diffusers/PEFT-format UNet LoRA (.safetensors) to kohya/AUTOMATIC1111 format.

Usage: python tools/lora_to_kohya.py IN.safetensors OUT.safetensors
diffusers:  unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight  [r, in]
kohya:      lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight  [r, in]
            ... .lora_up.weight [out, r] (from lora_B) and ... .alpha (a scalar; scale = alpha / r)
Text-encoder keys (text_encoder.*) become lora_te_*. The weights are copied unchanged, so both files
give the same picture.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

PREFIXES = {"unet.": "lora_unet_", "text_encoder.": "lora_te_"}


def convert(src: Path, dst: Path) -> int:
    """Write dst from src; returns the number of layers converted."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    out: dict = {}
    with safe_open(str(src), "pt") as f:
        meta = f.metadata() or {}
        # diffusers may record each adapter's LoRA config (rank, alpha) in the metadata.
        config = json.loads(meta.get("unet_lora_adapter_metadata", meta.get("lora_adapter_metadata", "{}")) or "{}")
        for key in f.keys():
            prefix = next((p for p in PREFIXES if key.startswith(p)), None)
            if prefix is None or not key.endswith((".lora_A.weight", ".lora_B.weight")):
                raise SystemExit(f"{src.name}: {key} is not a diffusers/PEFT LoRA key")
            module, _, part = key[len(prefix):].rpartition(".lora_")
            name = PREFIXES[prefix] + module.replace(".", "_")
            tensor = f.get_tensor(key)
            if part == "A.weight":
                out[f"{name}.lora_down.weight"] = tensor
                rank = tensor.shape[0]
                alpha = float(config.get("lora_alpha", rank)) if isinstance(config, dict) else float(rank)
                out[f"{name}.alpha"] = torch.tensor(alpha, dtype=tensor.dtype)
            else:
                out[f"{name}.lora_up.weight"] = tensor
    save_file({k: v.contiguous() for k, v in out.items()}, str(dst),
              metadata={"ss_network_module": "networks.lora", "converted_from": src.name})
    return sum(1 for k in out if k.endswith(".alpha"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(f"{convert(Path(sys.argv[1]), Path(sys.argv[2]))} layers written to {sys.argv[2]}")
