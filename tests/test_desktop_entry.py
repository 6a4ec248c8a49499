"""The menu entry: `chatapp install-desktop` into a temporary XDG data home, checked by desktop-file-validate."""
import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from chatapp.desktop.menu_entry import APP_ID, ICON_SIZES, entry_text, exec_value


def validate(path: Path) -> str:
    """desktop-file-validate's complaints ("" when none); CI installs it (.ci/run), elsewhere it may be missing."""
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("desktop-file-validate is missing: .ci/run installs desktop-file-utils")
        pytest.skip("desktop-file-validate not installed (Debian: apt-get install desktop-file-utils)")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True)
    return (done.stdout + done.stderr).strip() if done.returncode or done.stdout.strip() else ""


def read_entry(path: Path) -> dict:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str   # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


@pytest.fixture
def installed(tmp_path):
    """The real subcommand, as a user runs it: `chatapp install-desktop` with its own XDG_DATA_HOME."""
    home = tmp_path / "share"
    env = dict(os.environ, XDG_DATA_HOME=str(home))
    done = subprocess.run([sys.executable, "-m", "chatapp", "install-desktop"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return home, env, done.stdout


def test_entry_is_valid_and_points_at_this_chatapp(installed):
    home, _, said = installed
    entry_file = home / "applications" / f"{APP_ID}.desktop"
    assert str(entry_file) in said
    assert validate(entry_file) == ""
    entry = read_entry(entry_file)
    for key in ("Name", "GenericName", "Comment", "Exec", "Icon", "Categories", "StartupWMClass", "Keywords"):
        assert entry.get(key), key
    assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    # Exec: the installed script's full path (the venv's bin/chatapp beside this Python), which starts chatapp.
    program = Path(entry["Exec"].split()[0])
    assert program.is_absolute() and program == Path(sys.executable).parent / APP_ID
    assert os.access(program, os.X_OK)
    assert subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=60).stdout.startswith("chatapp ")
    # The window groups under the entry: X11's WM_CLASS is the application name, Wayland's app_id the desktop file name.
    assert entry["StartupWMClass"] == APP_ID == entry_file.stem


def test_icon_name_resolves_in_hicolor_at_every_size(installed):
    home, _, _ = installed
    icon = read_entry(home / "applications" / f"{APP_ID}.desktop")["Icon"]
    hicolor = home / "icons" / "hicolor"
    for size in ICON_SIZES:
        png = hicolor / f"{size}x{size}" / "apps" / f"{icon}.png"
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size == (size, size) and image.mode == "RGBA"
    svg = hicolor / "scalable" / "apps" / f"{icon}.svg"
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml") and "<svg" in svg.read_text(encoding="utf-8")


def test_uninstall_removes_what_install_wrote(installed):
    home, env, _ = installed
    before = {p for p in home.rglob("*") if p.is_file()}
    assert len(before) == len(ICON_SIZES) + 2        # PNGs, the SVG, the entry
    done = subprocess.run([sys.executable, "-m", "chatapp", "uninstall-desktop"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and f"Removed {len(before)} files" in done.stdout
    assert not [p for p in home.rglob("*") if p.is_file()]
    again = subprocess.run([sys.executable, "-m", "chatapp", "uninstall-desktop"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and "No chatapp menu entry" in again.stdout


def test_install_twice_overwrites_and_leaves_no_part_files(installed):
    home, env, _ = installed
    done = subprocess.run([sys.executable, "-m", "chatapp", "install-desktop"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert not [p for p in home.rglob("*.part")]
    assert len([p for p in home.rglob("*") if p.is_file()]) == len(ICON_SIZES) + 2


@pytest.mark.parametrize("argv, expected", [
    (["/usr/bin/chatapp"], "/usr/bin/chatapp"),
    (["/opt/my apps/chatapp"], '"/opt/my apps/chatapp"'),
    # Inside quotes $ needs a backslash; the string type then doubles that backslash.
    (["/opt/a$b/chatapp"], '"/opt/a\\\\$b/chatapp"'),
    (["/home/u/100%/bin/python", "-m", "chatapp"], "/home/u/100%%/bin/python -m chatapp"),
])
def test_exec_quoting_follows_the_spec(argv, expected, tmp_path):
    assert exec_value(argv) == expected
    entry_file = tmp_path / "chatapp.desktop"
    entry_file.write_text(entry_text(argv), encoding="utf-8")
    assert validate(entry_file) == ""


def test_a_line_break_in_the_path_is_refused():
    with pytest.raises(ValueError, match="line break"):
        exec_value(["/tmp/a\nb/chatapp"])


def test_relative_xdg_data_home_is_ignored(tmp_path):
    """The spec: a relative $XDG_DATA_HOME is invalid, use ~/.local/share (here a temporary HOME)."""
    env = dict(os.environ, XDG_DATA_HOME="relative/share", HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-m", "chatapp", "install-desktop"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home" / ".local" / "share" / "applications" / "chatapp.desktop").is_file()
    assert not (tmp_path / "relative").exists()


def test_window_carries_the_icon(make_app):
    parts = make_app(load=False)
    icon = parts.window.windowIcon()
    assert not icon.isNull()
    assert {16, 32, 256} <= {s.width() for s in icon.availableSizes()}
