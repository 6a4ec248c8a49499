"""The app's place in the desktop session: a usable data folder, one instance per data folder, quit on signals."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import stat
import sys
from pathlib import Path

import platformdirs
from PySide6.QtCore import QLockFile, QObject, QSocketNotifier
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QMessageBox

from ..settings import APP_NAME, Paths

LOCK_NAME = "chatapp.lock"


def usual_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def data_dir_problem(path: Path) -> str | None:
    """Why chats cannot be kept in path (None when they can); creates the folder when missing."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "it is a file, not a folder" if path.is_file() else "it is not a folder"
    except NotADirectoryError:
        return "part of its path is a file, not a folder"
    except PermissionError:
        return "chatapp is not allowed to create it"
    except OSError as exc:
        return f"it cannot be created ({exc.strerror or exc})"
    if not path.is_dir():
        return "it is not a folder"
    return None


def choose_data_dir(paths: Paths, problem: str) -> Paths | None:
    """Say what is wrong with the data folder and offer the usual one; None means quit."""
    usual = usual_data_dir()
    box = QMessageBox(QMessageBox.Icon.Critical, "chatapp cannot start",
                      f"chatapp cannot keep its chats in {paths.data_dir}: {problem}.")
    use = None
    if usual != paths.data_dir and data_dir_problem(usual) is None:
        box.setInformativeText(f"Use the usual data folder, {usual}, for now? Or quit and start chatapp "
                               "with another --data-dir.")
        use = box.addButton(f"Use {usual}", QMessageBox.ButtonRole.AcceptRole)
    else:
        box.setInformativeText("Start chatapp with another --data-dir.")
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    if use is None or box.clickedButton() is not use:
        return None
    # The config stays where it was asked to be, unless it was the bad folder's own.
    config = paths.config_dir if not paths.config_dir.is_relative_to(paths.data_dir) else \
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    return Paths(usual, config)


def _server_name(data_dir: Path) -> str:
    return "chatapp-" + hashlib.sha1(str(data_dir.resolve()).encode("utf-8", "replace")).hexdigest()[:16]


