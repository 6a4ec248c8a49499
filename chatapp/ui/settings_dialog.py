"""Settings dialog: models, system prompt, sampling, context and hardware, image defaults, MCP servers."""
from __future__ import annotations

import os
from dataclasses import replace

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QSizePolicy, QTabWidget, QVBoxLayout, QWidget)

from .. import backends
from ..documents import readers
from ..settings import OPTIONS, Settings, setting_problems
from .mcp_servers import McpServersEditor
from .options_form import OptionsForm, align_labels, checked_line, choices, label_fields, path_row, spin


def _spin(name: str, value, decimals=None, step=None):
    """A spin box over the setting's range in the options schema."""
    return spin(OPTIONS[name], value, decimals, step)


def _choices(name: str, current: str, labels: dict | None = None) -> QComboBox:
    return choices(OPTIONS[name], current, labels)


def _checked_line(name: str, text: str) -> QLineEdit:
    return checked_line(OPTIONS[name], text)


_path_row = path_row


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
        self._pickers = {"gguf": self._pick_gguf, "image": self._pick_image, "folder": self._pick_folder}
        self.forms: dict[str, dict[str, OptionsForm]] = {}    # kind -> backend name -> its rows
        self.llm_backend = self._backend_rows("chat", f, s, config_dir)
        self.system_prompt = QPlainTextEdit(s.system_prompt)
        self.system_prompt.setFixedHeight(70)
        self.system_prompt.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        f.addRow("Default system prompt", self.system_prompt)
        self.temperature = _spin("temperature", s.temperature, 2, 0.05)
        self.top_p = _spin("top_p", s.top_p, 2, 0.05)
        self.top_k = _spin("top_k", s.top_k)
        self.min_p = _spin("min_p", s.min_p, 2, 0.01)
        self.repeat_penalty = _spin("repeat_penalty", s.repeat_penalty, 2, 0.05)
        self.max_tokens = _spin("max_tokens", s.max_tokens)
        self.max_tokens.setSpecialValueText("no limit")
        self.max_tokens.setToolTip("A reply runs to its end or to the end of the context unless this sets a limit")
        self.seed = _spin("seed", s.seed)
        self.seed.setSpecialValueText("random")
        for label, w in (("Temperature", self.temperature), ("Top-p", self.top_p), ("Top-k", self.top_k),
                         ("Min-p", self.min_p), ("Repeat penalty", self.repeat_penalty),
                         ("Max tokens per reply", self.max_tokens), ("Seed", self.seed)):
            f.addRow(label, w)
        self.tools_ask_first = QCheckBox("Ask before the assistant draws, edits or searches")
        self.tools_ask_first.setToolTip("Built-in tools run at once unless this is on; tools you connect always ask "
                                        "on their first call")
        self.tools_ask_first.setChecked(s.tools_ask_first)
        f.addRow("Tools", self.tools_ask_first)
        tabs.addTab(chat, "Chat")

        image = QWidget()
        g = QFormLayout(image)
        self.image_backend = self._backend_rows("image", g, s, config_dir)
        self.image_steps = _spin("image_steps", s.image_steps)
        self.image_steps.setSpecialValueText("model default")
        self.image_cfg = _spin("image_cfg", s.image_cfg, 1, 0.5)
        self.image_cfg.setSpecialValueText("model default")
        self.image_size = _checked_line("image_size", s.image_size)
        self.image_size.setPlaceholderText("model default, e.g. 512x512")
        self.preload = QCheckBox("Load the image model at start-up")
        self.preload.setChecked(s.preload_image_model)
        for label, w in (("Steps", self.image_steps), ("Guidance (CFG)", self.image_cfg), ("Size", self.image_size)):
            g.addRow(label, w)
        # Beside the chat's own CPU threads: a picture takes every core unless told otherwise.
        self.image_threads = _spin("image_threads", s.image_threads)
        self.image_threads.setSpecialValueText("auto (all cores; half while a reply streams)")
        g.addRow("CPU threads", self.image_threads)
        g.addRow(self.preload)
        self.idle_unload = _spin("image_idle_unload_min", s.image_idle_unload_min)
        self.idle_unload.setSuffix(" min")
        self.idle_unload.setSpecialValueText("never")
        g.addRow("Free the image model when idle for", self.idle_unload)
        lora_box, self.lora_folder = _path_row(image, s.lora_folder, "Default: loras in the data folder", self._pick_folder)
        lora_box.setToolTip("Where /image --lora NAME and <lora:NAME:WEIGHT> look for .safetensors LoRAs; /loras lists them")
        g.addRow("LoRA folder", lora_box)
        tabs.addTab(image, "Images")

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
        self.mcp_servers = McpServersEditor(s.mcp_servers, config_dir)
        tabs.addTab(self.mcp_servers, "MCP servers")
        for form in (f, g, h):
            label_fields(form)
        for index in range(tabs.count()):   # a backend's rows line up with the tab's own
            align_labels(tabs.widget(index))

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
        # The window grows when a row does (the key note arrives after the dialog is shown), never squeezing it.
        layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetMinimumSize)
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
            embedding_model=self.embedding_model.text().strip(), tools_ask_first=self.tools_ask_first.isChecked()), self)
        picker.chosen.connect(self._on_model_chosen)
        picker.exec()
        picker.shutdown()
        picker.deleteLater()

    def _on_model_chosen(self, kind: str, path: str) -> None:
        (self.llm_model if kind == "chat" else self.image_model).setText(path)

    def _backend_rows(self, kind: str, form: QFormLayout, s: Settings, config_dir) -> QComboBox:
        """The kind's backend drop-down, and below it the chosen backend's rows, drawn from its options."""
        # The pages sit in a plain column and only the chosen one is shown: a hidden widget takes no room,
        # and a shown one's wrapped notes get their real height (a QStackedWidget asks its pages for a
        # height without the width, so a two-line note got one line).
        combo, pages = QComboBox(), QWidget()
        column = QVBoxLayout(pages)
        column.setContentsMargins(0, 0, 0, 0)
        form.setFormAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.forms[kind] = {}
        for name, backend in backends.KINDS[kind].items():
            page = OptionsForm(backend, backends.options_of(kind, backend, s), config_dir, self._pickers, pages)
            self.forms[kind][name] = page
            column.addWidget(page)
            combo.addItem(backend.label, name)
            if backend.flat:   # the local backends' fields by their Settings names, as older callers knew them
                for option_name, widget in page.widgets.items():
                    setattr(self, option_name, widget)
        form.addRow(f"{kind.capitalize()} backend", combo)
        form.addRow(pages)

        def show(_index=None):
            page = self.forms[kind].get(combo.currentData()) or next(iter(self.forms[kind].values()))
            for other in self.forms[kind].values():
                other.setVisible(other is page)
            page.shown()
        combo.currentIndexChanged.connect(show)
        combo.setCurrentIndex(max(0, combo.findData(getattr(s, backends.CHOSEN_BY[kind]))))
        show()
        return combo

    def widget(self, name: str) -> QWidget:
        """The widget that edits a setting, by its name in the options schema ("n_ctx", "chat.openai.url")."""
        if "." in name:
            kind, backend, option = name.split(".", 2)
            return self.forms[kind][backend].widgets[option]
        return getattr(self, {"image_idle_unload_min": "idle_unload", "preload_image_model": "preload"}.get(name, name))

    def problems(self) -> list[str]:
        """Every field the options schema refuses, as the settings file's loader words it."""
        return setting_problems(self.result_settings())

    def accept(self) -> None:
        problems = self.problems()
        if problems:
            self.problem.setText("Not saved, please correct: " + "; ".join(problems) + ".")
            self.problem.show()
            return
        for pages in self.forms.values():
            for page in pages.values():
                page.save_key()
        self.mcp_servers.save_keys()
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
        chosen = replace(
            self._orig, system_prompt=self.system_prompt.toPlainText(),
            temperature=self.temperature.value(), top_p=self.top_p.value(), top_k=self.top_k.value(),
            min_p=self.min_p.value(), repeat_penalty=self.repeat_penalty.value(), max_tokens=self.max_tokens.value(),
            seed=self.seed.value(), image_steps=self.image_steps.value(), image_cfg=self.image_cfg.value(),
            image_size=self.image_size.text().strip(), preload_image_model=self.preload.isChecked(),
            llm_backend=self.llm_backend.currentData(), image_backend=self.image_backend.currentData(),
            library_folder=self.library_folder.text().strip(), image_threads=self.image_threads.value(),
            image_idle_unload_min=self.idle_unload.value(), theme=self.theme.currentData(),
            model_folders=self.model_folders.text().strip(),
            lora_folder=self.lora_folder.text().strip(),
            embedding_model=self.embedding_model.text().strip(), mcp_servers=self.mcp_servers.entries(),
            tools_ask_first=self.tools_ask_first.isChecked())
        for kind, pages in self.forms.items():   # every backend's rows, chosen or not: nothing typed is lost
            for page in pages.values():
                chosen = backends.with_options(chosen, kind, page.backend, page.values())
        return chosen
