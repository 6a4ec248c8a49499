"""`chatapp install-desktop` / `uninstall-desktop`: a freedesktop menu entry and the icon in the user's data folders."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

# One name everywhere: the .desktop file, the icon, QGuiApplication's desktopFileName (Wayland's
# app_id) and applicationName (X11's WM_CLASS), so the desktop groups the windows under the entry.
APP_ID = "chatapp"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# Characters that make an Exec argument need quotes (Desktop Entry Specification, "The Exec key").
RESERVED = set(" \t\"'\\><~|&;$*?#()`")


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset, empty or relative (as the spec says)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def launcher() -> list[str]:
    """The command that starts this chatapp: the bundle, the installed script, else this Python with -m."""
    if getattr(sys, "frozen", False):      # a PyInstaller bundle: its own executable
        return [str(Path(sys.executable).absolute())]
    argv0 = Path(sys.argv[0])
    if argv0.name == APP_ID and argv0.is_file():
        return [str(argv0.absolute())]
    beside = Path(sys.executable).parent / APP_ID   # `python -m chatapp` in a venv that has the script
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", APP_ID]


def exec_value(argv: list[str]) -> str:
    """argv as an Exec value: quoted where the spec asks, % doubled, then the string type's backslash escape."""
    out = []
    for arg in argv:
        if "\n" in arg or "\r" in arg:
            raise ValueError(f"{arg!r} holds a line break, which a menu entry cannot start")
        arg = arg.replace("%", "%%")
        if any(c in RESERVED for c in arg):
            arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
        out.append(arg.replace("\\", "\\\\"))
    return " ".join(out)


def entry_text(argv: list[str]) -> str:
    lines = {
        "Type": "Application",
        "Version": "1.4",   # the newest desktop-file-validate (Debian 12) knows; no 1.5 keys used
        "Name": "chatapp",
        "GenericName": "AI Chat Assistant",
        "Comment": "Chat with a local language model and draw pictures, offline",
        "Exec": exec_value(argv),
        "TryExec": exec_value(argv[:1]) if len(argv) == 1 else None,   # TryExec takes a program, no arguments
        "Icon": APP_ID,
        "Terminal": "false",
        "Categories": "Utility;",
        "Keywords": "AI;LLM;chat;assistant;image;picture;Stable Diffusion;offline;",
        "StartupNotify": "true",
        "StartupWMClass": APP_ID,
    }
    return "[Desktop Entry]\n" + "".join(f"{k}={v}\n" for k, v in lines.items() if v is not None)


def targets(home: Path) -> dict[Path, object]:
    """Where each file goes -> its source (text or a packaged resource)."""
    icons = files("chatapp.resources") / "icons"
    hicolor = home / "icons" / "hicolor"
    out: dict[Path, object] = {hicolor / "scalable" / "apps" / f"{APP_ID}.svg": icons / f"{APP_ID}.svg"}
    for size in ICON_SIZES:
        out[hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"] = icons / f"{APP_ID}-{size}.png"
    return out


def entry_path(home: Path) -> Path:
    return home / "applications" / f"{APP_ID}.desktop"


def _write(path: Path, data: bytes) -> None:
    """Written beside and renamed: a menu never sees half an entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    part.write_bytes(data)
    os.replace(part, path)


def _refresh_icon_cache(home: Path) -> None:
    """A stale icon-theme.cache hides new icons; refresh one only where it already exists."""
    hicolor = home / "icons" / "hicolor"
    tool = shutil.which("gtk-update-icon-cache")
    if tool and (hicolor / "icon-theme.cache").exists():
        subprocess.run([tool, "--force", "--quiet", "--ignore-theme-index", str(hicolor)], check=False)


def install(home: Path, argv: list[str]) -> list[Path]:
    written = []
    for path, source in targets(home).items():
        _write(path, source.read_bytes())
        written.append(path)
    _write(entry_path(home), entry_text(argv).encode("utf-8"))
    written.append(entry_path(home))
    _refresh_icon_cache(home)
    return written


def uninstall(home: Path) -> list[Path]:
    removed = []
    for path in [entry_path(home), *targets(home)]:
        if path.is_file():
            path.unlink()
            removed.append(path)
    _refresh_icon_cache(home)
    return removed


def _unsupported() -> str | None:
    if sys.platform in ("darwin", "win32"):
        return ("install-desktop writes a freedesktop menu entry (Linux and BSD desktops). On macOS and "
                "Windows build an app bundle instead: see the README's \"A folder that carries everything\".")
    return None


def install_main(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="chatapp install-desktop", description=(
        "Add chatapp to the application menu: a .desktop entry and the icon in $XDG_DATA_HOME "
        "(default ~/.local/share). Run it again after moving chatapp; `chatapp uninstall-desktop` removes it.")
    ).parse_args(argv)
    problem = _unsupported()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    home, command = data_home(), launcher()
    try:
        written = install(home, command)
    except (OSError, ValueError) as exc:
        print(f"Could not add the menu entry: {exc}", file=sys.stderr)
        return 1
    print(f"Added chatapp to the application menu: {written[-1]}\n"
          f"  starts: {' '.join(command)}\n  icon: {len(written) - 1} files under {home / 'icons' / 'hicolor'}")
    return 0


def uninstall_main(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="chatapp uninstall-desktop",
                            description="Remove the menu entry and icon that install-desktop wrote.").parse_args(argv)
    problem = _unsupported()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        removed = uninstall(data_home())
    except OSError as exc:
        print(f"Could not remove the menu entry: {exc}", file=sys.stderr)
        return 1
    print(f"Removed {len(removed)} files (the menu entry and icon)." if removed else "No chatapp menu entry was installed.")
    return 0
