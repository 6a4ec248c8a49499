"""Fitting a conversation into the context keeps the system prompt and the newest turns."""
import pytest

from chatapp.engines.base import ContextOverflow
from chatapp.engines.context import PER_MESSAGE_OVERHEAD, fit_messages


def words(text):
    return len(text.split())


def convo(n):
    msgs = [{"role": "system", "content": "sys " * 10}]
    for i in range(n):
        msgs.append({"role": "user", "content": f"q{i} " * 20})
        msgs.append({"role": "assistant", "content": f"a{i} " * 20})
    msgs.append({"role": "user", "content": "last " * 20})
    return msgs


def test_everything_fits():
    msgs = convo(2)
    assert fit_messages(msgs, words, 4096, 100) == (msgs, 0)


def test_oldest_turns_go_first_system_stays():
    msgs = convo(10)
    per = 20 + PER_MESSAGE_OVERHEAD
    fitted, dropped = fit_messages(msgs, words, 10 + PER_MESSAGE_OVERHEAD + per * 5 + 100, 100)
    assert fitted[0] == msgs[0] and fitted[-1] == msgs[-1]
    assert fitted[1]["role"] == "user"
    assert len(fitted) - 1 + dropped == len(msgs) - 1
    assert dropped > 0 and fitted[1:] == msgs[len(msgs) - len(fitted) + 1:]


def test_message_larger_than_context_is_explained():
    with pytest.raises(ContextOverflow, match="context holds 64"):
        fit_messages([{"role": "user", "content": "x " * 500}], words, 64, 16)
