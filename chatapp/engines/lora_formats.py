"""LoRA files in other tools' layouts: a PEFT adapter's own config, diffusers' attention-processor layout renamed, and a count of what applied."""
from __future__ import annotations

import json
from pathlib import Path


def adapter_task(path: Path) -> str:
    """The task_type in a PEFT adapter_config.json beside the file ("" when there is none)."""
    config = path.with_name("adapter_config.json")
    try:
        if config.is_file() and config.stat().st_size < 100_000:
            return str(json.loads(config.read_text(encoding="utf-8")).get("task_type") or "")
    except (OSError, ValueError, AttributeError):
        pass
    return ""


def processor_state_dict(path: Path) -> dict:
    """diffusers' attention-processor LoRA renamed to the layout load_lora_weights reads (diffusers 0.42
    loads the raw names as 0 layers): unet.X.processor.to_q_lora.down.weight -> unet.X.to_q.lora_A.weight."""
    from safetensors.torch import load_file
    from .lora import _module   # here, not at the top: lora imports this module
    out = {}
    for key, tensor in load_file(str(path)).items():
        parsed = _module(key)
        if parsed is None:
            continue
        comp, module, part = parsed
        if part in ("down", "up"):
            out[f"{comp}.{module}.lora_{'A' if part == 'down' else 'B'}.weight"] = tensor
    return out


def applied_layers(pipe, adapter: str) -> int:
    """How many of the pipeline's layers carry `adapter` after loading: 0 means nothing matched."""
    count = 0
    for part in ("unet", "text_encoder", "text_encoder_2"):
        model = getattr(pipe, part, None)
        if model is None:
            continue
        for module in model.modules():
            lora_a = getattr(module, "lora_A", None)
            if lora_a is not None and hasattr(lora_a, "keys") and adapter in lora_a.keys():
                count += 1
    return count
