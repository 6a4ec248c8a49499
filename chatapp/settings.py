"""User settings: one dataclass, saved as JSON in the user's config dir; env and CLI override dirs."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import platformdirs

from .conversation import GenParams

APP_NAME = "chatapp"
DEFAULT_SYSTEM_PROMPT = "You are a helpful, concise assistant."


@dataclass
class Settings:
    llm_model: str = ""            # "" means the embedded default GGUF
    image_model: str = ""          # "" means the embedded default diffusers folder
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    # Sampling: the defaults are GenParams' own, so they are written in one place.
    temperature: float = GenParams.temperature
    top_p: float = GenParams.top_p
    top_k: int = GenParams.top_k
    min_p: float = GenParams.min_p
    repeat_penalty: float = GenParams.repeat_penalty
    max_tokens: int = GenParams.max_tokens
    seed: int = GenParams.seed
    n_ctx: int = 2048
    n_threads: int = 0             # 0: let llama.cpp choose
    n_gpu_layers: int = 0
    image_steps: int = 0           # 0: the image model's own default
    image_cfg: float = 0.0
    image_size: str = ""           # "" or "WxH"
    attention_slicing: bool = False
    cpu_offload: bool = False
    preload_image_model: bool = False
    image_idle_unload_min: int = 10   # free the image model after this many idle minutes; 0: keep it loaded
    model_folders: str = ""           # extra folders the model picker scans, separated by os.pathsep
    theme: str = "system"             # "system" (follow the desktop), "light" or "dark"

    def gen_params(self) -> GenParams:
        return GenParams(**{f.name: getattr(self, f.name) for f in fields(GenParams)})


@dataclass
class Paths:
    data_dir: Path
    config_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "chatapp.sqlite3"

    @property
    def images(self) -> Path:
        return self.data_dir / "images"

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"


def resolve_paths(data_dir: str | None = None, config_dir: str | None = None) -> Paths:
    """CLI beats env (CHATAPP_DATA_DIR, CHATAPP_CONFIG_DIR) beats the platform's user dirs.

    A data dir given without a config dir keeps the config beside it, so a test or a portable
    install never touches the user's real settings.
    """
    data = data_dir or os.environ.get("CHATAPP_DATA_DIR")
    config = config_dir or os.environ.get("CHATAPP_CONFIG_DIR")
    if data and not config:
        config = str(Path(data) / "config")
    return Paths(Path(data or platformdirs.user_data_dir(APP_NAME, appauthor=False)),
                 Path(config or platformdirs.user_config_dir(APP_NAME, appauthor=False)))


def load_settings(path: Path) -> tuple[Settings, str | None]:
    """Read settings; garbage is moved aside (never deleted) and defaults are used.

    Returns the settings and, when something was wrong, a message for the user.
    """
    if not path.exists():
        return Settings(), None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        aside = path.with_name(path.name + ".bad")
        try:
            os.replace(path, aside)
            where = f" It was kept as {aside.name}."
        except OSError:
            where = ""
        return Settings(), f"Settings file could not be read ({exc}); using defaults.{where}"
    settings, problems = Settings(), []
    for f in fields(Settings):
        if f.name not in raw:
            continue
        value, default = raw[f.name], getattr(settings, f.name)
        try:
            value = type(default)(value) if not isinstance(default, bool) else bool(value)
        except (TypeError, ValueError):
            problems.append(f.name)
            continue
        setattr(settings, f.name, value)
    note = f"Ignored bad values in settings: {', '.join(problems)}." if problems else None
    return settings, note


def save_settings(settings: Settings, path: Path) -> None:
    """Write atomically, so a crash mid-write never leaves a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    os.replace(tmp, path)
