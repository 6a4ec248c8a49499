"""Scheduler names users type, the diffusers classes behind them, and AUTOMATIC1111's and ComfyUI's sampler names."""
from __future__ import annotations

# flag name -> (diffusers class name, AUTOMATIC1111 "Sampler" name). A "-karras"/"-exponential" flag is
# its class with diffusers' use_karras_sigmas/use_exponential_sigmas on (SIGMAS), written back under
# A1111's combined name ("DPM++ 2M Karras"), which A1111 itself still reads.
SCHEDULERS: dict[str, tuple[str, str]] = {
    "dpm++2m": ("DPMSolverMultistepScheduler", "DPM++ 2M"),
    "dpm++2m-karras": ("DPMSolverMultistepScheduler", "DPM++ 2M Karras"),
    "dpm++2m-exponential": ("DPMSolverMultistepScheduler", "DPM++ 2M Exponential"),
    "euler": ("EulerDiscreteScheduler", "Euler"),
    "euler-karras": ("EulerDiscreteScheduler", "Euler Karras"),
    "euler-exponential": ("EulerDiscreteScheduler", "Euler Exponential"),
    "euler-a": ("EulerAncestralDiscreteScheduler", "Euler a"),
    "ddim": ("DDIMScheduler", "DDIM"),
    "pndm": ("PNDMScheduler", "PLMS"),
    "lms": ("LMSDiscreteScheduler", "LMS"),
    "heun": ("HeunDiscreteScheduler", "Heun"),
    "heun-karras": ("HeunDiscreteScheduler", "Heun Karras"),
    "unipc": ("UniPCMultistepScheduler", "UniPC"),
    "unipc-karras": ("UniPCMultistepScheduler", "UniPC Karras"),
}
SIGMA_OPTIONS = ("use_karras_sigmas", "use_exponential_sigmas")
# Classes that take SIGMA_OPTIONS: switching to their plain flag must turn a schedule off again.
SIGMA_CLASSES = {cls for flag, (cls, _) in SCHEDULERS.items() if flag.endswith(("-karras", "-exponential"))}
_SCHEDULE_WORDS = {"karras": "karras", "exponential": "exponential"}

# ComfyUI / k-diffusion sampler names (also SwarmUI's and Fooocus's) -> our base flag.
COMFY_SAMPLERS = {"euler": "euler", "euler_ancestral": "euler-a", "heun": "heun", "lms": "lms",
                  "dpmpp_2m": "dpm++2m", "ddim": "ddim", "uni_pc": "unipc", "uni_pc_bh2": "unipc", "plms": "pndm",
                  "k_euler": "euler", "k_euler_ancestral": "euler-a", "k_heun": "heun", "k_lms": "lms",
                  "k_dpmpp_2m": "dpm++2m"}
# Samplers with no class here but a close one: used, and the note says so.
NEAREST = {"dpmpp_2m_sde": "dpm++2m", "dpmpp_2m_sde_gpu": "dpm++2m", "dpmpp_3m_sde": "dpm++2m",
           "dpmpp_sde": "dpm++2m", "dpmpp_sde_gpu": "dpm++2m", "euler_cfg_pp": "euler", "euler_ancestral_cfg_pp": "euler-a", "dpm_2": "heun", "ddpm": "ddim"}


def sigma_options(flag: str) -> dict[str, bool]:
    """The from_config keywords that give `flag` its sigma schedule (all off for a plain flag)."""
    cls = SCHEDULERS.get(flag, ("", ""))[0]
    if cls not in SIGMA_CLASSES:
        return {}
    return {"use_karras_sigmas": flag.endswith("-karras"), "use_exponential_sigmas": flag.endswith("-exponential")}


def flag_for_class(class_name: str, config=None) -> str | None:
    """Our flag for a loaded scheduler; its config says whether it runs a Karras/exponential schedule."""
    config = config or {}
    for schedule in ("karras", "exponential"):
        if config.get(f"use_{schedule}_sigmas"):
            flag = next((f for f, (cls, _) in SCHEDULERS.items() if cls == class_name and f.endswith(schedule)), None)
            if flag:
                return flag
    return next((flag for flag, (cls, _) in SCHEDULERS.items() if cls == class_name), None)


def _with_schedule(base: str, schedule: str) -> tuple[str, str]:
    """base flag + a schedule word -> (flag, note when the schedule could not be kept)."""
    word = _SCHEDULE_WORDS.get(schedule.strip().lower().replace(" ", "_"))
    if schedule.strip().lower() in ("", "normal", "automatic", "default"):
        return base, ""
    if word and f"{base}-{word}" in SCHEDULERS:
        return f"{base}-{word}", ""
    return base, f"its {schedule.strip()!r} noise schedule has no match for {base} here, so {base}'s own is used"


def sampler_match(sampler: str, schedule: str = "") -> tuple[str | None, str]:
    """Another tool's sampler (A1111 "DPM++ 2M Karras", or "DPM++ 2M" + Schedule type "Karras"; ComfyUI
    "euler_ancestral" + "karras"; "euler_ancestral_karras") -> (our flag or None, a note on what was lost)."""
    s = sampler.strip()
    low = s.lower()
    for suffix in ("_karras", "_exponential"):   # one word for both, as some tools write it
        if low.endswith(suffix) and (low[:-len(suffix)] in COMFY_SAMPLERS or low[:-len(suffix)] in NEAREST):
            low, schedule = low[:-len(suffix)], suffix[1:]
    if low in COMFY_SAMPLERS:
        return _with_schedule(COMFY_SAMPLERS[low], schedule)
    if low in NEAREST:
        flag, lost = _with_schedule(NEAREST[low], schedule)
        return flag, f"its sampler {s!r} is not here; {SCHEDULERS[flag][1]!r} is the nearest" + (f" ({lost})" if lost else "")
    for flag, (_, name) in SCHEDULERS.items():
        if low == name.lower():
            return (flag, "") if not schedule or flag != name_flag(flag) else _with_schedule(flag, schedule)
    for flag, (_, name) in sorted(SCHEDULERS.items(), key=lambda kv: -len(kv[1][1])):
        if low.startswith(name.lower() + " "):   # "DPM++ 2M SDE Karras": the nearest one here, said so
            rest = low[len(name):].strip()
            word = rest.rpartition(" ")[2]
            flag2, lost = _with_schedule(flag, schedule or word) if word in _SCHEDULE_WORDS or schedule else (flag, "")
            return flag2, f"its sampler {s!r} is not here; {SCHEDULERS[flag2][1]!r} is the nearest" + \
                (f" ({lost})" if lost else "")
    return None, f"its sampler {s!r} is not here, so the model's default is used" if s else ""


def name_flag(flag: str) -> str:
    """A flag without its sigma schedule ("dpm++2m-karras" -> "dpm++2m")."""
    return flag.removesuffix("-karras").removesuffix("-exponential")


def flag_for_sampler(sampler: str, schedule: str = "") -> str | None:
    """A1111 sampler name (as another tool wrote it) -> our flag, or None."""
    return sampler_match(sampler, schedule)[0]
