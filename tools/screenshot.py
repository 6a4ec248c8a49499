"""Makes docs/screenshot.png: the real app, offscreen, with the embedded models, mid-conversation.

Usage: QT_QPA_PLATFORM=offscreen python tools/screenshot.py docs/screenshot.png [light|dark]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait_until(app, predicate, timeout=120.0):
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("the app did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def main(out: str, theme: str = "system") -> None:
    from PySide6.QtWidgets import QApplication

    from chatapp.app import build, go_offline
    from chatapp.settings import Settings, resolve_paths
    go_offline()
    app = QApplication([])
    parts = build(resolve_paths(tempfile.mkdtemp(prefix="chatapp-shot-")), Settings(temperature=0.0, seed=1, theme=theme))
    s, w = parts.session, parts.window
    w.resize(1180, 800)
    w.show()
    s.load_models()
    wait_until(app, lambda: s.llm_status == "ready")
    for text in ["Give me three tips for staying focused, as a short list.",
                 "/image a red car on a blue background",
                 "Show a Python function that reverses a string."]:
        s.submit(text)
        if text.startswith("/image"):
            wait_until(app, lambda: not s.images.jobs)
        else:
            done = []
            s.reply_finished.connect(lambda mid: done.append(mid))
            wait_until(app, lambda: done)
    s.rename_conversation(s.current.id, "Focus tips and a picture")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    w.view.scroll_to_bottom()
    app.processEvents()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    w.grab().save(out)
    if os.environ.get("SHOT_DEBUG"):
        for mid, wd in w.view.widgets.items():
            print(mid, type(wd).__name__, wd.geometry(), wd.sizeHint(), wd.minimumSizeHint(), wd.heightForWidth(780))
        bar = w.view.verticalScrollBar()
        print("bar", bar.value(), bar.maximum(), w.view.widget().geometry(), w.view.column.geometry())
    print(f"wrote {out}")
    s.shutdown()
    os._exit(0)  # skip interpreter teardown: PySide6 + torch can crash while finalizing


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png", sys.argv[2] if len(sys.argv) > 2 else "system")
