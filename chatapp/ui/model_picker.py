"""The model picker: models found on this computer (scanned off the GUI thread), switched in one click."""
from __future__ import annotations

import itertools
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton, QTabWidget,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout)

from ..models import builtin_sources, default_sources
from ..models.entry import CHAT, IMAGE
from ..workers import ModelScanWorker

_scan_ids = itertools.count(1)
COLUMNS = ("Name", "Source", "Size", "Quantization", "Context", "Chat template", "Notes")


def sources_for(folders: str):
    """A callable for the scan worker: built-in models, the usual places, and the user's folders."""
    extra = [p for p in folders.split(os.pathsep) if p.strip()]
    return lambda: builtin_sources() + default_sources(extra=extra)


class ModelPicker(QDialog):
    chosen = Signal(str, str)    # kind ("chat" | "image"), path for Settings ("" = the built-in model)

    def __init__(self, settings, parent=None, *, make_sources=None, kinds=(CHAT, IMAGE)):
        super().__init__(parent)
        self.setWindowTitle("Models on this computer")
        self.setAccessibleName("Model picker")
        self.resize(900, 480)
        self.settings = settings
        self._make_sources = make_sources or sources_for(settings.model_folders)
        self.entries: list = []
        self._scan_id = 0
        self.tabs = QTabWidget(self)
        self.lists: dict[str, QTreeWidget] = {}
        for kind, title in ((CHAT, "Chat models (GGUF)"), (IMAGE, "Image models (diffusers, .safetensors)")):
            if kind not in kinds:
                continue
            tree = QTreeWidget(self)
            tree.setHeaderLabels(COLUMNS)
            tree.setRootIsDecorated(False)
            tree.setAlternatingRowColors(True)
            tree.setAccessibleName(title)
            # Bound methods, not lambdas: a lambda holding self makes a reference cycle, and a cycle
            # may be collected on a worker thread, where destroying Qt objects with timers warns.
            tree.itemActivated.connect(self._on_activated)   # double-click or Enter
            tree.currentItemChanged.connect(self._update_buttons)
            self.lists[kind] = tree
            self.tabs.addTab(tree, title)
        self.status = QLabel("Looking for models…", self)
        self.status.setAccessibleName("Scan status")
        self.rescan_button = QPushButton("Look again", self)
        self.rescan_button.setAccessibleName("Look for models again")
        self.rescan_button.clicked.connect(self._rescan_or_cancel)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.use_button = buttons.addButton("Use this model", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setAccessibleName("Use the selected model")
        self.use_button.clicked.connect(self._use_current)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.rescan_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.worker = ModelScanWorker()
        # Bound methods of this GUI-thread dialog: Qt queues the worker's signals here.
        self.worker.progress.connect(self._on_progress)
        self.worker.found.connect(self._on_found)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.failed.connect(self._on_failed)
        self._update_buttons()
        self.start_scan()

    # --- scanning -------------------------------------------------------------------------------
    @property
    def scanning(self) -> bool:
        return self._scan_id != 0

    def start_scan(self) -> None:
        self._scan_id = next(_scan_ids)
        self.status.setText("Looking for models…")
        self.rescan_button.setText("Stop looking")
        self.worker.request_scan(self._scan_id, self._make_sources)

    def cancel_scan(self) -> None:
        if self._scan_id:
            self.worker.cancel(self._scan_id)

    def _rescan_or_cancel(self) -> None:
        self.cancel_scan() if self.scanning else self.start_scan()

    def _on_progress(self, scan_id: int, files: int, where: str) -> None:
        if scan_id == self._scan_id:
            self.status.setText(f"Looking for models… {files:,} files so far ({where})")

    def _on_found(self, scan_id: int, entries: list) -> None:
        if scan_id != self._scan_id:
            return
        self._scan_id = 0
        self.entries = entries
        self.rescan_button.setText("Look again")
        for kind, tree in self.lists.items():
            self._fill(tree, [e for e in entries if e.kind == kind], getattr(self.settings, _field(kind)))
        usable = sum(e.usable for e in entries)
        self.status.setText(f"Found {usable} usable model{'s' if usable != 1 else ''}"
                            + (f" and {len(entries) - usable} that cannot be used" if len(entries) > usable else "")
                            + ". Double-click one to switch to it.")
        self._update_buttons()

    def _on_cancelled(self, scan_id: int) -> None:
        if scan_id == self._scan_id:
            self._scan_id = 0
            self.rescan_button.setText("Look again")
            self.status.setText("Stopped looking.")

    def _on_failed(self, scan_id: int, message: str) -> None:
        if scan_id == self._scan_id:
            self._scan_id = 0
            self.rescan_button.setText("Look again")
            self.status.setText(message)

    # --- the lists ------------------------------------------------------------------------------
    def _fill(self, tree: QTreeWidget, entries: list, current_path: str) -> None:
        tree.clear()
        for e in sorted(entries, key=lambda e: (not e.usable, e.source != "Built in", e.name.lower())):
            ctx = f"{e.context_length:,}" if e.context_length else ""
            template = ("yes" if e.chat_template else "no") if e.kind == CHAT else ""
            item = QTreeWidgetItem([e.name, e.source, e.size_text, e.quantization or e.architecture, ctx,
                                    template, e.reason])
            item.setData(0, Qt.ItemDataRole.UserRole, e)
            tip = f"{e.details.get('file', e.path)}" + (f"\n{e.reason}" if e.reason else "")
            for col in range(len(COLUMNS)):
                item.setToolTip(col, tip)
            if not e.usable:   # greyed, not choosable; the reason is in the Notes column
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled & ~Qt.ItemFlag.ItemIsSelectable)
            if e.usable and e.path == current_path:
                font = item.font(0)
                font.setBold(True)
                item.setFont(0, font)
                item.setText(6, ("in use. " + e.reason).strip())
            tree.addTopLevelItem(item)
        for col in range(1, len(COLUMNS) - 1):
            tree.resizeColumnToContents(col)
        tree.setColumnWidth(0, 280)

    def _current_list(self) -> QTreeWidget:
        return self.tabs.currentWidget()

    def _on_activated(self, item, _column: int) -> None:
        self._choose(item)

    def _use_current(self) -> None:
        self._choose(self._current_list().currentItem())

    def _update_buttons(self, *_args) -> None:
        item = self._current_list().currentItem() if self.lists else None
        self.use_button.setEnabled(bool(item) and bool(item.flags() & Qt.ItemFlag.ItemIsEnabled))

    def _choose(self, item) -> None:
        entry = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if entry is None or not entry.usable:
            return
        self.chosen.emit(entry.kind, entry.path)
        self.accept()

    def select(self, kind: str, path: str) -> bool:
        """Make the row for path current (tests, keyboard users arriving from Settings)."""
        tree = self.lists[kind]
        self.tabs.setCurrentWidget(tree)
        for i in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole).path == path:
                tree.setCurrentItem(item)
                return True
        return False

    # --- closing --------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the scan and its thread; one stuck in a file read is kept alive rather than destroyed."""
        self.cancel_scan()
        self.worker.shutdown(10_000)   # one that does not end in time is kept alive by workers.base

    def done(self, result: int) -> None:
        self.cancel_scan()
        super().done(result)


def _field(kind: str) -> str:
    return "llm_model" if kind == CHAT else "image_model"
