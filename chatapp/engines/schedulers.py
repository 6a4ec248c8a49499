"""The diffusers scheduler class behind each scheduler name (the names themselves: recipes/samplers.py)."""
from __future__ import annotations

# flag name (recipes.samplers.SCHEDULER_NAMES) -> diffusers class name. A "-karras"/"-exponential" flag is its
# class with diffusers' use_karras_sigmas/use_exponential_sigmas on (SIGMA_OPTIONS).
SCHEDULER_CLASSES: dict[str, str] = {
    "dpm++2m": "DPMSolverMultistepScheduler",
    "dpm++2m-karras": "DPMSolverMultistepScheduler",
    "dpm++2m-exponential": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-karras": "EulerDiscreteScheduler",
    "euler-exponential": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
    "heun": "HeunDiscreteScheduler",
    "heun-karras": "HeunDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
    "unipc-karras": "UniPCMultistepScheduler",
}
SIGMA_OPTIONS = ("use_karras_sigmas", "use_exponential_sigmas")
# Classes that take SIGMA_OPTIONS: switching to their plain flag must turn a schedule off again.
SIGMA_CLASSES = {cls for flag, cls in SCHEDULER_CLASSES.items() if flag.endswith(("-karras", "-exponential"))}


def sigma_options(flag: str) -> dict[str, bool]:
    """The from_config keywords that give `flag` its sigma schedule (all off for a plain flag)."""
    if SCHEDULER_CLASSES.get(flag, "") not in SIGMA_CLASSES:
        return {}
    return {"use_karras_sigmas": flag.endswith("-karras"), "use_exponential_sigmas": flag.endswith("-exponential")}


def flag_for_class(class_name: str, config=None) -> str | None:
    """Our flag for a loaded scheduler; its config says whether it runs a Karras/exponential schedule."""
    config = config or {}
    for schedule in ("karras", "exponential"):
        if config.get(f"use_{schedule}_sigmas"):
            flag = next((f for f, cls in SCHEDULER_CLASSES.items() if cls == class_name and f.endswith(schedule)), None)
            if flag:
                return flag
    return next((flag for flag, cls in SCHEDULER_CLASSES.items() if cls == class_name), None)
