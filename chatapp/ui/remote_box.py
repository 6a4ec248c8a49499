"""Settings rows for a server backend: its URL, its model (listed by the server), its API key."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit, QPushButton, QWidget

from ..backends import secrets
from ..workers import Calls


class RemoteServerBox(QWidget):
    """The rows of a backend's options with role "url" and "model" (backends/openai.py), and its key's."""

    def __init__(self, backend, url_field, model_field, url: str, model: str, config_dir: Path | None, parent=None):
        super().__init__(parent)
        self.backend, self.config_dir = backend, config_dir
        self.kind = backend.secret     # the key's name in backends.secrets ("" = the backend takes none)
        self._url_name = url_field.name
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.form = form
        self.url = QLineEdit(url)
        self.url.setPlaceholderText(url_field.metadata["ui"].get("placeholder", "e.g. http://gpu-box:8000/v1"))
        self.url.setMaxLength(url_field.metadata["check"].max_chars)   # the options schema's limit
        self.url.editingFinished.connect(self.fetch_models)
        self.model = QComboBox()
        self.model.setEditable(True)
        if model_field is not None:
            self.model.lineEdit().setPlaceholderText(model_field.metadata["ui"].get("placeholder", ""))
            self.model.lineEdit().setMaxLength(model_field.metadata["check"].max_chars)
        self.model.setCurrentText(model)
        self.fetch = QPushButton("Refresh list")
        self.fetch.clicked.connect(self.fetch_models)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("unchanged (type a new key to replace the stored one)")
        self.forget_key = QCheckBox("Forget the stored key")
        note = QLabel("")
        note.setWordWrap(True)
        note.setObjectName("keyNote")
        self.key_note = note
        form.addRow(url_field.metadata["label"], self.url)
        if model_field is not None:
            form.addRow(model_field.metadata["label"], self.model)
            form.addRow("", self.fetch)
            form.addRow("", self.status)
        if self.kind:
            form.addRow("API key", self.key)
            form.addRow("", self.forget_key)
            form.addRow("", note)
        self._caller = Calls()
        self._caller.done.connect(self._on_models)
        self._pending = 0
        if config_dir is not None and self.kind:
            # Finding the keychain imports keyring and may ask D-Bus: not on the GUI thread.
            self._note_call = Calls()
            self._note_call.done.connect(self._on_note)   # a bound method: runs on the GUI thread
            self._note_call.call(secrets.where, config_dir)

    def fetch_models(self) -> None:
        """GET /models off the GUI thread; the list fills the drop-down when it arrives."""
        url, typed, config_dir, kind = self.url.text().strip(), self.key.text().strip(), self.config_dir, self.kind
        if not url or self.backend.list_models is None:
            return
        options = self.backend.options(**{self._url_name: url})
        list_models = self.backend.list_models

        def look_up():
            key = typed or (secrets.get_key(kind, config_dir) if config_dir and kind else "")
            return list_models(options, key)
        self._pending = self._caller.call(look_up)
        self.status.setText("Asking the server for its models…")

    def _on_models(self, call_id: int, ids, error) -> None:
        if call_id != self._pending:
            return   # an answer to an older question (the URL changed since)
        if error is not None:
            self.status.setText(f"⚠ {self._caller.message(error)}")
            return
        current = self.model.currentText()
        self.model.clear()
        self.model.addItems(ids)
        self.model.setCurrentText(current if current else "")
        self.status.setText(f"The server offers {len(ids)} model(s)." if ids else "The server lists no models.")

    def _on_note(self, _call_id: int, text, error) -> None:
        if error is None:
            self.key_note.setText(text)
            # Nested form rows do not pass a wrapped label's height-for-width up: ask for its lines' height.
            self.key_note.setMinimumHeight(self.key_note.heightForWidth(max(self.key_note.width(), 1)))

    def save_key(self) -> None:
        if self.config_dir is None or not self.kind:
            return
        if self.key.text().strip():
            secrets.set_key(self.kind, self.key.text().strip(), self.config_dir)
        elif self.forget_key.isChecked():
            secrets.set_key(self.kind, "", self.config_dir)
