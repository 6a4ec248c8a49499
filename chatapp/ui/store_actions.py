"""Export and import from the window: ask where, run the work on the store thread (workers.store_calls) with its own connection, say what happened (a MainWindow mixin)."""
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
        from ..workers import store_calls
        if getattr(self, "_store_calls", None) is None:
            calls = self._store_calls = store_calls()
            self._store_refresh = set()
            calls.done.connect(self._on_store_done)   # a bound method: runs on the GUI thread
            # Quitting waits for a running job (its own connection commits or rolls back first).
            QGuiApplication.instance().aboutToQuit.connect(lambda: calls.shutdown(10_000))
        call_id = self._store_calls.call(job)
        if refresh:
            self._store_refresh.add(call_id)

    def _on_store_done(self, call_id: int, text, error) -> None:
        refresh = call_id in self._store_refresh
        self._store_refresh.discard(call_id)
        if error is not None:
            self.view.add_notice(self._store_calls.message(error))
            return
        self.view.add_notice(text)
        if refresh:
            self.session.conversations_came_in()   # the sidebar lists them
