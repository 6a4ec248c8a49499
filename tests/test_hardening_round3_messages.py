"""Issue 28 items 6 and 9: messages that name what is really wrong (the database path, the instance lock,
a read-only data folder), and a second Ctrl+C during the exit changes nothing (exit status 0, data saved)."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chatapp.app import open_storage
from chatapp.desktop.session import LOCK_NAME, InstanceLock
from chatapp.settings import resolve_paths
from chatapp.storage import Storage

from .test_hardening_app import finish, last_reply, start, wait_for


# --- the database path ------------------------------------------------------------------------
@pytest.mark.parametrize("make, where, words", [
    (lambda db: db.mkdir(parents=True), "", "is a folder, not a file"),                  # the issue's
    (lambda db: (db.parent.mkdir(parents=True), os.mkfifo(db)), "", "is a named pipe (FIFO)"),   # the issue's
    (lambda db: (db.parent.mkdir(parents=True), Storage(db).close(), Path(f"{db}-wal").mkdir()),
     "-wal", "is a folder, not a file"),                                                   # its companion
])
def test_a_database_path_that_is_not_a_file_is_named_for_what_it_is(tmp_path, make, where, words):
    paths = resolve_paths(str(tmp_path / "data"))
    make(paths.database)
    storage, note = open_storage(paths)
    assert str(storage.path) == ":memory:"             # the app still starts, unsaved
    assert f"{paths.database}{where} {words}" in note and "Move or rename it" in note
    assert "read-only, missing" not in note and "disk reported an error" not in note


# --- the instance lock ------------------------------------------------------------------------
@pytest.mark.parametrize("make, kind", [
    (lambda p: p.mkdir(), "a folder"),                                  # the issue's
    (lambda p: p.symlink_to(p.parent / "gone"), "a link"),              # a dangling link (another tool's)
])
def test_a_lock_name_taken_by_something_else_is_named(tmp_path, make, kind):
    data = tmp_path / "data"
    data.mkdir()
    make(data / LOCK_NAME)
    lock = InstanceLock(data)
    assert not lock.acquire()
    assert f"{data / LOCK_NAME} is {kind}" in lock.problem and "already running" not in lock.problem


def test_a_lock_name_that_is_a_folder_ends_the_start_with_that_message(tmp_path):
    data = tmp_path / "data"
    (data / LOCK_NAME).mkdir(parents=True)
    proc = start(tmp_path, data, DIALOG_ANSWER="OK")
    dialog = wait_for(proc, "DIALOG")
    code, out, _err = finish(proc)
    assert f"{data / LOCK_NAME} is a folder" in dialog and "already running" not in dialog
    assert code == 1 and "DATA" not in out


def stale_lock(data: Path, pid: int) -> None:
    """A lock file as a crashed chatapp leaves it (Qt's own format, nobody holding it), naming pid."""
    code = ("import os, sys; from PySide6.QtCore import QLockFile; "
            "l = QLockFile(sys.argv[1]); assert l.tryLock(100); os._exit(0)")   # no unlock: a crash
    subprocess.run([sys.executable, "-c", code, str(data / LOCK_NAME)], check=True)
    lines = (data / LOCK_NAME).read_text().split("\n")
    (data / LOCK_NAME).write_text("\n".join([str(pid), *lines[1:]]))


@pytest.fixture
def another_python():
    """A live Python process that is not chatapp: the one that got the crashed app's PID."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield proc.pid
    proc.stdin.close()
    proc.wait(30)


def test_a_stale_lock_whose_pid_another_python_now_has_is_taken_over(tmp_path, another_python):
    data = tmp_path / "data"
    data.mkdir()
    stale_lock(data, another_python)
    proc = start(tmp_path, data, QUIT_SOON="1")
    assert wait_for(proc, "DATA") == f"DATA {data}"      # it started, on that data folder
    code, _out, err = finish(proc)
    assert code == 0 and "already running" not in err
    assert not (data / LOCK_NAME).exists()                # taken over, then released at exit


def test_a_stale_lock_naming_this_very_process_is_taken_over_but_a_held_one_is_not(tmp_path, qtbot):
    data = tmp_path / "data"
    data.mkdir()
    stale_lock(data, os.getpid())                         # a PID that is alive and is Python: this one
    first = InstanceLock(data)
    assert first.acquire() and first.took_over and not first.problem
    second = InstanceLock(data)                           # now it IS held by a live instance
    assert not second.acquire() and not second.problem
    first.release()
    second.release()
    first.deleteLater()      # their local servers go with the event loop, not with the garbage collector
    second.deleteLater()


# --- a read-only data folder ------------------------------------------------------------------
@pytest.fixture
def read_only_data(tmp_path):
    """A data folder with a saved chat, on a read-only disk (root: a tmpfs remounted read-only;
    others: a folder without write permission)."""
    data = tmp_path / "data"
    made = tmp_path / "made"
    st = Storage(made / "chatapp.sqlite3")
    conv = st.create_conversation("Kept chat")
    st.add_message(conv.id, "user", "a question kept safe")
    st.add_message(conv.id, "assistant", "an answer kept safe")
    st.close()
    if os.geteuid() == 0:
        data.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(data)]).returncode:
            pytest.skip("cannot mount a small filesystem here")
        shutil.copy(made / "chatapp.sqlite3", data)
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
        yield data
        subprocess.run(["umount", "-l", str(data)])
    else:
        shutil.copytree(made, data)
        data.chmod(0o555)
        (data / "chatapp.sqlite3").chmod(0o444)
        yield data
        data.chmod(0o755)


def test_a_read_only_data_folder_shows_the_chats_read_only(qtbot, read_only_data):
    from chatapp.app import build
    from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
    from chatapp.settings import Settings
    parts = build(resolve_paths(str(read_only_data)), Settings(), llm_engine_factory=FakeChatEngine,
                  image_engine_factory=FakeImageEngine)
    qtbot.addWidget(parts.window)
    try:
        titles = [c.title for c in parts.session.conversations()]
        assert titles == ["Kept chat"]                                    # shown, not hidden
        assert parts.storage.read_only
        assert [m.content for m in parts.storage.messages(parts.session.current.id)] == \
            ["a question kept safe", "an answer kept safe"]               # and opened, as the last chat
        shown = [n.label.text() for n in parts.window.view._notices]
        assert any("is read-only: your chats are shown" in t for t in shown), shown
        seen = []
        parts.session.notice.connect(seen.append)
        parts.window.composer.set_text("a new question")
        parts.window._submit("a new question")
        assert "read-only" in seen[-1]                                    # sending is explained...
        assert parts.window.composer.editor.toPlainText() == "a new question"   # ...and the text stays
    finally:
        parts.session.shutdown()
        parts.storage.close()


# --- Ctrl+C twice -----------------------------------------------------------------------------
def test_ctrl_c_twice_50_ms_apart_exits_0_with_the_reply_saved(tmp_path):
    """The issue's case: a reply streaming, Ctrl+C, and Ctrl+C again 50 ms later (the second
    used to land after the handlers were put back, and the process died with status 130)."""
    data = tmp_path / "data"
    proc = start(tmp_path, data, reply_words=100_000)
    wait_for(proc, "STREAMING")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)                    # the stimulus itself: the second press, 50 ms later
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    code, _out, err = finish(proc)
    assert code == 0, err[-2000:]
    assert last_reply(data).status == "stopped"


# The app's own main(), with a pause right after the event loop ended and the signals were closed:
# exactly where a second Ctrl+C used to land. The pause waits for the test, not for a time.
PAUSE_AFTER_CLOSE = """
from chatapp.desktop import session as desktop
_close = desktop.SignalQuit.close
def close(self, *a, **k):
    _close(self, *a, **k)
    print("CLOSED", flush=True)
    sys.stdin.readline()          # the test sends SIGINT, then a line
