"""Scheduler names users type, the diffusers classes behind them, and AUTOMATIC1111's sampler names."""
from __future__ import annotations

# flag name -> (diffusers class name, AUTOMATIC1111 "Sampler" name)
SCHEDULERS: dict[str, tuple[str, str]] = {
    "dpm++2m": ("DPMSolverMultistepScheduler", "DPM++ 2M"),
    "euler": ("EulerDiscreteScheduler", "Euler"),
    "euler-a": ("EulerAncestralDiscreteScheduler", "Euler a"),
    "ddim": ("DDIMScheduler", "DDIM"),
    "pndm": ("PNDMScheduler", "PLMS"),
    "lms": ("LMSDiscreteScheduler", "LMS"),
    "heun": ("HeunDiscreteScheduler", "Heun"),
    "unipc": ("UniPCMultistepScheduler", "UniPC"),
}


def flag_for_class(class_name: str) -> str | None:
    return next((flag for flag, (cls, _) in SCHEDULERS.items() if cls == class_name), None)


def flag_for_sampler(sampler: str) -> str | None:
    """A1111 sampler name (as another tool wrote it) -> our flag; tolerant of case and suffixes."""
    s = sampler.strip().lower()
    for flag, (_, name) in SCHEDULERS.items():
        if s == name.lower():
            return flag
    for flag, (_, name) in sorted(SCHEDULERS.items(), key=lambda kv: -len(kv[1][1])):
        if s.startswith(name.lower()):
            return flag
    return None
