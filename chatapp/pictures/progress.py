"""One /image job's progress in words: the scheduler's steps, the decode, picture k of n, time left."""
from __future__ import annotations

from dataclasses import dataclass, replace

LONG_JOB_S = 90       # past this, the first estimate comes with faster settings to try
FAST_STEPS = 15       # DPM-Solver++ 2M gives a usable picture in about this many steps
SMALL_SIDE = 384
DECODE_GUESS = 1.6    # decode time in steps, until one is measured (SD 1.5 here: 45 s vs 28 s per step)


@dataclass
class ImageStatus:
    """What an image bubble shows while its picture is on its way."""
    text: str
    fraction: float | None = None   # of the current picture, decode included; None: a busy bar
    preview: object = None          # QImage or None
    hint: str = ""                  # expected total and faster settings, once a step has been timed
    cancellable: bool = True


def duration(seconds: float) -> str:
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    return f"{int(s // 3600)} h {round(s % 3600 / 60)} min"


def faster_settings(req, step_s: float, decode_s: float, seconds: float) -> str:
    """Settings that would take clearly less time than `seconds`, each with its own estimate."""
    count = max(1, getattr(req, "count", 1) or 1)
    options = []
    if req.steps > FAST_STEPS or req.scheduler not in ("dpm++2m", "unipc"):
        t = count * (FAST_STEPS * step_s + decode_s)
        if t < 0.8 * seconds:
            options.append(f"--steps {FAST_STEPS} --scheduler dpm++2m (about {duration(t)})")
    if req.width * req.height > SMALL_SIDE * SMALL_SIDE:
        scale = SMALL_SIDE / max(req.width, req.height)
        w, h = (int(req.width * scale) // 8 * 8, int(req.height * scale) // 8 * 8)
        t = seconds * (w * h) / (req.width * req.height)
        options.append(f"--size {w}x{h} (about {duration(t)}, rougher)")
    return ("Faster: " + "; or ".join(options) + ".") if options else ""


class ProgressTracker:
    """Turns one job's engine events into ImageStatus; the estimate never goes below zero.

    Seconds per step come from the steps seen so far; the decode time from this job's earlier
    pictures, else from the last picture measured (scaled by pixels), else DECODE_GUESS steps.
    """

    def __init__(self, started: float, *, device: str = "cpu", calibration: dict | None = None):
        self.device = device
        self.calibration = calibration if calibration is not None else {}
        self.picture_start = started
        self.first_step_at = 0.0
        self.step_s = 0.0
        self.decode_s = 0.0
        self.decode_start = 0.0
        self.event_at = started
        self.ev = None
        self.hint = ""
        self.hint_final = False
        self.count = 1

    # --- estimates --------------------------------------------------------------------------
    def _decode_estimate(self) -> float:
        if self.decode_s:
            return self.decode_s
        req = self.ev.request if self.ev else None
        per_px = self.calibration.get("decode_s_per_px")
        if per_px and req is not None:
            return per_px * req.width * req.height
        return DECODE_GUESS * self.step_s

    def _this_picture_left(self, now: float) -> float:
        ev, dec = self.ev, self._decode_estimate()
        if ev.phase == "decoding":
            return max(0.0, dec - (now - self.decode_start))
        planned = (ev.total - ev.step) * self.step_s + dec
        # Between events the clock runs down, but not past the decode still to come.
        return max(dec if ev.step < ev.total else 0.0, planned - (now - self.event_at))

    def _later_pictures(self) -> float:
        ev = self.ev
        return (ev.pictures - ev.picture) * (ev.total * self.step_s + self._decode_estimate())

    def seconds_left(self, now: float) -> float:
        if self.ev is None or self.ev.phase == "done":
            return 0.0
        return max(0.0, self._this_picture_left(now) + self._later_pictures())

    # --- events -------------------------------------------------------------------------------
    def event(self, ev, now: float) -> ImageStatus | None:
        if ev.phase == "done":
            if self.decode_start:
                self.decode_s = now - self.decode_start
                if ev.request is not None:
                    self.calibration["decode_s_per_px"] = self.decode_s / (ev.request.width * ev.request.height)
            self.picture_start, self.decode_start, self.ev = now, 0.0, ev
            return None
        if ev.phase == "step":
            if ev.step == 1:
                self.first_step_at = now
                self.step_s = self.step_s or (now - self.picture_start)   # setup included: a first guess
            elif ev.step > 1 and self.first_step_at:
                self.step_s = (now - self.first_step_at) / (ev.step - 1)
        elif ev.phase == "decoding":
            self.decode_start = now
        self.ev, self.event_at = ev, now
        if ev.phase == "step" and ev.picture == 1 and not self.hint_final and ev.request is not None:
            self._make_hint(ev, now)
        return self.status(now, ev.preview)

    def _make_hint(self, ev, now: float) -> None:
        self.hint_final = ev.step >= 2 or ev.total == 1   # the second step gives a setup-free rate
        total = (now - self.picture_start) + self.seconds_left(now)
        where = "this CPU" if self.device == "cpu" else "this GPU" if self.device in ("cuda", "mps") else "here"
        self.hint = f"About {duration(total)} in all on {where}."
        if total > LONG_JOB_S:
            req = ev.request
            extra = faster_settings(replace(req, count=ev.pictures), self.step_s, self._decode_estimate(), total)
            if extra:
                self.hint += " " + extra

    def status(self, now: float, preview=None) -> ImageStatus | None:
        ev = self.ev
        if ev is None or ev.phase == "done":
            return None
        left = self.seconds_left(now)
        prefix = f"Picture {ev.picture} of {ev.pictures} · " if ev.pictures > 1 else ""
        when = f"about {duration(left)} left" if left >= 1 else "almost done"
        text = f"{prefix}Decoding… · {when}" if ev.phase == "decoding" else f"{prefix}Step {ev.step}/{ev.total} · {when}"
        spent = now - self.picture_start
        this_left = self._this_picture_left(now)
        fraction = spent / (spent + this_left) if spent + this_left > 0 else 0.0
        return ImageStatus(text, min(fraction, 0.999), preview, self.hint)
