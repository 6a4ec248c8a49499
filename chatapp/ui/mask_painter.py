"""The full-size picture viewer with a mask painter: brush, eraser, size, undo, clear, prompt, strength, Render."""
from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (QButtonGroup, QDialog, QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QScrollArea, QSlider, QVBoxLayout, QWidget)

from ..recipes.command import prompt_word
from ..recipes.request import DEFAULT_STRENGTH, ModelLimits

DISPLAY = 448          # small pictures (tiny-shapes draws 32x32) are shown enlarged to this side
UNDO_DEPTH = 30
OVERLAY = QColor(255, 40, 90)   # painted parts are tinted with this, half transparent


class MaskCanvas(QWidget):
    """The picture with the mask over it. Strokes are drawn with QPainter straight into two images of
    the picture's size, the mask (white = repaint) and its tinted overlay, and only the few pixels a
    stroke touched are repainted on screen: the cost of a stroke does not grow with the picture."""
    changed = Signal()

    def __init__(self, picture: QImage, parent=None):
        super().__init__(parent)
        self.setAccessibleName("Picture: paint the part to redraw")
        self.picture = picture.convertToFormat(QImage.Format.Format_RGB32)
        w, h = self.picture.width(), self.picture.height()
        self.scale = max(1.0, DISPLAY / max(w, h, 1))
        dpr = self.devicePixelRatioF()   # every device pixel on high-DPI screens, laid out at the logical size
        self.view = QPixmap.fromImage(self.picture.scaled(round(w * self.scale * dpr), round(h * self.scale * dpr),
                                                          Qt.AspectRatioMode.IgnoreAspectRatio,
                                                          Qt.TransformationMode.SmoothTransformation))
        self.view.setDevicePixelRatio(dpr)
        self.mask = QImage(w, h, QImage.Format.Format_Grayscale8)
        self.mask.fill(0)
        self.overlay = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
        self.overlay.fill(Qt.GlobalColor.transparent)
        self.brush_size = max(1, max(w, h) // 8)    # in picture pixels
        self.erasing = False
        self.undo_stack: list[QImage] = []
        self._last: QPointF | None = None
        self.setFixedSize(round(w * self.scale), round(h * self.scale))
        self.setCursor(Qt.CursorShape.CrossCursor)

    # --- painting -------------------------------------------------------------------------------
    def _to_picture(self, pos) -> QPointF:
        return QPointF(pos.x() / self.scale, pos.y() / self.scale)

    def _stroke(self, a: QPointF, b: QPointF) -> None:
        paints = ((self.mask, Qt.GlobalColor.black if self.erasing else Qt.GlobalColor.white),
                  (self.overlay, Qt.GlobalColor.transparent if self.erasing else OVERLAY))
        for image, colour in paints:
            p = QPainter(image)
            # Source mode: strokes over strokes do not build up, and the eraser's transparent clears.
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            p.setPen(QPen(colour, self.brush_size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                          Qt.PenJoinStyle.RoundJoin))
            if a == b:
                p.drawPoint(a)
            else:
                p.drawLine(a, b)
            p.end()
        pad = self.brush_size / 2 + 2
        touched = QRectF(a, b).normalized().adjusted(-pad, -pad, pad, pad)
        self.update(QRectF(touched.x() * self.scale, touched.y() * self.scale, touched.width() * self.scale,
                           touched.height() * self.scale).toAlignedRect())
        self.changed.emit()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.push_undo()
            self._last = self._to_picture(event.position())
            self._stroke(self._last, self._last)

    def mouseMoveEvent(self, event) -> None:
        if self._last is not None:
            point = self._to_picture(event.position())
            self._stroke(self._last, point)
            self._last = point

    def mouseReleaseEvent(self, event) -> None:
        self._last = None

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.drawPixmap(0, 0, self.view)
        p.setOpacity(0.5)
        p.drawImage(QRectF(self.rect()), self.overlay)   # clipped by Qt to the region that changed
        p.end()

    # --- history --------------------------------------------------------------------------------
    def push_undo(self) -> None:
        self.undo_stack.append(self.mask.copy())
        del self.undo_stack[:-UNDO_DEPTH]

    def undo(self) -> None:
        if self.undo_stack:
            self._set_mask(self.undo_stack.pop())

    def clear(self) -> None:
        if self.has_mask():
            self.push_undo()
            blank = QImage(self.mask.size(), QImage.Format.Format_Grayscale8)
            blank.fill(0)
            self._set_mask(blank)

    def _set_mask(self, mask: QImage) -> None:
        """Undo and Clear replace the whole mask: the overlay is rebuilt from it once."""
        self.mask = mask
        tint = QImage(mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
        tint.fill(OVERLAY)
        tint.setAlphaChannel(mask)
        self.overlay = tint
        self.update()
        self.changed.emit()

    def has_mask(self) -> bool:
        bits = self.mask.constBits()
        return any(bytes(bits))

    def mask_image(self) -> QImage:
        return self.mask.copy()


def save_mask(mask: QImage, path: Path) -> None:
    """Write-then-rename, as pictures are: a crash leaves no half mask. A small PNG, written at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    if not mask.save(str(tmp), "PNG"):
        tmp.unlink(missing_ok=True)
        raise OSError(f"could not write {tmp}")
    os.replace(tmp, path)


class PictureViewer(QDialog):
    """A picture full size; paint over a part of it and Render redraws that part from the prompt."""
    render_requested = Signal(str)      # the /image command to send

    def __init__(self, message, new_mask: Callable[[], Path], parent=None):
        """new_mask(): where this picture's next mask is saved (the session names it)."""
        super().__init__(parent)
        self.message, self.new_mask = message, new_mask
        request = message.meta.get("request", {})
        number = message.meta.get("number")
        self.setWindowTitle((f"#{number}  " if number else "") + request.get("prompt", "Picture"))
        self.canvas = MaskCanvas(QImage(message.image_path), self)
        area = QScrollArea(self)
        area.setWidget(self.canvas)
        area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        tools = QHBoxLayout()
        self.brush = self._button("Brush", "Paint the part to redraw", checkable=True)
        self.eraser = self._button("Eraser", "Erase painted parts", checkable=True)
        self.brush.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.brush)
        group.addButton(self.eraser)
        self.eraser.toggled.connect(lambda on: setattr(self.canvas, "erasing", on))
        side = max(self.canvas.mask.width(), self.canvas.mask.height())
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.size_slider.setAccessibleName("Brush size")
        self.size_slider.setRange(1, max(2, side // 2))
        self.size_slider.setValue(self.canvas.brush_size)
        self.size_label = QLabel(self)
        self.size_slider.valueChanged.connect(self._set_size)
        self._set_size(self.size_slider.value())
        self.undo_button = self._button("Undo", "Undo the last stroke (Ctrl+Z)")
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button = self._button("Clear", "Clear the mask")
        self.clear_button.clicked.connect(self.canvas.clear)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.canvas.undo)
        for w in (self.brush, self.eraser, QLabel("Size", self), self.size_slider, self.size_label,
                  self.undo_button, self.clear_button):
            tools.addWidget(w)
        tools.addStretch(1)
        send = QHBoxLayout()
        self.prompt = QLineEdit(request.get("prompt", message.content), self)
        self.prompt.setAccessibleName("Prompt for the painted part")
        self.prompt.setPlaceholderText("What to draw in the painted part")
        self.strength = QDoubleSpinBox(self)
        self.strength.setAccessibleName("Strength: how much the painted part changes")
        self.strength.setRange(*ModelLimits().strength)   # the recipe's range: what /image would refuse cannot be set
        self.strength.setSingleStep(0.05)
        self.strength.setValue(DEFAULT_STRENGTH)
        self.render_button = self._button("Render", "Redraw the painted part from the prompt")
        self.render_button.setDefault(True)
        self.render_button.clicked.connect(self.render)
        send.addWidget(self.prompt, 1)
        send.addWidget(QLabel("Strength", self))
        send.addWidget(self.strength)
        send.addWidget(self.render_button)
        self.status = QLabel("Paint over the part to redraw, then Render.", self)
        self.status.setObjectName("messageFooter")
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(area, 1)
        layout.addLayout(send)
        layout.addWidget(self.status)
        self.resize(min(self.canvas.width() + 60, 1000), min(self.canvas.height() + 150, 850))

    def _button(self, text: str, tip: str, checkable: bool = False) -> QPushButton:
        b = QPushButton(text, self)
        b.setAccessibleName(text)
        b.setToolTip(tip)
        b.setCheckable(checkable)
        b.setAutoDefault(False)
        return b

    def _set_size(self, value: int) -> None:
        self.canvas.brush_size = value
        self.size_label.setText(f"{value} px")

    def command(self, mask: Path) -> str:
        number = self.message.meta.get("number")
        source = f"#{number}" if number else shlex.quote(self.message.image_path)
        # The typed prompt is quoted where the parser would read it otherwise ("--n 8" stays words).
        return (f"/image {prompt_word(self.prompt.text().strip())} --init {source} --mask {shlex.quote(str(mask))} "
                f"--strength {self.strength.value():g}")

    def render(self) -> None:
        if not self.prompt.text().strip():
            self.status.setText("Say what to draw in the painted part first.")
            return
        if not self.canvas.has_mask():
            self.status.setText("Paint over the part to redraw first (Edit under the picture changes all of it).")
            return
        path = self.new_mask()
        try:
            save_mask(self.canvas.mask_image(), path)
        except OSError as exc:
            self.status.setText(f"The mask could not be saved: {exc}")
            return
        self.render_requested.emit(self.command(path))
        self.accept()
