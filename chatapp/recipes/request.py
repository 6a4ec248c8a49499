"""ImageRequest (keyword-only), the model's limits and the one validation every door (/image, a dropped PNG, `chatapp serve`, the engines) uses."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import RecipeError
from .loras import MAX_LORAS, parse_loras, parse_weight
from .samplers import SCHEDULER_NAMES

MAX_STEPS = 150
MAX_COUNT = 8
MAX_CFG = 30.0
MAX_SEED = 2**64            # torch's generator takes 64-bit seeds (ComfyUI's are)
MAX_SIDE = 2048             # the largest side before a model says otherwise
DEFAULT_STRENGTH = 0.75     # AUTOMATIC1111's default denoising strength
# A prompt's limit, and its negative's. The models read 77 tokens (about 300 characters of English) and
# drop the rest, so 4,000 is over ten times what any of them uses, room for A1111-style prompts full of
# weights and tags. It is checked before any pattern sees the text: a typed or dropped prompt of
# 120,000 characters used to hold the window 24 s.
MAX_PROMPT_CHARS = 4000

# How /image names each field in its messages; another door (`chatapp serve`) passes its own names.
FLAG_NAMES = {"prompt": "The prompt", "negative": "The negative prompt", "steps": "--steps", "cfg": "--cfg",
              "seed": "--seed", "size": "--size", "count": "--n", "scheduler": "--scheduler", "init": "--init",
              "strength": "--strength", "mask": "--mask", "loras": "--lora"}


def too_long(what: str, length: int) -> str:
    """The message for a prompt over MAX_PROMPT_CHARS (the parser's, a dropped recipe's, the server's)."""
    return (f"{what} is {length:,} characters long; /image takes at most {MAX_PROMPT_CHARS:,} for a prompt and "
            f"as many for its negative. The model reads only the first 77 tokens (about 300 characters).")


def check_length(what: str, text: str, field: str = "prompt") -> None:
    """A prompt's length, checked before any pattern looks at the text."""
    if len(text) > MAX_PROMPT_CHARS:
        raise RecipeError(too_long(what, len(text)), field, "length")


@dataclass(frozen=True, kw_only=True)
class ModelLimits:
    """What one image model takes; the engines fill it from their model (`from_defaults`)."""
    model: str = ""                       # named in messages ("" : "this model")
    max_side: int = MAX_SIDE
    multiple: int = 8                     # width and height are multiples of this (the VAE's scale)
    steps: tuple[int, int] = (1, MAX_STEPS)
    count: tuple[int, int] = (1, MAX_COUNT)
    cfg: tuple[float, float] = (0.0, MAX_CFG)
    strength: tuple[float, float] = (0.0, 1.0)
    schedulers: tuple[str, ...] = tuple(SCHEDULER_NAMES)
    fits: tuple[int, int] | None = None   # the model's own size, offered when a size is too large

    @classmethod
    def from_defaults(cls, model: str, defaults: dict, **changes) -> ModelLimits:
        """An engine's defaults dict (also ModelInfo.details: max_size, width, height, scheduler) as limits.
        The model's own scheduler counts as known, also when it has no flag (a Re-run asks for it by name)."""
        w, h = defaults.get("width"), defaults.get("height")
        own = defaults.get("scheduler")
        names = tuple(SCHEDULER_NAMES) + ((own,) if own and own not in SCHEDULER_NAMES else ())
        return cls(**{"model": model, "max_side": int(defaults.get("max_size") or MAX_SIDE), "schedulers": names,
                      "fits": (int(w), int(h)) if w and h else None, **changes})


@dataclass(kw_only=True)
class ImageRequest:
    """One picture's recipe, fully resolved once an engine fills in its defaults."""
    prompt: str
    negative: str = ""
    steps: int | None = None   # None: the model's default
    cfg: float | None = None
    seed: int | None = None    # None: pick one at random (and record it)
    width: int | None = None
    height: int | None = None
    scheduler: str | None = None
    count: int = 1
    init: str | None = None      # --init: the picture to edit ("#N", "last" or a path; a path once resolved)
    strength: float | None = None  # --strength: how much of the picture is redrawn, 0-1 (img2img's denoising)
    mask: str | None = None      # --mask: a PNG of the picture's size, white where it is repainted
    source_id: int | None = None  # the message of the picture edited (set when --init names one of ours)
    loras: list = field(default_factory=list)   # [(name, weight)] LoRAs to apply; a rendered one adds each file's hash

    @classmethod
    def from_fields(cls, *, limits: ModelLimits | None = None, names: dict | None = None, **fields) -> ImageRequest:
        """A request built and validated: RecipeError names the first field that is wrong."""
        return cls(**fields).validate(limits, names)

    def validate(self, limits: ModelLimits | None = None, names: dict | None = None) -> ImageRequest:
        """Every check of a recipe against a model's limits, in one place; returns the request.
        `names`: how the door names each field (FLAG_NAMES: /image's flags)."""
        lim, name = limits or ModelLimits(), {**FLAG_NAMES, **(names or {})}
        if not self.prompt.strip():
            raise RecipeError("The picture needs a description: /image a red circle on a blue background", "prompt")
        check_length(name["prompt"], self.prompt)
        check_length(name["negative"], self.negative, "negative")
        _between(name["steps"], self.steps, lim.steps, "steps")
        _between(name["cfg"], self.cfg, lim.cfg, "cfg")
        if self.seed is not None and not 0 <= self.seed < MAX_SEED:
            raise RecipeError(f"{name['seed']} must be between 0 and {MAX_SEED - 1}.", "seed", "range")
        _between(name["count"], self.count, lim.count, "count")
        self._check_size(lim, name["size"])
        if self.scheduler is not None and self.scheduler not in lim.schedulers:
            raise RecipeError(f"Unknown scheduler {self.scheduler!r}. Choose one of: {', '.join(lim.schedulers)}.",
                              "scheduler", "choice")
        self._check_loras()
        self._check_edit(lim, name)
        return self

    def _check_size(self, lim: ModelLimits, flag: str) -> None:
        if self.width is None and self.height is None:
            return
        w, h = self.width or 0, self.height or 0
        if w <= 0 or h <= 0 or w % lim.multiple or h % lim.multiple:
            raise RecipeError(f"{flag} must be a multiple of {lim.multiple} on each side, e.g. 512x512 "
                              f"(got {w}x{h}).", "size", "multiple")
        if w > lim.max_side or h > lim.max_side:
            fits = f" Try {flag} {lim.fits[0]}x{lim.fits[1]}." if lim.fits else ""
            raise RecipeError(f"{flag} {w}x{h} is larger than {lim.model or 'this model'} allows "
                              f"({lim.max_side}x{lim.max_side} at most).{fits}", "size", "max_side")

    def _check_loras(self) -> None:
        if len(self.loras) > MAX_LORAS:
            raise RecipeError(f"At most {MAX_LORAS} LoRAs at once, not {len(self.loras)}.", "loras", "count")
        for lora in self.loras:
            try:
                parse_weight(str(lora[0]), f"{float(lora[1]):g}")
            except ValueError as exc:
                raise RecipeError(_sentence(exc), "loras", "lora") from None

    def _check_edit(self, lim: ModelLimits, name: dict) -> None:
        if self.strength is not None:
            _between(name["strength"], self.strength, lim.strength, "strength", "g")
        if (self.strength is not None or self.mask) and not self.init:
            raise RecipeError(f"{name['strength']} and {name['mask']} need a picture to edit: add --init #N, "
                              "--init last or --init PATH.", "init", "needs_init")
        if self.init and self.init.startswith("#") and not self.init[1:].isdigit():
            raise RecipeError(f"{name['init']} {self.init} is not a picture number; pictures are numbered #1, #2, "
                              "... in the chat.", "init", "number")

    def command(self) -> str:
        """The /image command that reads back as exactly this request (prompt quoted where needed)."""
        from .command import image_command
        return image_command(self)


def prompt_and_loras(prompt: str, negative: str, lora_flags=(), names: dict | None = None) -> tuple[str, list]:
    """A typed or sent prompt: both lengths checked first (no pattern reads a hostile text), then its
    <lora:NAME:W> tags (and /image's --lora flags) split off: (prompt, [(name, weight)])."""
    name = {**FLAG_NAMES, **(names or {})}
    check_length(name["prompt"], prompt)
    check_length(name["negative"], negative, "negative")
    return parse_loras(prompt, list(lora_flags))


def _between(what: str, value, bounds: tuple, field: str, fmt: str = "") -> None:
    lo, hi = bounds
    if value is not None and not lo <= value <= hi:   # NaN is never between
        raise RecipeError(f"{what} must be between {lo:g} and {hi:g}, not {value:{fmt}}.", field, "range")


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
