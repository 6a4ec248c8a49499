"""Bubble actions, one registered entry each (label, which bubbles show it and when, handler): bubbles draw
their buttons from ACTIONS and the window runs an action's handler by its name; a new action is one register() call."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog

from ..conversation import CANCELLED, DONE, ERROR, STOPPED, Message, thinking_of
from ..registry import Registry

PICTURE, USER, ASSISTANT, TOOL = "picture", "user", "assistant", "tool"   # the kinds of bubble (TOOL: a call's card)


def _always(_message: Message) -> bool:
    return True


def _drawn(message: Message) -> bool:
    return message.status == DONE


@dataclass(frozen=True)
class BubbleAction:
    label: str                               # the button's text; "" for an action with its own trigger
    bubbles: frozenset[str]                  # which bubbles show it: PICTURE, USER, ASSISTANT, TOOL
    run: Callable[[object, Message], None]   # handler(window, message): the window's widgets, the session's public methods
    shown: Callable[[Message], bool] = _always   # shown for the message as it is now (its status)
    tip: str = ""
    text: Callable[[Message], str] | None = None   # the label for this message, when it says more than `label`
    chip: bool = False                       # drawn as a suggestion chip rather than a quiet link


ACTIONS: Registry[BubbleAction] = Registry("bubble action")


def buttons_for(kind: str) -> list[tuple[str, BubbleAction]]:
    """The actions a bubble of this kind shows as buttons, in registration order."""
    return [(name, a) for name, a in ACTIONS.items() if a.label and kind in a.bubbles]


def shown(name: str, message: Message) -> bool:
    action = ACTIONS.get(name)
    return action is not None and action.shown(message)


def text(name: str, message: Message) -> str | None:
    """The button's label for this message, when the action words it per message (None: its fixed label)."""
    action = ACTIONS.get(name)
    return action.text(message) if action is not None and action.text is not None else None


def run(name: str, window, message: Message) -> bool:
    """Run the action called name on message; False if no such action is registered (any more)."""
    action = ACTIONS.get(name)
    if action is None:
        return False
    action.run(window, message)
    return True


# --- the built-in actions ---------------------------------------------------------------------------
def _save_picture(window, message: Message) -> None:
    if not message.image_path:
        return
    target, _ = QFileDialog.getSaveFileName(window, "Save picture", Path(message.image_path).name, "PNG (*.png)")
    if target:
        try:
            shutil.copyfile(message.image_path, target)
        except OSError as exc:
            window.view.add_notice(f"Could not save the picture: {exc}")


def _copy_image(_window, message: Message) -> None:
    if message.image_path:
        QGuiApplication.clipboard().setImage(QImage(message.image_path))


def _copy_prompt(_window, message: Message) -> None:
    QGuiApplication.clipboard().setText(message.meta.get("request", {}).get("prompt", message.content))


def _edit_picture(window, message: Message) -> None:
    if message.image_path:   # /image <prompt> --init #N --strength 0.6
        window.composer.set_text(window.session.picture_edit_command(message))


CHIP_PROMPT_CHARS = 60   # a long prompt is cut on the chip (the tip and the /image message show it whole)


def _suggested(message: Message) -> bool:
    """A "Draw this" suggestion: the session put one on a drawing request (tools/drawing_intent.py) for a model that
    cannot draw by itself."""
    hint = message.meta.get("draw_this") if isinstance(message.meta, dict) else None
    return isinstance(hint, dict) and isinstance(hint.get("prompt"), str) and message.status == DONE


def _chip_text(message: Message) -> str:
    hint = message.meta.get("draw_this") or {}
    prompt, shape = str(hint.get("prompt", "")), hint.get("shape")
    if len(prompt) > CHIP_PROMPT_CHARS:
        prompt = prompt[:CHIP_PROMPT_CHARS - 1].rstrip() + "…"
    return f"Draw this: {prompt}" + (f" ({shape})" if shape else "")


def _open(window, message: Message) -> None:
    if message.image_path:
        window.show_picture(message)


def _state_in(*states: str) -> Callable[[Message], bool]:
    return lambda m: m.meta.get("state") in states


