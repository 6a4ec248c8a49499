"""The main window: sidebar | conversation + composer, status line, shortcuts, menus, dialogs."""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QInputDialog, QLabel, QMainWindow, QMessageBox, QPushButton,
                               QSplitter, QToolButton, QVBoxLayout, QWidget)

from ..conversation import Message
from ..engines.cpu import cores
from ..session import OPEN_PAGE as PAGE  # messages shown when a conversation opens
from . import attachments, bubble_actions
from .composer import Composer
from .conversation_view import RENDER_SHARE, SHARED_CORE_RENDER_SHARE, ConversationView
from .find_bar import FindBar
from .settings_dialog import SettingsDialog
from .sidebar import Sidebar
from .store_actions import StoreActions
from .style import apply_style, name_controls

OLDER_PAGE = 12   # loaded each time the user scrolls to the top: small, so each load stays brief


class MainWindow(StoreActions, QMainWindow):
    settings_changed = Signal(object)   # Settings, after the dialog was saved

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("chatapp")
        self.resize(1180, 780)
        self.sidebar = Sidebar(self)
        self.view = ConversationView(self)
        self.composer = Composer(self)
        self.find_bar = FindBar(self)
        right = QWidget(self)
        right.setObjectName("mainPanel")
        col = QVBoxLayout(right)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.find_bar)
        col.addWidget(self.view, 1)
        col.addWidget(self.composer)
        split = QSplitter(self)
        split.addWidget(self.sidebar)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([250, 930])
        split.setChildrenCollapsible(False)
        self.setCentralWidget(split)
        self.splitter = split
        # The model name is a button: a click (or Tab + Space) opens the model picker.
        self.model_label = QToolButton()
        self.model_label.setText("Starting…")
        self.model_label.setAutoRaise(True)
        self.model_label.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.model_label.setAccessibleName("Chat model: choose another")
        self.model_label.clicked.connect(self.open_model_picker)
        self.image_label = QLabel("")
        self.stats_label = QLabel("")
        for w in (self.model_label, self.image_label, self.stats_label):
            w.setObjectName("statusText")
        self.image_label.setAccessibleName("Image model status")
        self.stats_label.setAccessibleName("Last reply statistics")
        self.statusBar().addWidget(self.model_label)
        self.statusBar().addWidget(self.image_label)
        self.statusBar().addPermanentWidget(self.stats_label)
        self._actions()
        self._connect()
        attachments.install(self)   # paperclip, dropped files, library indexing progress
        self.refresh_sidebar()
        self._theme = apply_style(session.settings.theme)
        if self._theme is not None:
            self._theme.changed.connect(self._on_scheme_changed)
        self.settings_changed.connect(self._on_settings_saved)
        self._restore_layout()
        name_controls(self)
        self.composer.editor.setFocus()

    def _actions(self) -> None:
        def add(text, shortcut, slot, context=Qt.ShortcutContext.WindowShortcut):
            a = QAction(text, self)
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(context)
            a.triggered.connect(slot)
            self.addAction(a)
            return a
        menu = self.menuBar().addMenu("&Chat")
        menu.addAction(add("New chat", "Ctrl+N", self.session.new_conversation))
        menu.addAction(add("Regenerate last reply", "Ctrl+R", lambda: self.session.regenerate()))
        menu.addAction(add("Stop", "Esc", self._escape))
        menu.addSeparator()
        menu.addAction(add("Find in chat…", "Ctrl+F", self.find_bar.open_bar))
        menu.addAction(add("Search chats", "Ctrl+K", self.focus_chat_search))
        menu.addSeparator()
        self._add_store_actions(menu)
        menu.addAction(add("Settings…", "Ctrl+,", self.open_settings))
        menu.addAction(add("Models on this computer…", "Ctrl+M", self.open_model_picker))
        menu.addAction(add("Quit", "Ctrl+Q", self.close))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("Commands", lambda: self.session.submit("/help"))

    def _connect(self) -> None:
        s = self.session
        self.sidebar.new_requested.connect(s.new_conversation)
        self.sidebar.selected.connect(lambda cid: s.open_conversation(cid, PAGE))
        self.sidebar.rename_requested.connect(self.rename_conversation)
        self.sidebar.delete_requested.connect(self.delete_conversation)
        self.sidebar.system_prompt_requested.connect(self.edit_system_prompt)
        self.sidebar.export_requested.connect(lambda cid: self.export_chats([cid]))
        self._search_timer = QTimer(self)    # search as the user types, once they pause
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(self.refresh_sidebar)
        self.sidebar.search_changed.connect(lambda _text: self._search_timer.start())
        self.composer.submitted.connect(self._submit)
        self.composer.stop_requested.connect(s.stop)
        from .picture_drop import PictureDrop
        self.picture_drop = PictureDrop(self)   # a dropped picture: ask about it, use its recipe, or edit it
        self.composer.picture_pasted.connect(self.picture_drop.pasted)
        self.composer.remove_picture.connect(s.remove_pending_picture)
        s.pending_pictures.connect(self.composer.strip.set_pictures)
        self.composer.edit_last_requested.connect(self.edit_last_message)
        s.recipe_ready.connect(self.composer.set_text)
        self.view.action.connect(self._on_message_action)
        self.view.wants_older.connect(self._load_older)
        self.view.wants_newer.connect(self._load_newer)
        self.find_bar.search.connect(lambda text: self.find_bar.set_matches(self.session.find_in_branch(text)))
        self.find_bar.show_match.connect(self.show_found)
        self.find_bar.closed.connect(lambda: (self.view.highlight(None), self.composer.editor.setFocus()))
        s.conversations_changed.connect(self.refresh_sidebar)
        s.conversation_opened.connect(self._on_opened)
        s.message_added.connect(self._on_added)
        s.message_changed.connect(self.view.update_message)
        s.message_removed.connect(self.view.remove_message)
        s.reply_text.connect(self.view.set_reply_text)
        s.reply_thinking.connect(self.view.set_reply_thinking)
        self.view.frame_ms_changed.connect(s.set_reply_frame_ms)
        s.notice.connect(self.view.add_notice)
        s.llm_state.connect(self._on_llm_state)
        s.stats_changed.connect(self._on_stats)
        s.busy_changed.connect(self.composer.set_busy)
        s.picture_progress.connect(self.view.set_image_progress)
        s.tool_progress.connect(self.view.set_tool_progress)
        s.settings_wanted.connect(self.settings_changed)   # a tool's "Always", the tools toggle: saved like the dialog's
        self.tools_button = QPushButton("Tools", self)
        self.tools_button.setObjectName("toolsButton")
        self.tools_button.setCheckable(True)
        self.tools_button.setToolTip("Let the assistant use tools in this chat (draw, edit pictures, search your files)")
        self.tools_button.setChecked(s.tools_enabled())
        self.tools_button.toggled.connect(s.set_tools_enabled)
        self.composer.add_leading_button(self.tools_button)
        s.image_state.connect(self._on_image_state)

    # --- session -> widgets --------------------------------------------------------------------
    def refresh_sidebar(self) -> None:
        self.sidebar.set_conversations(self.session.conversations(self.sidebar.search.text()),
                                       self.session.current.id if self.session.current else None)

    def _on_opened(self, conversation, messages: list) -> None:
        self.tools_button.blockSignals(True)   # the chat's own toggle shown, not set again
        self.tools_button.setChecked(self.session.tools_enabled())
        self.tools_button.blockSignals(False)
        has_older = bool(messages) and messages[0].parent_id is not None
        self.view.set_messages(messages, has_older)
        self.setWindowTitle(f"{conversation.title} — chatapp" if conversation else "chatapp")
        self.refresh_sidebar()
        self.composer.editor.setFocus()

    def _on_added(self, message: Message) -> None:
        if self.session.current and message.conversation_id == self.session.current.id \
                and self.view.shows_parent_of(message):
            self.view.add_message(message)

    def focus_chat_search(self) -> None:
        self.sidebar.search.setFocus()
        self.sidebar.search.selectAll()

    def show_found(self, message_id: int) -> None:
        """Bring a find match into view, loading older pages of the branch until it is there."""
        while message_id not in self.view.widgets and self.view.has_older:
            before = len(self.view.widgets)
            self._load_older(self.view.first_message_id())
            if len(self.view.widgets) == before:
                break
        self.view.highlight(message_id)

    def _load_older(self, first_id: int) -> None:
        older = self.session.older_messages(first_id, OLDER_PAGE)
        self.view.prepend_messages(older, bool(older) and older[0].parent_id is not None)

    def _load_newer(self, last_id: int) -> None:
        newer, more = self.session.newer_messages(last_id, OLDER_PAGE)
        self.view.append_messages(newer, more)

    def _on_llm_state(self, state: str, detail: str) -> None:
        # Before sending, the pending pictures say whether this model will see them.
        sees = state != "ready" or self.session.chat_capabilities.vision
        self.composer.strip.set_blind_model("" if sees else detail)
        if state == "loading":
            self.model_label.setText("⏳ Loading model…")
            self.composer.set_placeholder("Loading model… you can type now; your message is sent when it is ready.")
        elif state == "ready":
            # Said where the model is named, as LM Studio's badge: whether to drop a picture here is decided at a glance.
            self.model_label.setText(f"● {detail}" + (" · sees pictures" if self.session.chat_capabilities.vision else ""))
            self.composer.set_placeholder(None)
            info = self.session.llm_info
            shares_core = info is not None and info.cpu_threads >= cores()
            self.view.render_share = SHARED_CORE_RENDER_SHARE if shares_core else RENDER_SHARE
        else:
            self.model_label.setText("⚠ Chat model unavailable")
            self.model_label.setToolTip(detail)
            self.composer.set_placeholder(None)
            self.view.add_notice(detail)

    def _on_image_state(self, state: str, detail: str) -> None:
        text = {"loading": "· loading image model…", "ready": f"· images: {detail}", "error": "· ⚠ image model unavailable"}
        self.image_label.setText(text.get(state, ""))
        self.image_label.setToolTip(detail)  # a failed load also shows in each waiting picture's bubble

    def _on_stats(self, stats) -> None:
        parts = [f"first token {stats.ttft_s * 1000:.0f} ms", f"{stats.tokens_per_s:.1f} tok/s",
                 f"context {stats.context_used}/{stats.n_ctx}"]
        if stats.dropped_messages:
            parts.append(f"{stats.dropped_messages} old messages left out")
        self.stats_label.setText(" · ".join(parts))

    def _submit(self, text: str) -> None:
        editing = self.composer.editing
        if self.session.edit_message(editing, text) if editing else self.session.submit(text):
            self.composer.clear()
            if self.view.has_newer and self.session.current:   # far up a long chat: back to its end
                self.session.open_conversation(self.session.current.id)
            self.view.scroll_to_bottom()

    def _escape(self) -> None:
        """Esc closes the find bar or leaves an edit first; otherwise it stops the reply that is streaming."""
        if self.find_bar.isVisible() and self.find_bar.edit.hasFocus():
            self.find_bar.close_bar()
        elif self.composer.editing is not None:
            self.composer.cancel_edit()
        else:
            self.session.stop()

    def edit_last_message(self) -> None:
        """Up in an empty message box: edit the last thing you wrote (the Slack/ChatGPT habit)."""
        last = self.session.last_user_message()
        if last is not None:
            self.composer.start_edit(last)

    def delete_branch(self, message: Message) -> None:
        answer = QMessageBox.question(
            self, "Delete", "Delete this message and everything after it on this branch, pictures included? "
            "Other branches are kept.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.session.delete_branch(message)

    # --- conversations -------------------------------------------------------------------------
    def rename_conversation(self, cid: int) -> None:
        conv = self.session.conversation(cid)
        if conv is None:
            return
        title, ok = QInputDialog.getText(self, "Rename chat", "Title:", text=conv.title)
        if ok:
            self.session.rename_conversation(cid, title)

    def delete_conversation(self, cid: int) -> None:
        conv = self.session.conversation(cid)
        if conv is None:
            return
        answer = QMessageBox.question(self, "Delete chat", f"Delete “{conv.title}” and its pictures? This cannot be undone.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.session.delete_conversation(cid)

    def edit_system_prompt(self, cid: int) -> None:
        conv = self.session.conversation(cid)
        if conv is None:
            return
        text, ok = QInputDialog.getMultiLineText(
            self, "System prompt", "For this chat only (leave empty to use the default from Settings):",
            conv.system_prompt or "")
        if ok:
            self.session.set_system_prompt(cid, text.strip() or None)

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.session.settings, self, config_dir=self.session.paths.config_dir)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.settings_changed.emit(dialog.result_settings())

    def open_model_picker(self) -> None:
        from .model_picker import ModelPicker
        picker = ModelPicker(self.session.settings, self)
        picker.chosen.connect(self._switch_model)
        picker.exec()
        picker.shutdown()
        picker.deleteLater()   # here, on the GUI thread

    def _switch_model(self, kind: str, path: str) -> None:
        field = "llm_model" if kind == "chat" else "image_model"
        if getattr(self.session.settings, field) != path:
            self.settings_changed.emit(replace(self.session.settings, **{field: path}))

    def _on_settings_saved(self, new) -> None:
        apply_style(new.theme)

    def _on_scheme_changed(self, _scheme: str) -> None:
        if self.session.current:   # code blocks are re-rendered in the new scheme's colours
            self.session.open_conversation(self.session.current.id, PAGE)

    # --- window layout, kept between runs --------------------------------------------------------
    def _layout_store(self) -> QSettings:
        return QSettings(str(self.session.paths.config_dir / "window.ini"), QSettings.Format.IniFormat)

    def _restore_layout(self) -> None:
        store = self._layout_store()
        geometry, splitter = store.value("geometry"), store.value("splitter")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def save_layout(self) -> None:
        store = self._layout_store()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("splitter", self.splitter.saveState())
        store.sync()

    # --- bubble actions -------------------------------------------------------------------------
    def _on_message_action(self, name: str, message: Message) -> None:
        bubble_actions.run(name, self, message)   # each action's handler is registered there

    def show_picture(self, message: Message) -> None:
        """The picture full size, with the mask painter (ui/mask_painter.py); Render sends its /image."""
        from .mask_painter import PictureViewer
        viewer = PictureViewer(message, lambda: self.session.new_mask_path(message), self)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.render_requested.connect(self.session.submit)
        self.viewer = viewer
        viewer.show()

    def closeEvent(self, event) -> None:
        if self._theme is not None:   # the app-wide theme outlives this window
            self._theme.changed.disconnect(self._on_scheme_changed)
            self._theme = None
        self.save_layout()
        self.session.shutdown()
        super().closeEvent(event)
