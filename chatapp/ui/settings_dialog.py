"""Settings dialog: models, system prompt, sampling, context and hardware, image defaults."""
from __future__ import annotations

import os
from dataclasses import fields, replace

from pathlib import Path

from PySide6.QtCore import QRegularExpression
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QLabel,
                               QFormLayout, QHBoxLayout, QLineEdit, QPlainTextEdit, QPushButton, QSpinBox,
                               QTabWidget, QVBoxLayout, QWidget)

from .. import backends
from ..documents import readers
from ..settings import OPTIONS, Settings, check_setting
from .remote_box import RemoteServerBox


def _path_row(parent, value: str, placeholder: str, pick) -> tuple[QWidget, QLineEdit]:
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


def _spin(name: str, value, decimals=None, step=None):
    """A spin box over the setting's range in the options schema (threads: the cores this process may use)."""
    lo, hi = OPTIONS[name].bounds()
    box = QDoubleSpinBox() if decimals is not None else QSpinBox()
    if decimals is not None:
        box.setDecimals(decimals)
    box.setRange(lo, hi)
    if step:
        box.setSingleStep(step)
    box.setValue(min(max(value, lo), hi))   # a value from an older, looser file shows as the nearest allowed
    return box


def _choices(name: str, current: str, labels: dict | None = None) -> QComboBox:
    """A drop-down of the setting's choices in the options schema."""
    combo = QComboBox()
    for value in OPTIONS[name].allowed():
        combo.addItem((labels or {}).get(value, value), value)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


def _checked_line(name: str, text: str) -> QLineEdit:
    """A line edit that takes only what the setting's pattern in the options schema allows."""
    edit = QLineEdit(text)
    if OPTIONS[name].pattern:
        edit.setValidator(QRegularExpressionValidator(QRegularExpression(OPTIONS[name].pattern), edit))
    edit.setMaxLength(OPTIONS[name].max_chars)
    return edit


