"""Where and how a diffusion model runs: device, dtype, CPU threads, memory check, errors in plain words."""
from __future__ import annotations

import time
from pathlib import Path

from .base import EngineError
from .cpu import cores
from .safetensors_header import read_header

PRECISIONS = ("auto", "float32", "bfloat16")
# bfloat16 and all cores pay off on big models only; small ones (the embedded 3.8 M one) stay in
# float32 on half the cores, which keeps their pixels identical on every machine.
BIG_MODEL_PARAMS = 100_000_000
_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
          "F8_E4M3": 1, "F8_E5M2": 1}
GIB = 1024 ** 3


def image_threads(setting: int, chat_busy: bool, params: int = 0) -> int:
    """Torch threads for a picture: the setting, or for a big model every core while no reply
    streams. Half the cores otherwise: while a reply streams (on 2 cores llama.cpp's spinning
    barrier stalls if torch takes both), and always for small models, whose short ops gain nothing
    from more threads and lose badly when the machine is busy (each parallel region waits for every
    thread to be scheduled: 0.011 -> 2.4 s per step at load 12 on 2 cores, measured)."""
    n = cores()
    if setting > 0:
        # Never more than the cores this process may use, whoever asks (an old settings file, serve):
        # 256 on 2 cores made a 0.8 s picture take 35 s, 100000 failed with "Cannot allocate memory".
        return min(setting, n)
    return n if params >= BIG_MODEL_PARAMS and not chat_busy else max(1, n // 2)


def cpu_bf16_supported() -> bool:
    import torch
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_bf16_faster: bool | None = None


def bf16_measures_faster() -> bool:
    """Time an SD-sized convolution and matmul in both dtypes, interleaved, once per process
    (~0.3 s). The best of several runs: another program's load only ever adds time."""
    global _bf16_faster
    if _bf16_faster is None:
        import torch
        import torch.nn.functional as F
        data = {dt: (torch.randn(1, 320, 32, 32, dtype=dt), torch.randn(320, 320, 3, 3, dtype=dt),
                     torch.randn(2048, 320, dtype=dt), torch.randn(320, 1280, dtype=dt))
                for dt in (torch.float32, torch.bfloat16)}
        best = {dt: float("inf") for dt in data}
        with torch.no_grad():
            for _ in range(6):
                for dt, (x, w, a, b) in data.items():
                    t = time.perf_counter()
                    F.conv2d(x, w, padding=1)
                    a @ b
                    best[dt] = min(best[dt], time.perf_counter() - t)
        _bf16_faster = best[torch.bfloat16] < 0.8 * best[torch.float32]
    return _bf16_faster


def choose_device_dtype(precision: str, params: int):
    """(device, torch dtype) for a model of `params` parameters. Every component is loaded in this
    dtype: left alone, transformers follows the text encoder's config (often float16) while
    diffusers loads the UNet in float32, and the first matmul fails on mixed dtypes."""
    import torch
    if torch.cuda.is_available():
        device = "cuda"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    if precision == "float32":
        return device, torch.float32
    if device != "cpu":
        return device, torch.bfloat16 if precision == "bfloat16" else torch.float16
    if precision == "bfloat16":
        if not cpu_bf16_supported():
            raise EngineError("This processor has no bfloat16 support; set Images > Precision to auto or float32.")
        return device, torch.bfloat16
    # float16 on a CPU is slow or unsupported: auto means float32, or bfloat16 where it is faster.
    if params >= BIG_MODEL_PARAMS and cpu_bf16_supported() and bf16_measures_faster():
        return device, torch.bfloat16
    return device, torch.float32


def dtype_keyword() -> str:
    """diffusers renamed from_pretrained's `torch_dtype` to `dtype` (the old name warns)."""
    from diffusers.utils import deprecation_utils
    return "dtype" if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"


# --- memory ---------------------------------------------------------------------------------------
def _safetensors_params(path: Path) -> int:
    """Parameter count from a .safetensors header (no tensor is read)."""
    header = read_header(path)
    total = 0
    for name, info in header.items():
        if name != "__metadata__":
            count = 1
            for d in info.get("shape", []):
                count *= d
            total += count
    return total


def weights_files(model: Path) -> dict[str, list[Path]]:
    """The .safetensors files from_pretrained will read, per component (variants like .fp16 only
    where a component has nothing else)."""
    if model.is_file():
        return {"model": [model]}
    found = {}
    for sub in sorted(p for p in model.iterdir() if p.is_dir()):
        files = sorted(sub.glob("*.safetensors"))
        plain = [f for f in files if len(f.name.split(".")) == 2]
        if files:
            found[sub.name] = plain or files
    return found


def model_params(model: Path) -> dict[str, int]:
    out = {}
    for part, files in weights_files(model).items():
        try:
            out[part] = sum(_safetensors_params(f) for f in files)
        except (OSError, ValueError):   # read_header: BadHeader and NotRegularFile are ValueErrors
            out[part] = 0
    return out


def available_memory() -> int | None:
    """Bytes the system can still give us (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except Exception:
        return None


def check_memory(name: str, params: int, bytes_per_param: int, available: int | None) -> str:
    """Raise when the weights alone cannot fit; return a warning when rendering probably will not."""
    if available is None or params == 0:
        return ""
    weights = params * bytes_per_param
    # Rendering at the native size needed ~40% on top of the weights for SD 1.5 here (bench).
    if weights > available:
        raise EngineError(
            f"{name} needs about {weights / GIB:.1f} GB of memory for its weights, but only "
            f"{available / GIB:.1f} GB is free. Close other programs, or choose a smaller image model.")
    if weights * 1.4 > available:
        return (f"{name} needs about {weights * 1.4 / GIB:.1f} GB while drawing and {available / GIB:.1f} GB is "
                "free: it may run out of memory. Turn on the memory-saving options in Settings > Images "
                "and keep pictures small.")
    return ""


# --- errors ---------------------------------------------------------------------------------------
def plain_error(exc: BaseException) -> str | None:
    """A library's dtype/device/memory error in words a user can act on; None when not one of those."""
    text = str(exc)
    low = text.lower()
    if ("same dtype" in low or "expected scalar type" in low or ("input type" in low and "weight type" in low)
            or "dtype mismatch" in low):
        return ("The image model's parts are stored in different number formats (e.g. float16 and float32) and "
                "could not work together. Set Images > Precision to float32 in Settings and try again. "
                f"(Details: {text.splitlines()[0][:160]})")
    if "not implemented for 'half'" in low or "not implemented for 'bfloat16'" in low:
        return ("This processor cannot compute in the model's number format. Set Images > Precision to "
                "float32 in Settings and try again.")
    if "same device" in low:
        return ("The image model's parts ended up on different devices. Turn CPU offload off in Settings > "
                "Images and try again.")
    if "out of memory" in low or "can't allocate memory" in low or "not enough memory" in low:
        return ("Not enough memory for this picture. Try a smaller --size, or turn on the memory-saving options "
                "in Settings > Images.")
    return None