class InstanceLock(QObject):
    """One chatapp per data folder. A second start finds the lock held, asks the first (over a
    local socket) to bring its window forward, and leaves; two apps on one database would mark
    each other's live replies as interrupted and delete under each other's feet."""

    def __init__(self, data_dir: Path):
        super().__init__()
        self.data_dir = data_dir
        self.lock = QLockFile(str(data_dir / LOCK_NAME))
        self.lock.setStaleLockTime(0)    # stale only when its process is gone, never by age
        self.server: QLocalServer | None = None
        self.window = None

    def acquire(self) -> bool:
        """True when this process may use the data folder (it holds the lock, or none can be made).

        False with self.problem set: the lock's name is taken by something that is not a lock file."""
        self.problem = lock_problem(self.data_dir / LOCK_NAME)
        if self.problem:
            return False
        if not self.lock.tryLock(200):
            # Only a lock held by a live process means another chatapp; a read-only folder cannot
            # hold a lock file at all, and the app runs there anyway (unsaved, and says so).
            if self.lock.error() != QLockFile.LockError.LockFailedError:
                return True
            # Qt calls a lock stale only when no process has its PID; after a crash and a reboot
            # another program (often another Python) may have that PID. A live chatapp keeps an
            # flock on its lock file, so a lock nobody holds is stale, whoever has the PID now.
            if held(self.data_dir / LOCK_NAME) is not False:
                return False
            self.took_over = self.owner()
            if not (self.lock.removeStaleLockFile() and self.lock.tryLock(200)):
                return False
        name = _server_name(self.data_dir)
        QLocalServer.removeServer(name)  # a socket left by a crashed instance (we hold the lock)
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if self.server.listen(name):
            self.server.newConnection.connect(self._on_connection)
        return True

    def _on_connection(self) -> None:
        while self.server.hasPendingConnections():
            conn = self.server.nextPendingConnection()
            conn.disconnected.connect(conn.deleteLater)
            conn.close()
            if self.window is not None:
                self.window.showNormal()
                self.window.raise_()
                self.window.activateWindow()

    problem: str | None = None
    took_over: str | None = None   # whose stale lock this process took over (for the record)

    def owner(self) -> str:
        info = self.lock.getLockInfo()     # PySide6: (pid, hostname, appname), or a bool first
        info = info[1:] if len(info) == 4 else info
        if not info or not info[0]:
            return "another process"
        pid, host = info[0], info[1]
        return f"process {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")

    def wake_other(self) -> bool:
        """Ask the running instance to bring its window forward; True when it answered."""
        conn = QLocalSocket()
        conn.connectToServer(_server_name(self.data_dir))
        if not conn.waitForConnected(2000):
            return False
        conn.write(b"show\n")
        conn.waitForBytesWritten(1000)
        conn.disconnectFromServer()
        return True

    def release(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.lock.isLocked():
            self.lock.unlock()


def lock_problem(path: Path) -> str | None:
    """Why the lock file's name cannot be used (None when it can): something else has it."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    kind = "a folder" if stat.S_ISDIR(mode) else "a link" if stat.S_ISLNK(mode) else "not a plain file"
    return (f"{path} is {kind}. chatapp keeps a small lock file under that name so that only one chatapp "
            f"uses the data folder {path.parent} at a time. Move or rename it (chatapp does not touch it), "
            "then start chatapp again.")


def held(path: Path) -> bool | None:
    """Whether a live process holds the lock file (Qt keeps an flock on it while locked); None: cannot tell."""
    try:
        import fcntl
    except ImportError:     # not on this system: leave it to Qt's own judgement
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def already_running(lock: InstanceLock) -> int:
    """The second start: bring the first window forward, or say why this one cannot run."""
    if lock.problem:
        QMessageBox(QMessageBox.Icon.Critical, "chatapp cannot start", lock.problem).exec()
        return 1
    if lock.wake_other():
        print(f"chatapp is already running with the data folder {lock.data_dir} ({lock.owner()}); "
              "its window was brought forward.", file=sys.stderr)
        return 0
    QMessageBox.information(
        None, "chatapp is already running",
        f"chatapp is already running with the data folder {lock.data_dir} ({lock.owner()}).\n\n"
        "Switch to that window, or start this one with another --data-dir.")
    return 1


class SignalQuit(QObject):
    """SIGTERM (logout, shutdown, kill), SIGINT (Ctrl+C) and SIGHUP quit like closing the window:
    the partial reply is saved, workers stop, exit code 0.

    A second signal (Ctrl+C pressed twice) asks for the quit already under way: it changes nothing,
    and the exit code is 0 still, as for closing the window; 130 would tell a shell or a service
    manager the app was cut short, when everything was saved.

    Python runs signal handlers only when the interpreter gets control, which an idle Qt loop
    never gives it; the C-level handler writes the signal number to a socket (set_wakeup_fd) and
    a QSocketNotifier wakes the loop to act on it.
    """
    SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))

    def __init__(self, on_signal):
        super().__init__()
        self._on_signal = on_signal
        self._read, self._write = socket.socketpair()
        for s in (self._read, self._write):
            s.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._old = {sig: signal.signal(sig, lambda *_: None) for sig in self.SIGNALS}
        self.notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self.notifier.activated.connect(self._wake)
        self.received: list[int] = []

    def _wake(self, *_args) -> None:
        try:
            data = self._read.recv(64)
        except OSError:
            return
        self.received += list(data)
        if data:
            self._on_signal(data[-1])

    def close(self, restore: bool = True) -> None:
        """Stop listening. restore=False (the app is exiting): the signals stay ignored until the process
        ends; restored, Python's Ctrl+C handler (and at interpreter exit SIG_DFL) would cut the exit
        short with status 130 after the data was saved."""
        self.notifier.setEnabled(False)
        signal.set_wakeup_fd(self._old_fd)
        for sig, handler in self._old.items():
            if not restore:
                handler = signal.SIG_IGN     # Python leaves SIG_IGN alone at exit; it resets its own handlers
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._read.close()
        self._write.close()