def _backend_combo(registry: dict, current: str) -> QComboBox:
    combo = QComboBox()
    for name, backend in registry.items():
        combo.addItem(backend.label, name)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent=None, config_dir: Path | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self._orig = settings
        s = settings
        tabs = QTabWidget(self)

        chat = QWidget()
        f = QFormLayout(chat)
        self.llm_backend = _backend_combo(backends.CHAT, s.llm_backend)
        f.addRow("Chat backend", self.llm_backend)
        box, self.llm_model = _path_row(chat, s.llm_model, "Embedded: SmolLM2-135M-Instruct", self._pick_gguf)
        f.addRow("Chat model (GGUF)", box)
        self.llm_remote = RemoteServerBox("llm", s.llm_remote_url, s.llm_remote_model, config_dir, chat)
        self.llm_remote_ctx = _spin("llm_remote_ctx", s.llm_remote_ctx)
        self.llm_remote_ctx.setSingleStep(1024)
        self.llm_remote_timeout = _spin("llm_remote_timeout", s.llm_remote_timeout, 0, 5)
        self.llm_remote.form.addRow("Context length (if the server does not say)", self.llm_remote_ctx)
        self.llm_remote.form.addRow("Give up after silence of (s)", self.llm_remote_timeout)
        f.addRow(self.llm_remote)
        self.system_prompt = QPlainTextEdit(s.system_prompt)
        self.system_prompt.setFixedHeight(70)
        f.addRow("Default system prompt", self.system_prompt)
        self.temperature = _spin("temperature", s.temperature, 2, 0.05)
        self.top_p = _spin("top_p", s.top_p, 2, 0.05)
        self.top_k = _spin("top_k", s.top_k)
        self.min_p = _spin("min_p", s.min_p, 2, 0.01)
        self.repeat_penalty = _spin("repeat_penalty", s.repeat_penalty, 2, 0.05)
        self.max_tokens = _spin("max_tokens", s.max_tokens)
        self.seed = _spin("seed", s.seed)
        self.seed.setSpecialValueText("random")
        self.n_ctx = _spin("n_ctx", s.n_ctx)
        self.n_ctx.setSingleStep(256)
        self.n_threads = _spin("n_threads", s.n_threads)
        self.n_threads.setSpecialValueText("auto")
        self.n_gpu_layers = _spin("n_gpu_layers", s.n_gpu_layers)
        self.n_gpu_layers.setSpecialValueText("all")
        for label, w in (("Temperature", self.temperature), ("Top-p", self.top_p), ("Top-k", self.top_k),
                         ("Min-p", self.min_p), ("Repeat penalty", self.repeat_penalty),
                         ("Max tokens per reply", self.max_tokens), ("Seed", self.seed),
                         ("Context length", self.n_ctx), ("CPU threads", self.n_threads),
                         ("GPU layers", self.n_gpu_layers)):
            f.addRow(label, w)
        tabs.addTab(chat, "Chat")
        local_chat_rows = (box, self.n_ctx, self.n_threads, self.n_gpu_layers)
        self.llm_backend.currentIndexChanged.connect(
            lambda: self._show_backend(f, self.llm_backend, local_chat_rows, self.llm_remote))
        self._show_backend(f, self.llm_backend, local_chat_rows, self.llm_remote)

        image = QWidget()
        g = QFormLayout(image)
        self.image_backend = _backend_combo(backends.IMAGE, s.image_backend)
        g.addRow("Image backend", self.image_backend)
        box, self.image_model = _path_row(image, s.image_model, "Embedded: tiny-shapes", self._pick_image)
        g.addRow("Image model", box)
        self.image_remote = RemoteServerBox("image", s.image_remote_url, s.image_remote_model, config_dir, image)
        self.image_remote_timeout = _spin("image_remote_timeout", s.image_remote_timeout, 0, 10)
        self.image_remote.form.addRow("Wait for a picture up to (s)", self.image_remote_timeout)
        g.addRow(self.image_remote)
        self.image_steps = _spin("image_steps", s.image_steps)
        self.image_steps.setSpecialValueText("model default")
        self.image_cfg = _spin("image_cfg", s.image_cfg, 1, 0.5)
        self.image_cfg.setSpecialValueText("model default")
        self.image_size = _checked_line("image_size", s.image_size)
        self.image_size.setPlaceholderText("model default, e.g. 512x512")
        self.attention_slicing = QCheckBox("Attention slicing (less memory, slower)")
        self.attention_slicing.setChecked(s.attention_slicing)
        self.cpu_offload = QCheckBox("CPU offload (for small GPUs)")
        self.cpu_offload.setChecked(s.cpu_offload)
        self.preload = QCheckBox("Load the image model at start-up")
        self.preload.setChecked(s.preload_image_model)
        for label, w in (("Steps", self.image_steps), ("Guidance (CFG)", self.image_cfg), ("Size", self.image_size)):
            g.addRow(label, w)
        # Beside the chat's own CPU threads: a picture takes every core unless told otherwise.
        self.image_threads = _spin("image_threads", s.image_threads)
        self.image_threads.setSpecialValueText("auto (all cores; half while a reply streams)")
        g.addRow("CPU threads", self.image_threads)
        self.image_precision = _choices("image_precision", s.image_precision)
        self.image_precision.setToolTip("auto: float16 on a GPU; on a CPU float32, or bfloat16 where the processor "
                                        "supports it and it measures faster (large models only)")
        g.addRow("Precision", self.image_precision)
        self.vae_tiling = QCheckBox("Decode in tiles (less memory for large pictures, a little slower)")
        self.vae_tiling.setChecked(s.vae_tiling)
        g.addRow(self.attention_slicing)
        g.addRow(self.vae_tiling)
        g.addRow(self.cpu_offload)
        g.addRow(self.preload)
        self.idle_unload = _spin("image_idle_unload_min", s.image_idle_unload_min)
        self.idle_unload.setSuffix(" min")
        self.idle_unload.setSpecialValueText("never")
        g.addRow("Free the image model when idle for", self.idle_unload)
        lora_box, self.lora_folder = _path_row(image, s.lora_folder, "Default: loras in the data folder", self._pick_folder)
        lora_box.setToolTip("Where /image --lora NAME and <lora:NAME:WEIGHT> look for .safetensors LoRAs; /loras lists them")
        g.addRow("LoRA folder", lora_box)
        tabs.addTab(image, "Images")
        local_image_rows = (box, self.attention_slicing, self.cpu_offload)
        self.image_backend.currentIndexChanged.connect(
            lambda: self._show_backend(g, self.image_backend, local_image_rows, self.image_remote))
        self._show_backend(g, self.image_backend, local_image_rows, self.image_remote)

        documents = QWidget()
        d = QFormLayout(documents)
        box, self.library_folder = _path_row(documents, s.library_folder, "No library folder", self._pick_folder)
        d.addRow("Library folder", box)
        note = QLabel(f"Every file under this folder that chatapp reads ({readers.kinds_label()}) is indexed in the "
                      "background (in the app's database, on this computer) so answers can use it. "
                      "Turn it off for one chat with /library off.")
        note.setWordWrap(True)
        d.addRow(note)
        box, self.embedding_model = _path_row(documents, s.embedding_model, "None: keyword search (BM25) only",
                                              self._pick_gguf)
        d.addRow("Embedding model", box)
        note = QLabel("Optional: a GGUF embedding model (for example nomic-embed or bge) also finds passages by "
                      "meaning, not only by their words. Changing it rebuilds the vectors in the background.")
        note.setWordWrap(True)
        d.addRow(note)
        tabs.addTab(documents, "Documents")

        look = QWidget()
        h = QFormLayout(look)
        self.theme = _choices("theme", s.theme, {"system": "Follow the system", "light": "Light", "dark": "Dark"})
        h.addRow("Theme", self.theme)
        self.model_folders = QLineEdit(s.model_folders)
        self.model_folders.setPlaceholderText(f"more folders with models, separated by '{os.pathsep}'")
        h.addRow("Model folders", self.model_folders)
        find = QPushButton("Find models on this computer…")
        find.setAccessibleName("Find models on this computer")
        find.clicked.connect(self._find_models)
        h.addRow(find)
        tabs.addTab(look, "Appearance && models")
        for form in (f, g, h):   # screen readers read each field by its label
            for row in range(form.rowCount()):
                label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
                field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
                if label and field and label.widget() and field.widget():
                    field.widget().setAccessibleName(label.widget().text())
                    for child in field.widget().findChildren(QLineEdit):
                        child.setAccessibleName(label.widget().text())

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        # What the options schema refuses (a URL that is not one, a half-typed size) is said here, and the
        # dialog stays open with everything as typed.
        self.problem = QLabel("")
        self.problem.setObjectName("settingsProblem")
        self.problem.setWordWrap(True)
        self.problem.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        from .style import name_controls
        name_controls(self)

    def _find_models(self) -> None:
        from .model_picker import ModelPicker
        picker = ModelPicker(replace(self._orig, llm_model=self.llm_model.text().strip(),
                                     image_model=self.image_model.text().strip(),
                                     model_folders=self.model_folders.text().strip(),
            embedding_model=self.embedding_model.text().strip()), self)
        picker.chosen.connect(self._on_model_chosen)
        picker.exec()
        picker.shutdown()
        picker.deleteLater()

    def _on_model_chosen(self, kind: str, path: str) -> None:
        (self.llm_model if kind == "chat" else self.image_model).setText(path)

    @staticmethod
    def _show_backend(form: QFormLayout, combo: QComboBox, local_rows, remote: RemoteServerBox) -> None:
        is_remote = backends.CHAT.get(combo.currentData(), backends.IMAGE.get(combo.currentData())).remote
        for w in local_rows:
            form.setRowVisible(w, not is_remote)
        form.setRowVisible(remote, is_remote)
        if is_remote and remote.model.count() == 0:
            remote.fetch_models()   # off the GUI thread; fills the drop-down when the server answers

    def problems(self) -> list[str]:
        """Every field the options schema refuses, as the settings file's loader words it."""
        chosen = self.result_settings()
        found = (check_setting(f.name, getattr(chosen, f.name))[1] for f in fields(Settings))
        return [p for p in found if p]

    def accept(self) -> None:
        problems = self.problems()
        if problems:
            self.problem.setText("Not saved, please correct: " + "; ".join(problems) + ".")
            self.problem.show()
            return
        for box in (self.llm_remote, self.image_remote):
            box.save_key()
        super().accept()

    def _pick_gguf(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", edit.text(), "GGUF models (*.gguf)")
        if path:
            edit.setText(path)

    def _pick_folder(self, edit: QLineEdit) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose the library folder", edit.text())
        if path:
            edit.setText(path)

    def _pick_image(self, edit: QLineEdit) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a diffusers model folder", edit.text())
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "…or a single-file checkpoint", edit.text(),
                                                  "Safetensors checkpoints (*.safetensors)")
        if path:
            edit.setText(path)

    def result_settings(self) -> Settings:
        return replace(
            self._orig, llm_model=self.llm_model.text().strip(), system_prompt=self.system_prompt.toPlainText(),
            temperature=self.temperature.value(), top_p=self.top_p.value(), top_k=self.top_k.value(),
            min_p=self.min_p.value(), repeat_penalty=self.repeat_penalty.value(), max_tokens=self.max_tokens.value(),
            seed=self.seed.value(), n_ctx=self.n_ctx.value(), n_threads=self.n_threads.value(),
            n_gpu_layers=self.n_gpu_layers.value(), image_model=self.image_model.text().strip(),
            image_steps=self.image_steps.value(), image_cfg=self.image_cfg.value(),
            image_size=self.image_size.text().strip(), attention_slicing=self.attention_slicing.isChecked(),
            cpu_offload=self.cpu_offload.isChecked(), preload_image_model=self.preload.isChecked(),
            llm_backend=self.llm_backend.currentData(), llm_remote_url=self.llm_remote.url.text().strip(),
            llm_remote_model=self.llm_remote.model.currentText().strip(), llm_remote_ctx=self.llm_remote_ctx.value(),
            llm_remote_timeout=self.llm_remote_timeout.value(), image_backend=self.image_backend.currentData(),
            image_remote_url=self.image_remote.url.text().strip(),
            image_remote_model=self.image_remote.model.currentText().strip(),
            image_remote_timeout=self.image_remote_timeout.value(),
            library_folder=self.library_folder.text().strip(),
            image_threads=self.image_threads.value(), image_precision=self.image_precision.currentData(),
            vae_tiling=self.vae_tiling.isChecked(),
            image_idle_unload_min=self.idle_unload.value(), theme=self.theme.currentData(),
            model_folders=self.model_folders.text().strip(),
            lora_folder=self.lora_folder.text().strip(),
            embedding_model=self.embedding_model.text().strip())
