"""Random-weight single-file checkpoints at real size, in the original (AUTOMATIC1111/LDM) tensor layout.

`python tools/make_random_checkpoint.py sd15|sdxl [--dtype float16]` prints the file's path. The
shapes come from diffusers models built from chatapp's shipped configs (resources/sd_configs/) on the
"meta" device (no memory), renamed diffusers -> LDM (tools/ldm_names.py); the values are drawn tensor
by tensor and streamed straight into the .safetensors file, so memory stays at one tensor (~250 MB)
for a 7 GB SDXL file. Built once and cached in $CHATAPP_TEST_CACHE (default ~/.cache/chatapp-test);
written to a temporary name and renamed when complete, so an interrupted build is never reused.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ldm_names  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "resources" / "sd_configs"
VERSION = 1   # bump when names or values change: the cache key
KINDS = {"sd15": "sd1", "sdxl": "sdxl"}
CODES = {"float16": "F16", "bfloat16": "BF16", "float32": "F32"}


def cache_dir() -> Path:
    return Path(os.environ.get("CHATAPP_TEST_CACHE") or Path.home() / ".cache" / "chatapp-test")


def _config(kind: str, part: str) -> dict:
    name = "scheduler_config.json" if part == "scheduler" else "config.json"
    return json.loads((CONFIGS / kind / part / name).read_text())


def _meta_shapes(model_cls, config) -> dict[str, tuple]:
    import torch
    with torch.device("meta"):
        model = model_cls.from_config(config) if hasattr(model_cls, "from_config") else model_cls(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def ldm_shapes(kind: str) -> dict[str, tuple]:
    """Every tensor of the original single-file layout for a config kind, name -> shape."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    unet, vae = _config(kind, "unet"), _config(kind, "vae")
    shapes = ldm_names.unet_names(unet, _meta_shapes(UNet2DConditionModel, unet))
    shapes.update(ldm_names.vae_names(vae, _meta_shapes(AutoencoderKL, vae)))
    te = CLIPTextConfig(**_config(kind, "text_encoder"))
    if (CONFIGS / kind / "text_encoder_2").is_dir():   # SDXL: CLIP-L beside OpenCLIP bigG
        shapes.update(ldm_names.clip_names("conditioner.embedders.0.transformer.", _meta_shapes(CLIPTextModel, te)))
        te2 = CLIPTextConfig(**_config(kind, "text_encoder_2"))
        shapes.update(ldm_names.open_clip_names("conditioner.embedders.1.model.",
                                                _meta_shapes(CLIPTextModelWithProjection, te2)))
    else:
        shapes.update(ldm_names.clip_names("cond_stage_model.transformer.", _meta_shapes(CLIPTextModel, te)))
    return shapes


def _values(name: str, shape: tuple, seed: int):
    """Plausible random values: norms 1/0, other weights ~ N(0, 1/fan_in) so activations keep their scale."""
    import torch
    if len(shape) == 1:   # every 1-D weight here is a norm's scale; every 1-D rest a bias
        return torch.ones(shape) if name.endswith(".weight") else torch.zeros(shape)
    g = torch.Generator().manual_seed(seed)
    if "embedding" in name:
        return torch.randn(shape, generator=g) * 0.02
    fan_in = math.prod(shape[1:])
    return torch.randn(shape, generator=g) / math.sqrt(fan_in)


def write_streaming(path: Path, shapes: dict[str, tuple], dtype: str, metadata: dict) -> None:
    """A .safetensors file written tensor by tensor (the header first, from the shapes alone)."""
    import torch
    tdtype = getattr(torch, dtype)
    size = torch.tensor([], dtype=tdtype).element_size()
    names = sorted(shapes)
    header, offset = {"__metadata__": metadata}, 0
    for name in names:
        n = math.prod(shapes[name]) * size
        header[name] = {"dtype": CODES[dtype], "shape": list(shapes[name]), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)   # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for i, name in enumerate(names):
            t = _values(name, shapes[name], seed=i).to(tdtype).contiguous()
            f.write(t.view(torch.uint8).numpy().tobytes() if dtype == "bfloat16" else t.numpy().tobytes())


def build(model: str = "sd15", dtype: str = "float16", folder: Path | None = None) -> Path:
    """The cached checkpoint's path, building it first when it is not there yet."""
    folder = folder or cache_dir()
    path = folder / f"{model}-random-{dtype}-v{VERSION}.safetensors"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".part{os.getpid()}")
    try:
        write_streaming(tmp, ldm_shapes(KINDS[model]), dtype, {"format": "pt", "chatapp.random": "1"})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", choices=sorted(KINDS))
    ap.add_argument("--dtype", choices=sorted(CODES), default="float16")
    ap.add_argument("--out", type=Path, help="cache folder (default $CHATAPP_TEST_CACHE or ~/.cache/chatapp-test)")
    args = ap.parse_args()
    print(build(args.model, args.dtype, args.out))


if __name__ == "__main__":
    main()
