"""A picture dropped on the message box: its recipe is read off the GUI thread, then a menu offers
"Use its recipe" (when it has one) or "Edit this picture"."""
from __future__ import annotations

import shlex

from PySide6.QtCore import QObject
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QMenu

from ..workers import Calls



def recipe_or_none(path: str) -> tuple[str | None, str, bool]:
    """On the thread pool: (the /image command in a picture's recipe, or None; a notice for the user: why its
    recipe cannot be used, or which tool wrote it and what did not carry over; whether it can be edited)."""
    from ..recipes.png import EmptyFile, NoRecipe, RecipeError, read_recipe
    try:
        recipe = read_recipe(path)
    except EmptyFile as exc:   # 0 bytes: no recipe and no picture to edit either
        return None, str(exc), False
    except NoRecipe as exc:    # a picture without a recipe: say so, editing is still offered
        return None, str(exc), True
    except RecipeError as exc:   # too long, damaged, not a picture: say so, editing is still offered
        return None, str(exc), True
    notice = ""
    if recipe.tool != "AUTOMATIC1111" or recipe.notes:
        name = path.replace("\\", "/").rpartition("/")[2]
        notice = f"{name}: a {recipe.tool} recipe" + ("; " + "; ".join(recipe.notes) + "." if recipe.notes else ".")
    return recipe.command(), notice, True


class PictureDrop(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.pool = Calls()
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
        command, problem, editable = result if result else (None, "", True)
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
        if editable:
            menu.addAction("Edit this picture", lambda: self.fill_edit(path))
        if menu.isEmpty():   # an empty file: nothing to offer, and the notice above says why
            menu.deleteLater()
            self.menu = self._shown = None
            return
        self.menu = self._shown = menu
        menu.popup(editor.mapToGlobal(editor.cursorRect().bottomLeft()))

    def fill_edit(self, path: str) -> None:
        """`/image  --init PATH --strength 0.6` with the cursor where the prompt goes."""
        composer = self.window.composer
        composer.set_text(f"/image  --init {shlex.quote(path)} --strength 0.6")
        cursor = composer.editor.textCursor()
        cursor.setPosition(len("/image "), QTextCursor.MoveMode.MoveAnchor)
        composer.editor.setTextCursor(cursor)
