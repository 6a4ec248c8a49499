"""A picture dropped on the message box: its recipe is read off the GUI thread, then a menu offers
"Use its recipe" (when it has one) or "Edit this picture"."""
from __future__ import annotations

import shlex

from PySide6.QtCore import QObject
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QMenu

from ..workers import PoolCalls



def recipe_or_none(path: str) -> tuple[str | None, str]:
    """On the thread pool: (the /image command in a PNG's recipe, or None; why its recipe cannot be used,
    or "" when it has none at all)."""
    from ..png_recipe import NoRecipe, RecipeError, recipe_command
    try:
        return recipe_command(path), ""
    except NoRecipe:
        return None, ""
    except RecipeError as exc:   # too long, damaged, not a PNG: say so, editing is still offered
        return None, str(exc)


class PictureDrop(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.pool = PoolCalls()
        self.pool.done.connect(self._read)
        self._call, self._path = 0, ""
        self.menu: QMenu | None = None
        self._shown: QMenu | None = None   # the last menu opened, closed when a new drop's opens

    def dropped(self, path: str) -> None:
        self._path = path
        self._call = self.pool.call(recipe_or_none, path)   # the latest drop wins

    def _read(self, call_id: int, result, _error) -> None:
        if call_id != self._call:
            return
        command, problem = result if result else (None, "")
        if problem:
            self.window.view.add_notice(problem)
        path, editor = self._path, self.window.composer.editor
        if self._shown is not None:   # one menu at a time: an older popup left open keeps its keyboard grab
            self._shown.close()
            self._shown.deleteLater()
        menu = QMenu(self.window)
        menu.setAccessibleName("What to do with the dropped picture")
        if command:
            menu.addAction("Use its recipe", lambda: self.window.composer.set_text(command))
        menu.addAction("Edit this picture", lambda: self.fill_edit(path))
        self.menu = self._shown = menu
        menu.popup(editor.mapToGlobal(editor.cursorRect().bottomLeft()))

    def fill_edit(self, path: str) -> None:
        """`/image  --init PATH --strength 0.6` with the cursor where the prompt goes."""
        composer = self.window.composer
        composer.set_text(f"/image  --init {shlex.quote(path)} --strength 0.6")
        cursor = composer.editor.textCursor()
        cursor.setPosition(len("/image "), QTextCursor.MoveMode.MoveAnchor)
        composer.editor.setTextCursor(cursor)
