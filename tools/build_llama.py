"""`make install`'s first step: install llama-cpp-python, building only the libraries chatapp loads, and say so.

pip compiles llama.cpp from source (there is no binary wheel for it); that is most of a first
install's time, so this prints what is happening and how far along it is instead of a silent
terminal. A second install takes pip's cached wheel and prints nothing of the kind.
"""
from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ninja's progress line, "[37/112] Building CXX object ..." (cmake's Makefile generator: "[ 33%] ...")
STEP = re.compile(r"^\s*\[(\d+)/(\d+)\]\s")
PERCENT = re.compile(r"^\s*\[\s*(\d+)%\]\s")
QUIET_S = 60            # a line at least this often, so a slow step does not look like a hang


def requirement() -> str:
    """llama-cpp-python's requirement as pyproject.toml states it (one place for the version range)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d for d in deps if re.match(r"llama[-_]cpp[-_]python\b", d, re.I))


def cmake_args() -> str:
    # Only the libraries: llama.cpp's tests, examples, tools and server are already off in a
    # llama-cpp-python build; the include file also drops its "common" library, which nothing loads.
    own = f"-DCMAKE_PROJECT_llama.cpp_INCLUDE={ROOT / 'tools' / 'llama_lib_only.cmake'}"
    return f"{os.environ.get('CMAKE_ARGS', '')} {own}".strip()


def _mmss(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def main() -> int:
    cmd = [sys.executable, "-m", "pip", "install", "-v", requirement()]
    env = dict(os.environ, CMAKE_ARGS=cmake_args())
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
    tail: list[str] = []
    building, start, shown, last_print = False, time.monotonic(), -10, time.monotonic()
    while True:
        try:
            line = lines.get(timeout=5)
        except queue.Empty:
            line = ""
        if line is None:
            break
        tail = (tail + [line])[-80:]
        now = time.monotonic()
        if not building and re.search(r"Building wheel for llama[-_]cpp[-_]python", line, re.I):
            building, start = True, now
            print("Building llama.cpp for this computer: usually 4-5 minutes on 2 cores (longer on a busy machine);"
                  " only the first time, pip keeps the result.", flush=True)
            last_print = now
            continue
        if not building:
            continue
        m = STEP.match(line)
        pct = int(100 * int(m.group(1)) / int(m.group(2))) if m else None
        if pct is None and (m := PERCENT.match(line)):
            pct = int(m.group(1))
        if pct is not None and pct >= shown + 10:
            shown = pct - pct % 10
            print(f"  llama.cpp: {shown}% compiled ({_mmss(now - start)})", flush=True)
            last_print = now
        elif now - last_print >= QUIET_S:
            print(f"  llama.cpp: still building ({_mmss(now - start)})", flush=True)
            last_print = now
    code = proc.wait()
    if code != 0:
        sys.stdout.write("".join(tail))
        print(f"Installing llama-cpp-python failed (pip exit status {code}); its last lines are above.")
    elif building:
        print(f"llama.cpp built in {_mmss(time.monotonic() - start)}.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