_TEXT, _CARD = frozenset({USER, ASSISTANT}), frozenset({TOOL})
for _name, _action in (
        ("save", BubbleAction("Save as…", frozenset({PICTURE}), _save_picture, _drawn)),
        ("copy_image", BubbleAction("Copy image", frozenset({PICTURE}), _copy_image, _drawn)),
        ("copy_prompt", BubbleAction("Copy prompt", frozenset({PICTURE}), _copy_prompt, _drawn)),
        # A cancelled picture can still be asked for again.
        ("rerun", BubbleAction("Re-run", frozenset({PICTURE}), lambda w, m: w.session.redraw(m),
                               lambda m: m.status in (DONE, CANCELLED))),
        ("vary_seed", BubbleAction("Vary seed", frozenset({PICTURE}),
                                   lambda w, m: w.session.redraw(m, new_seed=True), _drawn)),
        ("edit_picture", BubbleAction("Edit", frozenset({PICTURE}), _edit_picture, _drawn)),
        ("open", BubbleAction("", frozenset({PICTURE}), _open)),   # a click (or Enter) on the picture
        ("cancel", BubbleAction("", frozenset({PICTURE}), lambda w, m: w.session.cancel_picture(m.id))),  # its bar's Cancel
        # A reply that is all thinking copies the thinking: it is all the model wrote.
        ("copy", BubbleAction("Copy", frozenset({ASSISTANT}),
                              lambda _w, m: QGuiApplication.clipboard().setText(m.content or thinking_of(m.meta)),
                              tip="Copy the reply")),
        ("regenerate", BubbleAction("Regenerate", frozenset({ASSISTANT}), lambda w, m: w.session.regenerate(m),
                                    lambda m: m.status in (DONE, STOPPED, ERROR),
                                    tip="Another answer, keeping this one")),
        # Under a drawing request, for a model that cannot call tools: one click runs /image with the prompt.
        ("draw_this", BubbleAction("Draw this", frozenset({USER}), lambda w, m: w.session.draw_this(m), _suggested,
                                   tip="Make this picture with /image (this model cannot draw by itself)",
                                   text=_chip_text, chip=True)),
        ("edit", BubbleAction("Edit", frozenset({USER}), lambda w, m: w.composer.start_edit(m),
                              tip="Edit and resend (the old version is kept)")),
        # A tool call's card (ui/tool_card.py): the answers to a call that asks first, Stop, Run again.
        ("tool_allow_once", BubbleAction("Allow once", _CARD, lambda w, m: w.session.answer_tool(m, "once"),
                                         _state_in("asking"), tip="Run this call, and ask again next time")),
        ("tool_allow_always", BubbleAction("Always for this tool", _CARD,
                                           lambda w, m: w.session.answer_tool(m, "always"), _state_in("asking"),
                                           tip="Run this call and this tool's later calls without asking")),
        ("tool_deny", BubbleAction("Deny", _CARD, lambda w, m: w.session.answer_tool(m, "deny"), _state_in("asking"),
                                   tip="Do not run it; the assistant is told so")),
        ("tool_stop", BubbleAction("Stop", _CARD, lambda w, m: w.session.stop(), _state_in("running"),
                                   tip="Stop this call and the reply")),
        ("tool_run_again", BubbleAction("Run again", _CARD, lambda w, m: w.session.rerun_tool(m, m.meta["arguments"]),
                                        _state_in("done", "failed", "denied", "cancelled"),
                                        tip="Run the call again with the arguments above (as edited); the old one is kept")),
        ("delete_branch", BubbleAction("Delete", _TEXT, lambda w, m: w.delete_branch(m),
                                       tip="Delete this message and everything after it")),
        # The branch switcher's ‹ and › (bubble_base.BranchSwitcher).
        ("branch_prev", BubbleAction("", _TEXT, lambda w, m: w.session.switch_branch(m, -1))),
        ("branch_next", BubbleAction("", _TEXT, lambda w, m: w.session.switch_branch(m, 1))),
):
    ACTIONS.register(_name, _action)
