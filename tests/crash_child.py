"""A scripted chatapp that runs until killed; prints what the app reported as saved (for crash tests).

Run: python -m tests.crash_child DATA_DIR SEED
"""
from __future__ import annotations

import os
import random
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(data_dir: str, seed: int) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from chatapp.app import build, go_offline
    from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
    from chatapp.settings import Settings, resolve_paths
    go_offline()
    app = QApplication([])
    rng = random.Random(seed)
    chat = FakeChatEngine(token_delay=0.004)
    parts = build(resolve_paths(data_dir), Settings(), llm_engine_factory=lambda: chat,
                  image_engine_factory=lambda: FakeImageEngine(step_delay=0.01, default_steps=8))
    s = parts.session
    parts.window.show()
    s.load_models()

    def report(kind, *fields):
        print("SAVED", kind, *fields, flush=True)

    s.message_added.connect(lambda m: report("msg", m.id, m.conversation_id) if m.role == "user" else None)
    s.message_changed.connect(lambda m: report("final", m.id, m.conversation_id, m.status, len(m.content))
                              if m.status in ("done", "stopped") else None)

    def step():
        if s.llm_status != "ready":
            return
        action = rng.random()
        if action < 0.45 and not s._streaming_here():
            chat.enqueue(" ".join(f"w{rng.randrange(999)}" for _ in range(rng.randrange(5, 80))))
            s.submit(f"question {rng.randrange(10**6)}")
        elif action < 0.6:
            s.submit(f"/image a red circle --steps {rng.randrange(2, 12)}")
        elif action < 0.7 and s.current:
            title = f"title {rng.randrange(10**6)}"
            # Intent first, as for deletions: a kill between the rename and its report may leave
            # either title, never another one.
            before = s.storage.conversation(s.current.id).title
            print("RENAMING", s.current.id, title.replace(" ", "_"), before.replace(" ", "_"), flush=True)
            s.rename_conversation(s.current.id, title)
            report("title", s.current.id, title.replace(" ", "_"))
        elif action < 0.75 and s.current and len(s.conversations()) > 1:
            cid = s.current.id
            # The intent is reported before the act: a kill between the two must not look like
            # lost data (the check accepts the conversation whole or wholly gone).
            print("DELETING", cid, flush=True)
            s.delete_conversation(cid)
            print("DELETED", cid, flush=True)
            s.delete_conversation(cid)
        elif action < 0.8:
            s.new_conversation()
        elif action < 0.85:
            s.stop()
        elif action < 0.9 and s.current and not s._streaming_here():
            chat.enqueue(" ".join(f"r{rng.randrange(999)}" for _ in range(rng.randrange(5, 40))))
            s.regenerate()                       # a sibling reply: the tree grows sideways
        elif action < 0.95 and s.current and not s._streaming_here() and s.last_user_message():
            chat.enqueue("edited answer")
            s.edit_message(s.last_user_message(), f"edited {rng.randrange(10**6)}")
        elif s.current:
            branch = s.storage.branch(s.current.id)
            if branch:
                s.switch_branch(rng.choice(branch), rng.choice((-1, 1)))
    timer = QTimer()
    timer.timeout.connect(step)
    timer.start(15)
    print("RUNNING", flush=True)
    app.exec()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
