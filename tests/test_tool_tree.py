"""Tool calls in the conversation tree (issue 23) on real SQLite: the MessageLog helpers, the history sent to a
model that calls tools and to one that cannot (folded into text), and a call a crash left running."""
from __future__ import annotations

import pytest

from chatapp import branches
from chatapp.conversation import CANCELLED, DONE, ERROR, STOPPED, STREAMING
from chatapp.engines.events import ToolCall
from chatapp.message_log import MessageLog
from chatapp.storage import Storage

DRAW = ToolCall("call_a", "draw_picture", '{"prompt": "a lighthouse at dusk"}')
SEARCH = ToolCall("call_b", "search_documents", '{"query": "lighthouse colours"}')


def tool_turn(storage: Storage):
    """A question, a reply that calls two tools, a picture under the first call, the reply going on, a new question."""
    log = MessageLog(storage)
    conv = storage.create_conversation("Tools")
    q = log.add(conv.id, "user", "Draw a lighthouse at dusk and tell me its colours")
    reply = log.add(conv.id, "assistant", "", status=STREAMING, parent_id=q.id, make_current=True)
    assert log.set_tool_calls(reply, [DRAW, SEARCH.openai()], content="Let me draw it.", status=DONE)
    draw = log.add_tool_message(conv.id, reply.id, DRAW)
    log.set_tool_state(draw, "done", "Drew picture #1 (32x32, seed 5). Prompt: a lighthouse at dusk")
    pic = log.add(conv.id, "assistant", "a lighthouse at dusk", kind="image", image_path="/nowhere/1.png",
                  meta={"tool_call_id": "call_a", "parameters": "a lighthouse at dusk\nSteps: 5, Seed: 5, Size: 32x32"},
                  parent_id=draw.id)
    search = log.add_tool_message(conv.id, pic.id, SEARCH, state="asking")
    log.set_tool_state(search, "failed", "No files are attached to this chat.")
    log.add(conv.id, "assistant", "Here it is: red and white.", parent_id=search.id)
    log.add(conv.id, "user", "Thanks!")
    return conv, reply, draw, search


