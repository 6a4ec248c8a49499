"""The real app as a process (issue 15): signals, a second instance, a data folder that is not one."""
import os
import signal
import subprocess
import sys

import pytest

from chatapp.storage import Storage

# A real `python -m chatapp` (app.main), with scripted engines so it is quick and deterministic.
CHILD = r"""
import os, sys
from PySide6.QtCore import QTimer
from chatapp.__main__ import parse_args
from chatapp import app as A
from chatapp.engines.events import TextDelta
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine

count_file, reply_words = sys.argv[2], int(sys.argv[3])

class Counting(FakeChatEngine):
    # Writes how many pieces it handed to the worker: the saved reply must have every one of them.
    def stream(self, *a, **k):
        n = 0
        try:
            for event in super().stream(*a, **k):
                n += isinstance(event, TextDelta)   # text pieces; the last event is the reply's usage
                yield event
        finally:
            with open(count_file, "w") as f:
                f.write(str(n))

orig = A.build
def build(paths, *a, **k):
    k["llm_engine_factory"] = lambda: Counting([" ".join(f"w{i}" for i in range(reply_words))], token_delay=0.002)
    k["image_engine_factory"] = FakeImageEngine
    parts = orig(paths, *a, **k)
    s, told = parts.session, []
    print("DATA", paths.data_dir, flush=True)
    parts.window.activateWindow = lambda: print("RAISED", flush=True)
    def on_state(state, _detail):
        if state == "ready":
            print("READY", flush=True)
            if reply_words:
                s.submit("talk to me")
    s.llm_state.connect(on_state)
    def on_text(_mid, text):
        if len(text) > 300 and not told:
            told.append(1)
            print("STREAMING", flush=True)
    s.reply_text.connect(on_text)
    if os.environ.get("QUIT_SOON"):
        QTimer.singleShot(300, parts.window.close)
    return parts
A.build = build

if os.environ.get("DIALOG_ANSWER"):
    from PySide6.QtWidgets import QMessageBox
    def answer(box):
        print("DIALOG", box.text().replace("\n", " "), "|", box.informativeText(), flush=True)
        for b in box.buttons():
            if b.text().startswith(os.environ["DIALOG_ANSWER"]):
                b.click()
        return 0
    QMessageBox.exec = answer
sys.exit(A.main(parse_args(sys.argv[4:])))
"""


def start(tmp_path, data_dir, reply_words=0, **env):
    full_env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "xdg-data"),
                    XDG_CONFIG_HOME=str(tmp_path / "xdg-config"), **env)
    full_env.pop("CHATAPP_DATA_DIR", None)
    return subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir), str(tmp_path / "count"), str(reply_words),
                             "--data-dir", str(data_dir)], env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(proc, word, timeout=60):
    """Lines until one starts with word (the child prints them; a dead child fails the test)."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if sel.select(timeout=1):
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith(word):
                return line.strip()
    proc.kill()
    raise AssertionError(f"no {word!r} from the app; stderr: {proc.stderr.read()[-2000:]}")


def finish(proc, timeout=60):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the app did not quit; stderr: {err[-2000:]}")
    return proc.returncode, out, err


def last_reply(data_dir):
    st = Storage(data_dir / "chatapp.sqlite3")
    try:
        return st.messages(st.conversations()[0].id)[-1]
    finally:
        st.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_reply_saves_every_token_and_exits_0(tmp_path, sig):
    data = tmp_path / "data"
    proc = start(tmp_path, data, reply_words=100_000)
    wait_for(proc, "STREAMING")
    proc.send_signal(sig)
    code, _out, err = finish(proc)
    assert code == 0, err[-2000:]
    assert "Traceback" not in err and "QThread" not in err
    reply = last_reply(data)
    handed_over = int((tmp_path / "count").read_text())
    assert reply.status == "stopped"
    assert len(reply.content.split()) == handed_over > 50      # not one token lost


def test_ctrl_c_quits_when_idle(tmp_path):
    proc = start(tmp_path, tmp_path / "data")
    wait_for(proc, "READY")
    proc.send_signal(signal.SIGINT)       # an idle Qt loop never ran Python's handler before
    code, _out, err = finish(proc, timeout=30)
    assert code == 0 and "KeyboardInterrupt" not in err


def test_a_second_instance_on_the_same_data_dir_brings_the_first_forward(tmp_path):
    data = tmp_path / "data"
    first = start(tmp_path, data, reply_words=100_000)
    wait_for(first, "STREAMING")
    second = start(tmp_path, data)
    code, out, err = finish(second, timeout=60)
    assert code == 0 and "already running" in err and "READY" not in out
    wait_for(first, "RAISED")
    assert last_reply(data).status == "streaming"    # the second start did not mark it interrupted
    first.send_signal(signal.SIGTERM)
    assert finish(first)[0] == 0
    assert last_reply(data).status == "stopped"
    # The lock goes with the process: the next start works.
    again = start(tmp_path, data, QUIT_SOON="1")
    assert finish(again)[0] == 0


@pytest.mark.parametrize("make, words", [
    ("file", "it is a file, not a folder"), ("dev-null", "it is not a folder"),
    ("under-a-file", "part of its path is a file"),
])
def test_a_data_dir_that_cannot_be_used_offers_the_usual_one(tmp_path, make, words):
    (tmp_path / "plain-file").write_text("not a folder")
    data = {"file": tmp_path / "plain-file", "dev-null": "/dev/null",
            "under-a-file": tmp_path / "plain-file" / "data"}[make]
    proc = start(tmp_path, data, DIALOG_ANSWER="Use", QUIT_SOON="1")
    dialog = wait_for(proc, "DIALOG")
    assert f"cannot keep its chats in {data}: {words}" in dialog
    used = wait_for(proc, "DATA")
    assert used == f"DATA {tmp_path / 'xdg-data' / 'chatapp'}"
    code, _out, err = finish(proc)
    assert code == 0 and "Traceback" not in err


def test_quitting_at_the_data_dir_dialog(tmp_path):
    proc = start(tmp_path, "/dev/null", DIALOG_ANSWER="Quit")
    wait_for(proc, "DIALOG")
    code, out, err = finish(proc)
    assert code == 1 and "Traceback" not in err and "DATA" not in out
