"""Pictures into the next message: dropped or pasted on the window. One dropped picture opens a small menu once its
recipe is read off the GUI thread: "Ask about this picture" (first: Enter takes it), "Use its recipe" (when it has
one), "Edit this picture"; several dropped at once are all asked about. A pasted picture becomes PNG bytes off the
GUI thread; the session decodes and stores every picture (and says why one cannot be used)."""
from __future__ import annotations

import shlex

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject
from PySide6.QtGui import QImage, QPixmap, QTextCursor
from PySide6.QtWidgets import QMenu

from ..workers import Calls

RECIPE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif")   # where generators write their recipes (recipes/png.py)
PASTE_PNG_QUALITY = 80   # Qt's PNG "quality" is its compression the other way round: 80 is zlib's fast level 1


def recipe_or_none(path: str) -> tuple[str | None, str, bool]:
    """On the thread pool: (the /image command in a picture's recipe, or None; a notice for the user: why its
    recipe cannot be used, or which tool wrote it and what did not carry over; whether it can be edited)."""
    from ..recipes.png import EmptyFile, NoRecipe, RecipeError, read_recipe
    if not path.lower().endswith(RECIPE_SUFFIXES):   # a GIF, a TIFF...: no recipe to look for, nothing to say
        return None, "", True
    try:
        recipe = read_recipe(path)
    except EmptyFile as exc:   # 0 bytes: no recipe and no picture to edit either
        return None, str(exc), False
    except NoRecipe:   # most pictures (a photo, a screenshot): nothing to say, asking and editing are offered
        return None, "", True
    except RecipeError as exc:   # too long, damaged, not a picture: say so, editing is still offered
        return None, str(exc), True
    notice = ""
    if recipe.tool != "AUTOMATIC1111" or recipe.notes:
        name = path.replace("\\", "/").rpartition("/")[2]
        notice = f"{name}: a {recipe.tool} recipe" + ("; " + "; ".join(recipe.notes) + "." if recipe.notes else ".")
    return recipe.command(), notice, True


def image_of(mime) -> QImage | None:
    """The pixels a paste or a drag carries (a browser's "Copy image", a screenshot tool's), if any."""
    data = mime.imageData() if mime.hasImage() else None
    if isinstance(data, QPixmap):
        data = data.toImage()
    return data if isinstance(data, QImage) and not data.isNull() else None


def png_bytes(image: QImage) -> bytes:
    """On the thread pool: a pasted picture as PNG bytes (a 12 MP screenshot takes a while to encode)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG", PASTE_PNG_QUALITY):
        raise ValueError("the pasted picture could not be read")
    buffer.close()
    return bytes(data.data())


class PictureDrop(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.pool = Calls()
        self.pool.done.connect(self._read)
        self.paster = Calls()
        self.paster.done.connect(self._encoded)
        self._names: dict[int, str] = {}   # paste call -> what the picture is called
        self._call, self._path = 0, ""
        self.menu: QMenu | None = None
        self._shown: QMenu | None = None   # the last menu opened, closed when a new drop's opens

    def dropped(self, paths: list) -> None:
        """Pictures dropped on the window: one offers its menu, several are all asked about."""
        if len(paths) > 1:
            self.window.session.attach_pictures(list(paths))
            return
        self._path = paths[0]
        self._call = self.pool.call(recipe_or_none, paths[0])   # the latest drop wins

    def pasted(self, image: QImage, name: str = "pasted picture") -> None:
        """Pixels with no file (pasted, or dragged out of a browser): PNG bytes made off the GUI thread."""
        self._names[self.paster.call(png_bytes, image)] = name

    def _encoded(self, call_id: int, data, error) -> None:
        name = self._names.pop(call_id, "pasted picture")
        if error is not None or not data:
            self.window.view.add_notice(f"The {name} cannot be used: {error or 'it is empty'}.")
            return
        self.window.session.paste_picture(data, name)

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
        if editable:   # a file with no picture in it (0 bytes) is not asked about either: the notice says why
            ask = menu.addAction("Ask about this picture", lambda: self.window.session.attach_pictures([path]))
            menu.setActiveAction(ask)
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
