"""Build the application: settings, storage, session, window. Show the window FIRST, load models after."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Nothing leaves the machine: no hub downloads, no telemetry, set before any ML library loads.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
               "TRANSFORMERS_OFFLINE": "1", "DIFFUSERS_OFFLINE": "1"}


def go_offline() -> None:
    os.environ.update(OFFLINE_ENV)


@dataclass
class AppParts:
    session: object
    window: object
    storage: object
    paths: object


def open_storage(paths, parent=None):
    """Open the database; a damaged one is moved aside (never deleted) after asking; problems never crash."""
    from PySide6.QtWidgets import QMessageBox

    from .storage import CorruptDatabase, Storage, StorageError
    try:
        storage = Storage(paths.database)
        if storage.read_only:
            return storage, (f"The data folder {paths.data_dir} is read-only: your chats are shown, but nothing new "
                             "can be saved, so messages are not sent. Make the folder writable (or start chatapp "
                             "with another --data-dir) and start chatapp again.")
        return storage, None
    except CorruptDatabase:
        aside = paths.database.with_name(f"{paths.database.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        answer = QMessageBox.question(
            parent, "Damaged database",
            f"The chat database at {paths.database} is damaged and cannot be opened.\n\n"
            f"Move it aside to {aside.name} and start with an empty one? Nothing is deleted.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(paths.database) + suffix)
                if src.exists():
                    os.replace(src, Path(str(aside) + suffix))
            return Storage(paths.database), f"The damaged database was kept as {aside.name}."
        return Storage(Path(":memory:")), "The damaged database was left untouched; this session is not saved."
    except StorageError as exc:
        return Storage(Path(":memory:")), f"{exc} Chats in this session will not be saved."
    except OSError as exc:   # the folder vanished or cannot be made: run unsaved rather than not at all
        return Storage(Path(":memory:")), (f"The data folder {paths.data_dir} cannot be used "
                                           f"({exc.strerror or exc}). Chats in this session will not be saved.")


def build(paths, settings, settings_note=None, *, llm_engine_factory=None, image_engine_factory=None,
          open_last=True) -> AppParts:
    """Everything but the event loop; tests build the real app with this too."""
    from PySide6.QtWidgets import QApplication

    from .session import ChatSession
    from .settings import save_settings
    from .storage import StorageError
    from .ui.icon import app_icon
    from .ui.main_window import MainWindow
    from .ui.style import apply_style
    from .workers.collector import collect_on_gui_thread

    apply_style()
    collect_on_gui_thread(QApplication.instance())
    # Hand the GIL over every 1 ms instead of 5: the GUI and the two workers interleave short
    # Python stretches, and a token or a repaint should never wait 5 ms for its turn.
    sys.setswitchinterval(0.001)
    storage, storage_note = open_storage(paths)
    try:
        storage.mark_interrupted()
    except StorageError as exc:   # a full disk at start-up: the chats still open, the notice says why
        storage_note = storage_note or str(exc)
    session = ChatSession(storage, settings, paths, llm_engine_factory=llm_engine_factory,
                          image_engine_factory=image_engine_factory)
    window = MainWindow(session)
    window.setWindowIcon(app_icon())   # title bar and taskbar, also where build() runs without main()

    def on_settings(new):
        from .backends.local import forget_projector
        new, forgotten = forget_projector(session.settings, new)   # the picker and Settings both come here
        if forgotten:
            window.view.add_notice(forgotten)
        try:
            save_settings(new, paths.settings_file)
        except OSError as exc:
            window.view.add_notice(f"Settings could not be saved: {exc}")
        session.apply_settings(new)   # the session (through backends.py) decides what to reload
    window.settings_changed.connect(on_settings)
    session.take_old_tools_switches()   # saved through on_settings
    if open_last:
        conversations = session.conversations()
        if conversations:
            session.open_conversation(conversations[0].id)
    for note in (settings_note, storage_note):   # after opening: opening a chat clears the notices
        if note:
            window.view.add_notice(note)
    return AppParts(session, window, storage, paths)


HEAVY_MODULES = ("llama_cpp", "torch", "diffusers", "transformers")


def _rss_mb() -> int | None:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def _report_startup(app, parts, path: Path) -> None:
    """For the bench and tests: when the window is shown and the model ready, and what was imported."""
    import json
    app.processEvents()  # the first paint
    shown = {"window_shown": time.time(), "heavy_imported_at_show": [m for m in HEAVY_MODULES if m in sys.modules]}
    path.write_text(json.dumps(shown))

    def on_state(state, _detail):
        if state in ("ready", "error"):
            # What a chat-only session holds once the model is ready: no torch, and its resident memory.
            path.write_text(json.dumps({**shown, "model_" + state: time.time(), "rss_mb_at_ready": _rss_mb(),
                                        "heavy_imported_at_ready": [m for m in HEAVY_MODULES if m in sys.modules]}))
            if os.environ.get("CHATAPP_QUIT_WHEN_READY"):
                app.quit()
    parts.session.llm_state.connect(on_state)


def apply_backend_args(settings, args):
    """--chat-backend / --image-backend and each backend's flags (whose first chooses it) for this run; keys
    come from the environment only. Returns the new settings."""
    from . import backends
    for kind, registry in backends.KINDS.items():
        if getattr(args, f"{kind}_backend", None):
            settings = backends.choose(settings, kind, getattr(args, f"{kind}_backend"))
        for backend in registry.values():
            given = {name: getattr(args, flag.lstrip("-").replace("-", "_"), None) for flag, name in backend.flags}
            if backend.flags and given[backend.flags[0][1]]:
                defaults = backend.options()
                settings = backends.choose(settings, kind, backend.name, **{
                    name: getattr(defaults, name) if value is None else value for name, value in given.items()})
    return settings


def main(args) -> int:
    go_offline()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .desktop.session import InstanceLock, SignalQuit, already_running, choose_data_dir, data_dir_problem
    from .settings import load_settings, resolve_paths, with_setting
    from .ui.icon import app_icon

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("chatapp")
    app.setDesktopFileName("chatapp")   # = the menu entry chatapp.desktop (chatapp install-desktop)
    app.setWindowIcon(app_icon())
    paths = resolve_paths(args.data_dir, args.config_dir)
    problem = data_dir_problem(paths.data_dir)
    if problem:   # a file, /dev/null, or a folder that cannot be made: say so, offer the usual one
        paths = choose_data_dir(paths, problem)
        if paths is None:
            return 1
    lock = InstanceLock(paths.data_dir)
    if not lock.acquire():
        return already_running(lock)
    settings, note = load_settings(paths.settings_file)
    if args.llm_model:
        settings.llm_model = args.llm_model
    if args.image_model:
        settings.image_model = args.image_model
    settings = apply_backend_args(settings, args)
    for name, value in getattr(args, "overrides", None) or []:   # --set NAME=VALUE, checked by the schema already
        settings = with_setting(settings, name, value)
    parts = build(paths, settings, note)
    lock.window = parts.window
    parts.window.show()

    def on_signal(_signum: int) -> None:
        parts.window.close()     # closeEvent saves the partial reply and stops the workers
        app.quit()
    signals = SignalQuit(on_signal)
    report = os.environ.get("CHATAPP_STARTUP_REPORT")
    if report:
        _report_startup(app, parts, Path(report))
    # Models load after the first paint, on their worker threads.
    QTimer.singleShot(0, parts.session.load_models)
    clean = True

    def on_quit():
        nonlocal clean
        clean = parts.session.shutdown()
    app.aboutToQuit.connect(on_quit)
    code = app.exec()
    signals.close(restore=False)   # a Ctrl+C from now on would only cut the exit short: ignored
    parts.storage.close()
    lock.release()
    if not clean:
        # A worker is stuck inside a library call (e.g. a huge model mid-import). Everything is
        # already saved; leave without destroying its QThread, which would abort the process.
        os._exit(code)
    return code
