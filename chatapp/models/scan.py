"""Walk the places people keep models (LM Studio, Ollama, HF cache, GPT4All, ~/models, user folders)."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from .diffusers_info import read_checkpoint, read_diffusers
from .entry import CHAT, ModelEntry
from .gguf_info import read_gguf
from .projector import mark_paired

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
MAX_DEPTH = 8          # below a root; model folders are shallow, home directories are not
PROGRESS_EVERY = 200   # files between progress reports


class ScanCancelled(Exception):
    pass


@dataclass(frozen=True)
class Source:
    label: str
    root: Path
    layout: str = "folder"   # "folder" | "hf" (hub cache) | "ollama" (manifests + blobs) | "builtin"


def default_sources(home: Path | None = None, extra: list[str] | tuple = (),
                    env: Mapping[str, str] | None = None) -> list[Source]:
    """Where each app keeps its models; only folders that exist, each once."""
    env = os.environ if env is None else env
    home = Path(home) if home is not None else Path.home()
    hf = Path(env["HF_HUB_CACHE"]) if env.get("HF_HUB_CACHE") else \
        (Path(env["HF_HOME"]) / "hub" if env.get("HF_HOME") else home / ".cache" / "huggingface" / "hub")
    gpt4all = (home / "Library" / "Application Support" / "nomic.ai" / "GPT4All" if sys.platform == "darwin"
               else Path(env.get("LOCALAPPDATA", home / "AppData" / "Local")) / "nomic.ai" / "GPT4All"
               if sys.platform == "win32" else home / ".local" / "share" / "nomic.ai" / "GPT4All")
    candidates = [Source("LM Studio", home / ".lmstudio" / "models"),
                  Source("LM Studio", home / ".cache" / "lm-studio" / "models"),
                  Source("Ollama", Path(env["OLLAMA_MODELS"]) if env.get("OLLAMA_MODELS")
                         else home / ".ollama" / "models", "ollama"),
                  Source("Hugging Face", hf, "hf"),
                  Source("GPT4All", gpt4all),
                  Source("~/models", home / "models")]
    candidates += [Source(str(p), Path(p).expanduser()) for p in extra if str(p).strip()]
    seen, out = set(), []
    for s in candidates:
        try:
            key = s.root.resolve()
        except OSError:
            continue
        if s.root.is_dir() and key not in seen:
            seen.add(key)
            out.append(s)
    return out


class _Walk:
    def __init__(self, should_stop: Callable[[], bool], progress: Callable[[int, str], None] | None):
        self.should_stop, self.progress = should_stop, progress
        self.files = 0
        self.entries: list[ModelEntry] = []
        self._seen: set[str] = set()

    def tick(self, where: str) -> None:
        self.files += 1
        if self.should_stop():
            raise ScanCancelled()
        if self.progress and self.files % PROGRESS_EVERY == 0:
            self.progress(self.files, where)

    def add(self, entry: ModelEntry, real: str) -> None:
        if real not in self._seen:   # HF snapshot links, Ollama tag aliases, a folder listed twice
            self._seen.add(real)
            self.entries.append(entry)


def _realpath(p: Path) -> str:
    try:
        return os.path.realpath(p)
    except OSError:
        return str(p)


def _walk_folder(walk: _Walk, source: Source, name_for: Callable[[Path, Path], str] | None = None) -> None:
    root = source.root
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, onerror=None, followlinks=False):
        here = Path(dirpath)
        walk.tick(dirpath)
        if "model_index.json" in filenames:
            name = name_for(here, None) if name_for else None
            walk.add(read_diffusers(here, source.label, name), _realpath(here))
            dirnames[:] = []     # a diffusers folder's parts are not models of their own
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if len(here.parts) - base_depth < MAX_DEPTH else []
        ggufs = []
        for f in sorted(filenames):
            walk.tick(dirpath)
            if f.lower().endswith(".gguf"):
                path = here / f
                name = name_for(here, path) if name_for else None
                ggufs.append(read_gguf(path, source.label, name))
                walk.add(ggufs[-1], _realpath(path))
            elif f.lower().endswith(".safetensors"):   # a single-file SD checkpoint (header only)
                entry = read_checkpoint(here / f, source.label, name_for(here, here / f) if name_for else None)
                if entry is not None:
                    walk.add(entry, _realpath(here / f))
        mark_paired(ggufs)   # a model with an mmproj*.gguf beside it that fits sees pictures


def _walk_hf(walk: _Walk, source: Source) -> None:
    for repo in sorted(source.root.glob("models--*")):
        walk.tick(str(repo))
        repo_name = repo.name.removeprefix("models--").replace("--", "/")
        snapshots = repo / "snapshots"
        main = repo / "refs" / "main"
        revs = sorted(snapshots.iterdir()) if snapshots.is_dir() else []
        try:   # the revision "main" points to first, so it wins over older snapshots
            head = main.read_text().strip()
            revs.sort(key=lambda r: r.name != head)
        except OSError:
            pass
        for rev in revs:
            _walk_folder(walk, Source(source.label, rev),
                         lambda d, f: f.stem if f is not None else repo_name)


def _walk_ollama(walk: _Walk, source: Source) -> None:
    manifests, blobs = source.root / "manifests", source.root / "blobs"
    for dirpath, _dirs, filenames in os.walk(manifests):
        for tag in sorted(filenames):
            walk.tick(dirpath)
            manifest = Path(dirpath) / tag
            parts = manifest.relative_to(manifests).parts   # registry / namespace / model / tag
            model = parts[-2] if len(parts) >= 2 else manifest.name
            namespace = parts[-3] if len(parts) >= 3 else "library"
            name = f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
                layer = next(l for l in data.get("layers", []) if l.get("mediaType") == OLLAMA_MODEL_LAYER)
                blob = blobs / str(layer["digest"]).replace(":", "-")
            except (OSError, ValueError, StopIteration, KeyError, TypeError, AttributeError):
                walk.add(ModelEntry(kind=CHAT, path=str(manifest), name=name, source=source.label, usable=False,
                                    reason="the Ollama manifest names no model layer"), str(manifest))
                continue
            if not blob.is_file():
                walk.add(ModelEntry(kind=CHAT, path=str(blob), name=name, source=source.label, usable=False,
                                    reason="the model's blob is missing from Ollama's store"), str(blob))
                continue
            walk.add(read_gguf(blob, source.label, name), _realpath(blob))


def builtin_sources() -> list[Source]:
    """The models that ship with the app; choosing a default one sets the Settings field back to "" (follow the
    default), another shipped one (tiny-shapes beside the default image model) sets its path."""
    from ..engines.defaults import builtin_image_models, default_llm_path
    return [Source("Built in", p, "builtin") for p in (default_llm_path(), *builtin_image_models()) if p]


def _add_builtin(walk: _Walk, source: Source) -> None:
    walk.tick(str(source.root))
    reader = read_diffusers if source.root.is_dir() else read_gguf
    entry = reader(source.root, source.label)
    from ..engines.defaults import default_image_model_path, default_llm_path
    is_default = source.root in (default_llm_path(), default_image_model_path())
    entry.details["file"], entry.path = str(source.root), "" if is_default else str(source.root)
    walk.add(entry, _realpath(source.root))


def scan(sources: list[Source], should_stop: Callable[[], bool] = lambda: False,
         progress: Callable[[int, str], None] | None = None) -> list[ModelEntry]:
    """Every chat and image model under the sources; raises ScanCancelled when should_stop() turns true."""
    walk = _Walk(should_stop, progress)
    for source in sources:
        if source.layout == "builtin":
            _add_builtin(walk, source)
        elif source.layout == "ollama":
            _walk_ollama(walk, source)
        elif source.layout == "hf":
            _walk_hf(walk, source)
        else:
            _walk_folder(walk, source)
    return walk.entries
