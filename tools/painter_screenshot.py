"""Makes docs/painter.png: the picture viewer's mask painter over a tiny-shapes picture, offscreen.

Usage: QT_QPA_PLATFORM=offscreen python tools/painter_screenshot.py docs/painter.png
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"


def main(out: str) -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from chatapp.conversation import ImageRequest, Message
    from chatapp.engines.defaults import default_image_model_path
    from chatapp.engines.diffusion import DiffusionImageEngine
    from chatapp.ui.mask_painter import PictureViewer
    from chatapp.ui.style import apply_style
    app = QApplication([])
    apply_style("light")
    engine = DiffusionImageEngine(default_image_model_path())
    engine.load()
    prompt = "a red circle on a blue background"
    picture = engine.generate(ImageRequest(prompt=prompt, seed=1), lambda e: None, lambda: False)[0].image
    folder = Path(tempfile.mkdtemp(prefix="chatapp-painter-"))
    path = folder / "picture.png"
    picture.save(path)
    message = Message(1, 1, "assistant", prompt, kind="image", image_path=str(path),
                      meta={"request": {"prompt": prompt}, "number": 1})
    viewer = PictureViewer(message, folder)
    viewer.show()
    canvas = viewer.canvas
    canvas.brush_size = 6
    canvas.push_undo()
    for a, b in (((4, 4), (10, 5)), ((10, 5), (6, 10)), ((6, 10), (11, 11))):   # a scribble in the top-left corner
        canvas._stroke(QPointF(*a), QPointF(*b))
    viewer.size_slider.setValue(6)
    viewer.prompt.setText("small yellow square top left")
    viewer.strength.setValue(0.9)
    for _ in range(5):
        app.processEvents()
    viewer.grab().save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/painter.png")
