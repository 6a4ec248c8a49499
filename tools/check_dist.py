"""Checks a `make dist` bundle with no Python around it: start-up times, a streamed reply and a picture from
its embedded models (through its own `chatapp serve`, asked with the openai client), and its menu entry.

Usage: python tools/check_dist.py [dist/chatapp]   (run by `make dist` with the project's venv)
"""
from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes  # noqa: E402


def bare_env(tmp: Path, **extra) -> dict:
    """What a desktop gives a program: no Python on PATH, no virtual environment, no PYTHONPATH."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp / "home"), "XDG_DATA_HOME": str(tmp / "share"),
           "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8"}
    return {**env, **extra}


def startup(exe: Path, tmp: Path, runs: int = 3) -> list[dict]:
    out = []
    for i in range(runs):
        report = tmp / f"startup-{i}.json"
        began = time.time()
        done = subprocess.run([str(exe), "--data-dir", str(tmp / f"data-{i}")], cwd=tmp, capture_output=True,
                              env=bare_env(tmp, CHATAPP_STARTUP_REPORT=str(report), CHATAPP_QUIT_WHEN_READY="1"),
                              timeout=300, text=True)
        if done.returncode:
            raise SystemExit(f"the bundle did not start:\n{done.stderr[-3000:]}")
        data = json.loads(report.read_text())
        if "model_ready" not in data:
            raise SystemExit(f"the embedded chat model did not load: {data}\n{done.stderr[-3000:]}")
        out.append({"window_s": round(data["window_shown"] - began, 2), "chat_ready_s": round(data["model_ready"] - began, 2)})
    return out


def served(exe: Path, tmp: Path) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    log = open(tmp / "serve.log", "w")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], cwd=tmp, env=bare_env(tmp), stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"`serve` from the bundle exited:\n{(tmp / 'serve.log').read_text()[-3000:]}")
            try:
                if httpx.get(base + "/models", timeout=5, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("`serve` from the bundle never answered")
            time.sleep(0.5)
        client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=300)
        models = [m.id for m in client.models.list().data]
        stream = client.chat.completions.create(model=models[0], messages=[{"role": "user", "content": "What colour is the sky?"}],
                                                stream=True, max_tokens=24, temperature=0)
        chunks = [c.choices[0].delta.content or "" for c in stream if c.choices]
        picture = client.images.generate(prompt="a red circle on a blue background", n=1, size="32x32",
                                         response_format="b64_json", extra_body={"seed": 0})
        seen = shapes.analyse(Image.open(io.BytesIO(base64.b64decode(picture.data[0].b64_json))))
        return {"models": models, "reply_chunks": len(chunks), "reply": "".join(chunks),
                "picture": f"{seen.fg} {seen.shape} on {seen.bg}"}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def menu_entry(exe: Path, tmp: Path) -> str:
    done = subprocess.run([str(exe), "install-desktop"], cwd=tmp, env=bare_env(tmp), capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise SystemExit(f"install-desktop failed: {done.stderr}")
    entry = (tmp / "share" / "applications" / "chatapp.desktop").read_text(encoding="utf-8")
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    if exec_line != f"Exec={exe}":
        raise SystemExit(f"the menu entry does not start the bundle: {exec_line}")
    return exec_line


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "dist/chatapp").resolve()
    exe = folder / "chatapp"
    size_mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    with tempfile.TemporaryDirectory(prefix="chatapp-dist-") as tmp:
        tmp = Path(tmp)
        findings = {"size_mb": round(size_mb), "startup": startup(exe, tmp), "serve": served(exe, tmp),
                    "menu": menu_entry(exe, tmp)}
    print(json.dumps(findings, indent=1))
    ok = findings["serve"]["reply"].strip() and findings["serve"]["picture"] == "red circle on blue"
    print("bundle OK" if ok else "bundle FAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
