"""Which base model a LoRA or a model folder is, told from files alone: UNet configs and block widths."""
from __future__ import annotations

import json
import re
from pathlib import Path

# chatapp's own tiny models all read 128-wide text; their UNet block widths tell them apart.
TINY_KINDS = {(32, 64, 96): "tiny-shapes", (64, 96, 128): "tiny-things"}


def unet_config(folder: Path) -> dict:
    """A diffusers folder's UNet config (raises OSError / ValueError when it has none or it is not JSON)."""
    return json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))


def model_channels(model: Path) -> tuple[int, ...] | None:
    """A diffusers folder's UNet block widths (block_out_channels); None when not a folder or not said. Two
    models with the same text width (tiny-shapes and the everyday-things model: 128) differ here."""
    try:
        channels = unet_config(model)["block_out_channels"]
        return tuple(int(c) for c in channels)
    except (OSError, ValueError, KeyError, TypeError):
        return None


_ATTENTION = re.compile(r"(down_blocks|up_blocks|mid_block)[._](?:(\d+)[._])?attentions[._].*attn[12][._]to[._](q|k|v|out)")


def widths_fit(info, channels: tuple[int, ...], strict: bool = False) -> bool:
    """Every attention projection the LoRA (a LoraInfo) changes writes as many features as that UNet block has channels
    (strict: and there is at least one such projection to tell by)."""
    checked = 0
    for module, (_, out) in info.shapes.items():
        m = _ATTENTION.match(module)
        if m is None or out is None or (m[1] != "mid_block" and m[2] is None):
            continue   # other layers, SDXL's original block names: not told from the config alone
        index = int(m[2] or 0)
        widths = channels if m[1] == "down_blocks" else channels[::-1]
        want = channels[-1] if m[1] == "mid_block" else widths[index] if index < len(widths) else None
        if want != out:
            return False
        checked += 1
    return checked > 0 or not strict
