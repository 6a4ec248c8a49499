"""A backend's Settings rows drawn from its options dataclass: field type and check -> widget, metadata -> words."""
from __future__ import annotations

import typing
from dataclasses import fields
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QRegularExpression
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLineEdit,
                               QPushButton, QSpinBox, QWidget)

from .remote_box import RemoteServerBox


def spin(check, value, decimals=None, step=None):
    """A spin box over a Number check's range (threads: the cores this process may use)."""
    lo, hi = check.bounds()
    box = QDoubleSpinBox() if decimals is not None else QSpinBox()
    if decimals is not None:
        box.setDecimals(decimals)
    box.setRange(lo, hi)
    if step:
        box.setSingleStep(step)
    box.setValue(min(max(value, lo), hi))   # a value from an older, looser file shows as the nearest allowed
    return box


def choices(check, current: str, labels: dict | None = None) -> QComboBox:
    """A drop-down of a Text check's choices."""
    combo = QComboBox()
    for value in check.allowed():
        combo.addItem((labels or {}).get(value, value), value)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


def checked_line(check, text: str) -> QLineEdit:
    """A line edit that takes only what a Text check's pattern allows."""
    edit = QLineEdit(text)
    if check.pattern:
        edit.setValidator(QRegularExpressionValidator(QRegularExpression(check.pattern), edit))
    edit.setMaxLength(check.max_chars)
    return edit


def path_row(parent, value: str, placeholder: str, pick) -> tuple[QWidget, QLineEdit]:
    box = QWidget(parent)
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    edit = QLineEdit(value, box)
    edit.setPlaceholderText(placeholder)
    button = QPushButton("Browse…", box)
    button.clicked.connect(lambda: pick(edit))
    row.addWidget(edit, 1)
    row.addWidget(button)
    return box, edit


def label_fields(form: QFormLayout) -> None:
    """Screen readers read each field by its row's label."""
    for row in range(form.rowCount()):
        label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        if label and field and label.widget() and field.widget():
            field.widget().setAccessibleName(label.widget().text())
            for child in field.widget().findChildren(QLineEdit):
                child.setAccessibleName(label.widget().text())


def align_labels(page: QWidget) -> None:
    """One label column for every form on a page: a backend's rows (forms inside a row of the page's
    form) start their fields where the page's own rows do."""
    labels = [item.widget() for form in page.findChildren(QFormLayout) for row in range(form.rowCount())
              if (item := form.itemAt(row, QFormLayout.ItemRole.LabelRole)) and item.widget()]
    width = max((label.sizeHint().width() for label in labels), default=0)
    for label in labels:
        label.setMinimumWidth(width)


class OptionsForm(QWidget):
    """One backend's options as form rows; values() gives them back as its options dataclass."""

    def __init__(self, backend, values, config_dir: Path | None, pickers: dict[str, Callable], parent=None):
        super().__init__(parent)
        self.backend = backend
        self.widgets: dict[str, QWidget] = {}          # option field -> the widget that edits it
        self._read: dict[str, Callable[[], object]] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        by_role = {f.metadata["ui"].get("role"): f for f in fields(backend.options)}
        self.remote = None
        if "url" in by_role:   # a server: its address, the models it lists and its key in one box
            url_f, model_f = by_role["url"], by_role.get("model")
            self.remote = RemoteServerBox(backend, url_f, model_f, getattr(values, url_f.name),
                                          getattr(values, model_f.name) if model_f else "", config_dir, self)
            form.addRow(self.remote)
            form = self.remote.form
            self._add(url_f.name, self.remote.url, lambda: self.remote.url.text().strip())
            if model_f is not None:
                self._add(model_f.name, self.remote.model, lambda: self.remote.model.currentText().strip())
        hints = typing.get_type_hints(backend.options)
        for f in fields(backend.options):
            if f.name not in self.widgets:
                self._row(form, f, hints[f.name], getattr(values, f.name), pickers)
        label_fields(form)

    def _add(self, name: str, widget: QWidget, read: Callable[[], object]) -> None:
        self.widgets[name], self._read[name] = widget, read

    def _row(self, form: QFormLayout, f, hint, value, pickers) -> None:
        check, label, ui = f.metadata["check"], f.metadata["label"], f.metadata["ui"]
        if hint is bool:
            w = QCheckBox(label)
            w.setChecked(value)
            self._add(f.name, w, w.isChecked)
            row = w
        elif hint in (int, float):
            w = spin(check, value, ui.get("decimals", 2 if hint is float else None), ui.get("step"))
            if ui.get("special"):
                w.setSpecialValueText(ui["special"])
            if ui.get("suffix"):
                w.setSuffix(ui["suffix"])
            self._add(f.name, w, w.value)
            row = w
        elif getattr(check, "allowed", None) and check.allowed():
            w = choices(check, value)
            self._add(f.name, w, w.currentData)
            row = w
        elif ui.get("browse"):
            row, w = path_row(self, value, ui.get("placeholder", ""), pickers[ui["browse"]])
            w.setMaxLength(check.max_chars)
            self._add(f.name, w, lambda w=w: w.text().strip())
        else:
            w = checked_line(check, value)
            w.setPlaceholderText(ui.get("placeholder", ""))
            self._add(f.name, w, lambda w=w: w.text().strip())
            row = w
        if f.metadata.get("help"):
            row.setToolTip(f.metadata["help"])
        if hint is bool:
            form.addRow(row)
        else:
            form.addRow(label, row)

    def values(self):
        return self.backend.options(**{name: read() for name, read in self._read.items()})

    def shown(self) -> None:
        """Now on screen: a server's model list is asked for (off the GUI thread) if it is still empty."""
        if self.remote is not None and self.remote.model.count() == 0:
            self.remote.fetch_models()

    def save_key(self) -> None:
        if self.remote is not None:
            self.remote.save_key()
