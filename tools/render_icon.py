"""Renders resources/icons/chatapp.svg to the PNG sizes desktops ask for, and docs/icon-sizes.png.

Usage: QT_QPA_PLATFORM=offscreen python tools/render_icon.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)   # hicolor's usual sizes
SHOWN = (16, 32, 64, 256)                      # the docs picture: each size at 1:1 on a light and a dark panel


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    with_painter(image, lambda p: renderer.render(p, QRectF(0, 0, size, size)))
    return image


def with_painter(image: QImage, draw) -> None:
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    draw(painter)
    painter.end()


def sheet(images: dict[int, QImage]) -> QImage:
    """Each shown size at 1:1 on a light panel (top row) and a dark one (bottom row)."""
    gap, label = 24, 20
    width = sum(SHOWN) + gap * (len(SHOWN) + 1)
    row = max(SHOWN) + gap + label
    out = QImage(width, row * 2, QImage.Format.Format_ARGB32)

    def draw(p: QPainter) -> None:
        p.setFont(QFont("DejaVu Sans", 9))
        for r, (panel, ink) in enumerate((("#f3f4f6", "#374151"), ("#1f2023", "#d1d5db"))):
            p.fillRect(0, r * row, width, row, QColor(panel))
            x = gap
            for size in SHOWN:
                top = r * row + gap + (max(SHOWN) - size) // 2
                p.drawImage(x, top, images[size])
                p.setPen(QColor(ink))
                p.drawText(QRectF(x - gap / 2, r * row + row - label - 4, size + gap, label),
                           Qt.AlignmentFlag.AlignCenter, f"{size} px")
                x += size + gap
    with_painter(out, draw)
    return out


def main() -> int:
    app = QGuiApplication(sys.argv[:1])   # noqa: F841 - fonts and painting need it
    renderer = QSvgRenderer(str(ICONS / "chatapp.svg"))
    if not renderer.isValid():
        print("chatapp.svg did not parse", file=sys.stderr)
        return 1
    images = {size: render(renderer, size) for size in SIZES}
    for size, image in images.items():
        image.save(str(ICONS / f"chatapp-{size}.png"))
    sheet(images).save(str(ROOT / "docs" / "icon-sizes.png"))
    print(f"wrote {len(SIZES)} PNGs to {ICONS.relative_to(ROOT)} and docs/icon-sizes.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
