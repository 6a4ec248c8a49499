"""Bubble actions are a registered set: one registered in a test appears on its bubbles and runs its handler."""
from __future__ import annotations

from PySide6.QtCore import Qt

from chatapp.engines.fake import FakeChatEngine
from chatapp.ui.bubble_actions import ACTIONS, ASSISTANT, BubbleAction


def test_a_registered_action_appears_on_a_reply_and_runs_its_handler(make_app, qtbot):
    ran = []

    def shout(window, message):
        ran.append((window, message.id))
    parts = make_app(FakeChatEngine(["hello there"]))
    s = parts.session
    action = BubbleAction("Shout", frozenset({ASSISTANT}), shout, lambda m: m.status == "done", tip="Say it loud")
    with ACTIONS.registered("shout", action):
        with qtbot.waitSignal(s.reply_finished, timeout=30000):
            s.submit("hi")
        reply = parts.storage.messages(s.current.id)[-1]
        bubble = parts.window.view.widgets[reply.id]
        user_bubble = parts.window.view.widgets[reply.parent_id]
        assert "shout" in bubble.action_buttons and "shout" not in user_bubble.action_buttons
        button = bubble.action_buttons["shout"]
        qtbot.waitUntil(button.isVisible, timeout=30000)
        assert button.text() == "Shout" and button.toolTip() == "Say it loud"
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert ran == [(parts.window, reply.id)]
    assert "shout" not in ACTIONS   # the with-block left the registry as it was


def test_the_built_in_actions_are_all_registered_and_each_bubble_draws_its_own():
    assert {"save", "copy_image", "copy_prompt", "rerun", "vary_seed", "edit_picture", "open", "cancel", "copy",
            "regenerate", "edit", "delete_branch", "branch_prev", "branch_next"} <= set(ACTIONS)
    assert [n for n, a in ACTIONS.items() if a.label and "picture" in a.bubbles] == \
        ["save", "copy_image", "copy_prompt", "rerun", "vary_seed", "edit_picture"]