desktop.SignalQuit.close = close
"""


def test_a_ctrl_c_after_the_loop_ended_changes_nothing(tmp_path):
    from . import test_hardening_app as harness
    child = harness.CHILD.replace("sys.exit(A.main(", PAUSE_AFTER_CLOSE + "sys.exit(A.main(")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "x"),
               XDG_CONFIG_HOME=str(tmp_path / "y"))
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", child, str(data), str(tmp_path / "count"), "0",
                             "--data-dir", str(data)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(proc, "READY")
    proc.send_signal(signal.SIGINT)             # the first: quit
    wait_for(proc, "CLOSED")
    proc.send_signal(signal.SIGINT)             # the second, after the loop ended
    proc.stdin.write("go on\n")
    proc.stdin.flush()
    code, _out, err = finish(proc)
    assert code == 0 and "KeyboardInterrupt" not in err, err[-2000:]
    assert not (data / LOCK_NAME).exists()      # the exit ran to its end (the lock released)


def test_the_signal_closer_still_restores_handlers_when_asked(qtbot):
    """Tests and embedders get the old handlers back; only the exiting app keeps them ignored."""
    from chatapp.desktop.session import SignalQuit
    before = signal.getsignal(signal.SIGINT)
    quit_ = SignalQuit(lambda _s: None)
    quit_.close()
    assert signal.getsignal(signal.SIGINT) is before
    quit_ = SignalQuit(lambda _s: None)
    quit_.close(restore=False)
    try:
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
