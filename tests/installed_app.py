"""Run by a fresh venv's Python, outside the checkout (tests/test_packaging.py): the installed chatapp, styled
and with its icon, streams a reply from its embedded chat model and draws with its embedded image model.

Usage: python -I installed_app.py CHECKOUT DATA_DIR  -> one JSON line of findings on stdout, exit 0 when all held.
"""
import json
import sys
import time
from pathlib import Path

TIMEOUT_S = 240   # a budget for the whole run on a loaded 2-core machine, not a speed target


def main() -> int:
    checkout, data = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    import chatapp
    from chatapp.app import build, go_offline
    go_offline()
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from chatapp.conversation import CANCELLED, DONE, ERROR
    from chatapp.engines.defaults import RESOURCES, default_image_model_path, default_llm_path
    from chatapp.settings import Settings, resolve_paths

    deadline = time.monotonic() + TIMEOUT_S

    def wait(condition, what: str) -> None:
        # Processes Qt events until the condition holds: no fixed sleeps, only the overall budget.
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting for {what}")
            QTest.qWait(20)   # runs the event loop meanwhile

    app = QApplication(sys.argv[:1])
    parts = build(resolve_paths(str(data)), Settings(temperature=0.0, max_tokens=24))
    parts.window.show()
    found = {
        "chatapp": chatapp.__file__, "resources": str(RESOURCES),
        "llm": str(default_llm_path()), "image_model": str(default_image_model_path()),
        "stylesheet_chars": len(app.styleSheet()),
        "icon_sizes": sorted(s.width() for s in parts.window.windowIcon().availableSizes()),
    }
    parts.session.load_models()
    wait(lambda: parts.session.llm_status in ("ready", "error"), "the chat model")
    found["llm_status"] = parts.session.llm_status

    pieces, finished = [], []
    parts.session.reply_text.connect(lambda _mid, text: pieces.append(text))
    parts.session.reply_finished.connect(finished.append)
    editor = parts.window.composer.editor
    QTest.keyClicks(editor, "What colour is the sky?")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    wait(lambda: finished, "the reply")
    reply = parts.storage.message(finished[0])
    found.update(reply_status=reply.status, reply=reply.content, updates=len(pieces),
                 grew_by_prefixes=all(b.startswith(a) for a, b in zip(pieces, pieces[1:])))

    QTest.keyClicks(editor, "/image a red circle on a blue background --seed 0")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    pictures = lambda: [m for m in parts.storage.messages(parts.session.current.id) if m.kind == "image"]  # noqa: E731
    wait(lambda: pictures() and pictures()[0].status in (DONE, ERROR, CANCELLED), "the picture")
    picture = pictures()[0]
    found.update(picture_status=picture.status, picture=picture.image_path, picture_note=picture.content)
    ok = parts.session.shutdown()
    parts.storage.close()
    found["clean_shutdown"] = ok
    found["outside_checkout"] = all(checkout not in Path(found[k]).resolve().parents
                                    for k in ("chatapp", "resources", "llm", "image_model"))
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
