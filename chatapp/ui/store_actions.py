"""Export and import from the window: ask where, run the work on a StoreJob thread with its own connection, say what happened (a MainWindow mixin)."""
from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from .. import transfer


class StoreActions:
    """MainWindow's File menu export/import; uses its session and view."""

    def _add_store_actions(self, menu) -> None:
        menu.addAction("Export chat…", lambda: self.export_chats([self.session.current.id] if self.session.current else []))
        menu.addAction("Export all chats…", lambda: self.export_chats(None))
        menu.addAction("Import…", self.import_chats)
        menu.addSeparator()

    def export_chats(self, ids: list[int] | None) -> None:
        """Ask where, then write conversations `ids` (None: all) in a format of the exporters' registry."""
        if ids == []:
            self.view.add_notice("Open a chat to export it, or use Export all chats.")
            return
        conv = self.session.conversation(ids[0]) if ids else None
        name = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in conv.title)[:60] if conv else "chats"
        filters, suffix = transfer.save_choices()   # the exporters' registry; the first filter is the default
        target, chosen = QFileDialog.getSaveFileName(self, "Export", f"{name.strip() or 'chat'}{suffix}",
                                                     ";;".join(filters))
        if not target:
            return
        paths = self.session.paths
        self._run_store_job(transfer.export_job(paths.database, ids, transfer.format_for(target, chosen), target))

    def import_chats(self) -> None:
        """Ask for a chatapp JSON export or a ChatGPT conversations.json and add its conversations."""
        source, _ = QFileDialog.getOpenFileName(self, "Import chats", "", "Chats (*.json);;All files (*)")
        if not source:
            return
        paths = self.session.paths
        self._run_store_job(transfer.import_job(paths.database, paths.images, source), refresh=True)

    def _run_store_job(self, job, refresh: bool = False) -> None:
        from ..workers import StoreJob
        worker = StoreJob(job)
        self._store_jobs = [w for w in getattr(self, "_store_jobs", []) if w.isRunning()] + [worker]
        # Bound methods of GUI-thread objects only, so Qt queues the results onto the GUI thread.
        worker.done.connect(self._on_import_done if refresh else self.view.add_notice)
        worker.failed.connect(self.view.add_notice)
        # Quitting waits for it: a QThread destroyed while running would abort the process.
        QGuiApplication.instance().aboutToQuit.connect(lambda: worker.wait(10_000))
        worker.start()

    def _on_import_done(self, text: str) -> None:
        self.view.add_notice(text)
        self.session.conversations_came_in()   # the sidebar lists them
