"""Settings' MCP servers: a small list editor (add, remove, edit, Test lists a server's tools off the GUI thread)."""
from __future__ import annotations

import shlex
from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)

from ..backends import secrets
from ..checks import MCP_TIMEOUT
from ..tools.mcp_probe import probe
from ..tools.mcp_parts import CALL_TIMEOUT, ServerConfig
from ..workers import Calls
from .options_form import label_fields

COMMAND, URL = "command", "url"
FORM_FIELDS = {"name", "command", "args", "env", "url", "headers", "timeout", "enabled"}


def _pairs(text: str, sep: str) -> dict[str, str]:
    """"KEY=VALUE" (or "Name: value") lines -> a dict; lines without the separator are left out."""
    found = {}
    for line in text.splitlines():
        key, got, value = line.partition(sep)
        if got and key.strip():
            found[key.strip()] = value.strip()
    return found


class McpServersEditor(QWidget):
    """settings.mcp_servers as a list; the form below edits the chosen server. entries() is what to save."""

    def __init__(self, entries: list[dict], config_dir: Path | None, parent=None):
        super().__init__(parent)
        self.config_dir = config_dir
        self._entries = [dict(e) for e in entries if isinstance(e, dict)]
        self._keys: dict[int, str] = {}       # row -> a key typed for it (saved with the settings)
        self._row = -1
        self.list = QListWidget()
        self.list.setAccessibleName("MCP servers")
        self.add, self.remove, self.test = QPushButton("Add"), QPushButton("Remove"), QPushButton("Test")
        self.test.setToolTip("Start the server, list its tools, and stop it again")
        self.name, self.kind, self.command = QLineEdit(), QComboBox(), QLineEdit()
        self.kind.addItem("Command (stdio)", COMMAND)
        self.kind.addItem("URL (streamable HTTP)", URL)
        self.command.setPlaceholderText("e.g. uvx mcp-server-time   or   python /path/to/server.py")
        self.env = QPlainTextEdit()
        self.env.setPlaceholderText("KEY=VALUE, one a line")
        self.url = QLineEdit()
        self.url.setPlaceholderText("e.g. http://127.0.0.1:8000/mcp")
        self.headers = QPlainTextEdit()
        self.headers.setPlaceholderText("Name: value, one a line")
        for box in (self.env, self.headers):
            box.setFixedHeight(48)
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("unchanged (sent as Authorization: Bearer …)")
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(*MCP_TIMEOUT)
        self.timeout.setDecimals(0)
        self.timeout.setSuffix(" s")
        self.enabled = QCheckBox("On: offer this server's tools to the model")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setObjectName("mcpStatus")

        buttons = QVBoxLayout()
        for button in (self.add, self.remove, self.test):
            buttons.addWidget(button)
        buttons.addStretch()
        top = QHBoxLayout()
        top.addWidget(self.list)
        top.addLayout(buttons)
        self.form = QFormLayout()
        for label, widget in (("Name", self.name), ("Starts by", self.kind), ("Command", self.command),
                              ("Environment", self.env), ("URL", self.url), ("Headers", self.headers),
                              ("API key", self.key), ("Call timeout", self.timeout), ("", self.enabled)):
            self.form.addRow(label, widget)
        label_fields(self.form)   # screen readers read each field by its row's label
        note = QLabel("Tools from these servers are offered to models that can call tools; the first call of each "
                      "asks you first. A command runs on this computer with your rights: add only servers you trust.")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self.form)
        layout.addWidget(self.status)
        layout.addWidget(note)

        self._calls = Calls(self, unexpected="The test failed")
        self._calls.done.connect(self._on_tested)
        self._pending = 0
        self.add.clicked.connect(self.add_server)
        self.remove.clicked.connect(self.remove_server)
        self.test.clicked.connect(self.test_server)
        self.list.currentRowChanged.connect(self._show)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        for entry in self._entries:
            self.list.addItem(self._label(entry))
        self.list.setCurrentRow(0 if self._entries else -1)
        self._show(self.list.currentRow())

    # --- the list ---
    def add_server(self) -> None:
        self._commit()
        taken = {e.get("name") for e in self._entries}
        name = next(f"server{n}" for n in range(1, 1000) if f"server{n}" not in taken)
        self._entries.append({"name": name, "command": ""})
        self.list.addItem(name)
        self.list.setCurrentRow(len(self._entries) - 1)
        self.name.setFocus()

    def remove_server(self) -> None:
        row = self.list.currentRow()
        if row < 0:
            return
        self._row = -1   # nothing to commit: this one goes
        del self._entries[row]
        self._keys = {r - (r > row): k for r, k in self._keys.items() if r != row}
        self.list.takeItem(row)
        self._show(self.list.currentRow())

    def entries(self) -> list[dict]:
        """The servers as settings.mcp_servers keeps them (checked by the options schema on Save)."""
        self._commit()
        return [dict(e) for e in self._entries]

    def save_keys(self) -> None:
        """Store the keys typed (Save pressed): backends.secrets, under each server's name."""
        self._commit()
        if self.config_dir is None:
            return
        for row, key in self._keys.items():
            if key and row < len(self._entries):
                secrets.set_key(ServerConfig(self._entries[row]["name"]).key_name, key, self.config_dir)

    # --- the form ---
    def _show(self, row: int) -> None:
        self._commit()
        self._row = row
        entry = self._entries[row] if 0 <= row < len(self._entries) else None
        for widget in (self.name, self.kind, self.command, self.env, self.url, self.headers, self.key,
                       self.timeout, self.enabled, self.remove, self.test):
            widget.setEnabled(entry is not None)
        entry = entry or {}
        self.name.setText(entry.get("name", ""))
        self.kind.setCurrentIndex(1 if entry.get("url") else 0)
        self.command.setText(shlex.join([entry["command"], *entry.get("args", [])]) if entry.get("command") else "")
        self.env.setPlainText("\n".join(f"{k}={v}" for k, v in entry.get("env", {}).items()))
        self.url.setText(entry.get("url", ""))
        self.headers.setPlainText("\n".join(f"{k}: {v}" for k, v in entry.get("headers", {}).items()))
        self.key.setText(self._keys.get(row, ""))
        self.timeout.setValue(entry.get("timeout", CALL_TIMEOUT))
        self.enabled.setChecked(entry.get("enabled", True))
        self.status.setText("")
        self._kind_changed()

    def _kind_changed(self, _index: int = 0) -> None:
        by_url = self.kind.currentData() == URL
        for widget, shown in ((self.command, not by_url), (self.env, not by_url), (self.url, by_url),
                              (self.headers, by_url), (self.key, by_url)):
            widget.setVisible(shown)
            self.form.labelForField(widget).setVisible(shown)

    def _commit(self) -> None:
        """The form into the entry it shows (its row in the list too)."""
        row = self._row
        if not 0 <= row < len(self._entries):
            return
        kept = {k: v for k, v in self._entries[row].items() if k not in FORM_FIELDS}   # cwd: a file's, not the form's
        entry: dict = {"name": self.name.text().strip(), **kept}
        if self.kind.currentData() == URL:
            entry["url"] = self.url.text().strip()
            headers = _pairs(self.headers.toPlainText(), ":")
            if headers:
                entry["headers"] = headers
        else:
            try:
                words = shlex.split(self.command.text())
            except ValueError:   # an unclosed quote: kept as one word, the Test or the server says why
                words = [self.command.text().strip()]
            entry["command"] = words[0] if words else ""
            if words[1:]:
                entry["args"] = words[1:]
            env = _pairs(self.env.toPlainText(), "=")
            if env:
                entry["env"] = env
        if self.timeout.value() != CALL_TIMEOUT:
            entry["timeout"] = self.timeout.value()
        if not self.enabled.isChecked():
            entry["enabled"] = False
        self._entries[row] = entry
        if self.key.text().strip():
            self._keys[row] = self.key.text().strip()
        self.list.item(row).setText(self._label(entry))

    @staticmethod
    def _label(entry: dict) -> str:
        where = entry.get("url") or shlex.join([entry.get("command", ""), *entry.get("args", [])])
        return f"{entry.get('name', '?')}: {where}" + ("" if entry.get("enabled", True) else " (off)")

    # --- Test ---
    def test_server(self) -> None:
        """List the chosen server's tools on the thread pool (start, list, stop); the answer fills the status."""
        self._commit()
        if not 0 <= self._row < len(self._entries):
            return
        entry, typed, config_dir = dict(self._entries[self._row]), self._keys.get(self._row, ""), self.config_dir
        if not entry.get("command") and not entry.get("url"):
            self.status.setText("⚠ Give a command or a URL first.")
            return

        def look_up():
            key = typed or (secrets.get_key(ServerConfig(entry["name"]).key_name, config_dir) if config_dir else "")
            return probe(entry, key)
        self._pending = self._calls.call(look_up)
        self.test.setEnabled(False)
        self.status.setText(f"Starting {entry['name']} and asking for its tools…")

    def _on_tested(self, call_id: int, tools, error) -> None:
        if call_id != self._pending:
            return
        self.test.setEnabled(0 <= self._row < len(self._entries))
        if error is not None:
            self.status.setText(f"⚠ {error if isinstance(error, RuntimeError) else self._calls.message(error)}")
        elif not tools:
            self.status.setText("The server works, and offers no tools.")
        else:
            self.status.setText(f"The server offers {len(tools)} tool(s): " + ", ".join(n for n, _ in tools))
