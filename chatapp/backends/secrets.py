"""API keys for remote backends: the environment, else the system keychain (keyring), else an owner-only file."""
from __future__ import annotations

import json
import os
from pathlib import Path

SERVICE = "chatapp"
ENV = {"llm": "CHATAPP_LLM_API_KEY", "image": "CHATAPP_IMAGE_API_KEY"}   # the built-in backends' keys (Backend.secret)
FILE_NAME = "secrets.json"
_keychain: object | None = None   # the keyring backend, once found; False when there is none


def _backend():
    """The system keychain through keyring, or None where there is none (headless Linux, CI)."""
    global _keychain
    if _keychain is None:
        try:
            import keyring
            from keyring.backends import chainer, fail, null
            kr = keyring.get_keyring()
            empty = isinstance(kr, chainer.ChainerBackend) and not kr.backends
            _keychain = False if isinstance(kr, (fail.Keyring, null.Keyring)) or empty else kr
        except Exception:   # a broken keyring set-up must not stop the app
            _keychain = False
    return _keychain or None


def where(config_dir: Path) -> str:
    """Where a key typed in Settings is kept, in words for the dialog."""
    kr = _backend()
    if kr is not None:
        return f"Keys are kept in the system keychain ({getattr(kr, 'name', type(kr).__name__)})."
    return (f"No system keychain was found: keys are kept in {Path(config_dir) / FILE_NAME}, "
            "readable by your user account only.")


def env_name(name: str) -> str:
    """The environment variable that holds a key: CHATAPP_<NAME>_API_KEY."""
    return ENV.get(name) or f"CHATAPP_{name.upper()}_API_KEY"


def get_key(name: str, config_dir: Path) -> str:
    """The environment beats the keychain beats the file; "" when there is no key."""
    if os.environ.get(env_name(name)):
        return os.environ[env_name(name)]
    kr = _backend()
    if kr is not None:
        try:
            value = kr.get_password(SERVICE, name)
            if value:
                return value
        except Exception:
            pass
    return _read_file(config_dir).get(name, "")


def set_key(name: str, value: str, config_dir: Path) -> None:
    """Store a key ("" deletes it) in the keychain, or in the owner-only file where there is none."""
    kr = _backend()
    if kr is not None:
        try:
            if value:
                kr.set_password(SERVICE, name, value)
            else:
                try:
                    kr.delete_password(SERVICE, name)
                except Exception:
                    pass
            _write_file(config_dir, {k: v for k, v in _read_file(config_dir).items() if k != name})
            return
        except Exception:
            pass   # a locked or broken keychain: fall back to the file
    stored = _read_file(config_dir)
    if value:
        stored[name] = value
    else:
        stored.pop(name, None)
    _write_file(config_dir, stored)


def _read_file(config_dir: Path) -> dict:
    try:
        data = json.loads((Path(config_dir) / FILE_NAME).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_file(config_dir: Path, data: dict) -> None:
    path = Path(config_dir) / FILE_NAME
    if not data and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Created owner-only (0600) from the first byte, never readable by others even for a moment.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