def test_a_tool_turn_is_saved_as_the_contract_says_and_reads_back_after_reopening(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    conv, reply, draw, search = tool_turn(s)
    s.close()
    s = Storage(tmp_path / "db.sqlite3")
    path = s.branch(conv.id)
    assert [(m.role, m.kind, m.status) for m in path] == [
        ("user", "text", DONE), ("assistant", "text", DONE), ("tool", "tool", DONE), ("assistant", "image", DONE),
        ("tool", "tool", ERROR), ("assistant", "text", DONE), ("user", "text", DONE)]
    assert path[1].content == "Let me draw it." and path[1].meta["tool_calls"] == [DRAW.openai(), SEARCH.openai()]
    assert path[2].parent_id == reply.id and path[2].meta == {
        "tool_call_id": "call_a", "name": "draw_picture", "arguments": DRAW.arguments, "state": "done",
        "source": "builtin"}
    assert path[3].parent_id == draw.id and path[3].meta["tool_call_id"] == "call_a"
    assert path[4].meta["state"] == "failed" and path[4].content == "No files are attached to this chat."
    assert s.conversation(conv.id).current_leaf == path[-1].id


def test_the_history_for_an_engine_that_calls_tools_has_its_calls_and_results(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    conv, *_ = tool_turn(s)
    got = branches.history(s, conv, "Be brief.", tools=True)
    assert got == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Draw a lighthouse at dusk and tell me its colours"},
        {"role": "assistant", "content": "Let me draw it.", "tool_calls": [DRAW.openai(), SEARCH.openai()]},
        {"role": "tool", "tool_call_id": "call_a", "content": "Drew picture #1 (32x32, seed 5). Prompt: a lighthouse at dusk"},
        {"role": "tool", "tool_call_id": "call_b", "content": "No files are attached to this chat."},
        {"role": "assistant", "content": "Here it is: red and white."},
        {"role": "user", "content": "Thanks!"}]


def test_the_history_for_an_engine_that_cannot_call_tools_folds_them_into_the_replys_text(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    conv, *_ = tool_turn(s)
    got = branches.history(s, conv, "Be brief.")
    assert [m["role"] for m in got] == ["system", "user", "assistant", "user"]
    assert all(set(m) == {"role", "content"} for m in got)
    assert got[2]["content"] == (
        "Let me draw it.\n\n[tool call] draw_picture {\"prompt\": \"a lighthouse at dusk\"}\n\n"
        "[tool call] search_documents {\"query\": \"lighthouse colours\"}\n\n"
        "[tool result] draw_picture: Drew picture #1 (32x32, seed 5). Prompt: a lighthouse at dusk\n\n"
        "[tool result] search_documents: No files are attached to this chat.\n\nHere it is: red and white.")


def test_the_history_up_to_the_last_result_is_what_the_reply_going_on_is_given(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    conv, reply, draw, search = tool_turn(s)
    got = branches.history(s, conv, "", up_to=search.id, tools=True)
    assert [m["role"] for m in got] == ["user", "assistant", "tool", "tool"]


def test_a_call_without_a_result_is_still_answered_for_the_api(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    log = MessageLog(s)
    conv = s.create_conversation("Half")
    q = log.add(conv.id, "user", "Draw two things")
    reply = log.add(conv.id, "assistant", "", parent_id=q.id)
    log.set_tool_calls(reply, [DRAW, SEARCH])
    denied = log.add_tool_message(conv.id, reply.id, DRAW, state="asking")
    log.set_tool_state(denied, "denied")
    got = branches.history(s, conv, "", tools=True)
    assert got[1] == {"role": "assistant", "content": "", "tool_calls": [DRAW.openai(), SEARCH.openai()]}
    assert got[2:] == [{"role": "tool", "tool_call_id": "call_a", "content": "The user did not allow this call."},
                       {"role": "tool", "tool_call_id": "call_b", "content": "The call was not run."}]
    assert s.message(denied.id).status == DONE and s.message(denied.id).meta["state"] == "denied"


def test_a_history_without_tools_is_what_it_was(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    conv = s.create_conversation("Plain")
    s.add_message(conv.id, "user", "hi")
    s.add_message(conv.id, "assistant", "hello", status=STOPPED)
    s.add_message(conv.id, "assistant", "", status=DONE)
    s.add_message(conv.id, "user", "again")
    expected = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "again"}]
    assert branches.history(s, conv, "") == expected == branches.history(s, conv, "", tools=True)


@pytest.mark.parametrize("state", ["asking", "running"])
def test_a_call_a_crash_left_unfinished_is_cancelled_at_start_up(tmp_path, state):
    s = Storage(tmp_path / "db.sqlite3")
    log = MessageLog(s)
    conv = s.create_conversation("Crash")
    q = log.add(conv.id, "user", "Draw a cat")
    reply = log.add(conv.id, "assistant", "", parent_id=q.id)
    log.set_tool_calls(reply, [DRAW])
    call = log.add_tool_message(conv.id, reply.id, DRAW, state=state, source="mcp:paint")
    going_on = log.add(conv.id, "assistant", "Drawing", status=STREAMING, parent_id=call.id)
    assert s.message(call.id).status == STREAMING
    s.close()
    s = Storage(tmp_path / "db.sqlite3")   # the app starting again after the crash
    assert s.mark_interrupted() == 2
    again = s.message(call.id)
    assert again.status == CANCELLED and again.meta == {**call.meta, "state": "cancelled"}
    assert s.message(going_on.id).status == STOPPED
    assert branches.history(s, conv, "", tools=True)[-2] == {
        "role": "tool", "tool_call_id": "call_a", "content": "The call was cancelled before it finished."}


def test_a_damaged_meta_does_not_stop_start_up(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    conv = s.create_conversation("Damaged")
    m = s.add_message(conv.id, "tool", "", kind="tool", status=STREAMING)
    s._db.execute("UPDATE messages SET meta='not json' WHERE id=?", (m.id,))   # autocommit
    assert s.mark_interrupted() == 1 and s.message(m.id).status == CANCELLED
    assert s._db.execute("SELECT meta FROM messages WHERE id=?", (m.id,)).fetchone()[0] == "not json"
