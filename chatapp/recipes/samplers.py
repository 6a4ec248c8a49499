"""Scheduler names: the ones users type (/image --scheduler), AUTOMATIC1111's sampler names, and other tools' (ComfyUI, SwarmUI, Fooocus) read onto ours."""
from __future__ import annotations

# flag name -> AUTOMATIC1111 "Sampler" name. A "-karras"/"-exponential" flag is its base flag's sampler on
# Karras/exponential sigmas, written back under A1111's combined name ("DPM++ 2M Karras"), which A1111 itself
# still reads. engines/schedulers.py maps each flag to its diffusers class.
SCHEDULER_NAMES: dict[str, str] = {
    "dpm++2m": "DPM++ 2M",
    "dpm++2m-karras": "DPM++ 2M Karras",
    "dpm++2m-exponential": "DPM++ 2M Exponential",
    "euler": "Euler",
    "euler-karras": "Euler Karras",
    "euler-exponential": "Euler Exponential",
    "euler-a": "Euler a",
    "ddim": "DDIM",
    "pndm": "PLMS",
    "lms": "LMS",
    "heun": "Heun",
    "heun-karras": "Heun Karras",
    "unipc": "UniPC",
    "unipc-karras": "UniPC Karras",
}
_SCHEDULE_WORDS = {"karras": "karras", "exponential": "exponential"}

# ComfyUI / k-diffusion sampler names (also SwarmUI's and Fooocus's) -> our base flag.
COMFY_SAMPLERS = {"euler": "euler", "euler_ancestral": "euler-a", "heun": "heun", "lms": "lms",
                  "dpmpp_2m": "dpm++2m", "ddim": "ddim", "uni_pc": "unipc", "uni_pc_bh2": "unipc", "plms": "pndm",
                  "k_euler": "euler", "k_euler_ancestral": "euler-a", "k_heun": "heun", "k_lms": "lms",
                  "k_dpmpp_2m": "dpm++2m"}
# Samplers with no class here but a close one: used, and the note says so.
NEAREST = {"dpmpp_2m_sde": "dpm++2m", "dpmpp_2m_sde_gpu": "dpm++2m", "dpmpp_3m_sde": "dpm++2m",
           "dpmpp_sde": "dpm++2m", "dpmpp_sde_gpu": "dpm++2m", "euler_cfg_pp": "euler", "euler_ancestral_cfg_pp": "euler-a", "dpm_2": "heun", "ddpm": "ddim"}


def sampler_name(flag: str | None) -> str:
    """A1111's "Sampler" for a flag (an unknown one, e.g. another server's, as it is)."""
    return SCHEDULER_NAMES.get(flag or "", flag or "")


def _with_schedule(base: str, schedule: str) -> tuple[str, str]:
    """base flag + a schedule word -> (flag, note when the schedule could not be kept)."""
    word = _SCHEDULE_WORDS.get(schedule.strip().lower().replace(" ", "_"))
    if schedule.strip().lower() in ("", "normal", "automatic", "default"):
        return base, ""
    if word and f"{base}-{word}" in SCHEDULER_NAMES:
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
        return flag, f"its sampler {s!r} is not here; {SCHEDULER_NAMES[flag]!r} is the nearest" + (f" ({lost})" if lost else "")
    for flag, name in SCHEDULER_NAMES.items():
        if low == name.lower():
            return (flag, "") if not schedule or flag != name_flag(flag) else _with_schedule(flag, schedule)
    for flag, name in sorted(SCHEDULER_NAMES.items(), key=lambda kv: -len(kv[1])):
        if low.startswith(name.lower() + " "):   # "DPM++ 2M SDE Karras": the nearest one here, said so
            rest = low[len(name):].strip()
            word = rest.rpartition(" ")[2]
            flag2, lost = _with_schedule(flag, schedule or word) if word in _SCHEDULE_WORDS or schedule else (flag, "")
            return flag2, f"its sampler {s!r} is not here; {SCHEDULER_NAMES[flag2]!r} is the nearest" + \
                (f" ({lost})" if lost else "")
    return None, f"its sampler {s!r} is not here, so the model's default is used" if s else ""


def name_flag(flag: str) -> str:
    """A flag without its sigma schedule ("dpm++2m-karras" -> "dpm++2m")."""
    return flag.removesuffix("-karras").removesuffix("-exponential")


def flag_for_sampler(sampler: str, schedule: str = "") -> str | None:
    """A1111 sampler name (as another tool wrote it) -> our flag, or None."""
    return sampler_match(sampler, schedule)[0]
