"""Tool calls in export and import (issue 23): JSON keeps them whole (round trip on real SQLite), Markdown and HTML
show each call readably, a call left running in a file comes in cancelled, ChatGPT's DALL-E pictures are noted."""
from __future__ import annotations

import json
from pathlib import Path

from chatapp.conversation import DONE, STREAMING
from chatapp.engines.events import ToolCall
from chatapp.message_log import MessageLog
from chatapp.settings import resolve_paths
from chatapp.storage import Storage
from chatapp.store.export import export
from chatapp.store.ingest import import_file
from tests.test_export_import import _Collect, picture, tree

DRAW = ToolCall("call_a", "draw_picture", '{"prompt": "a red circle", "size": "32x32"}')
MCP = ToolCall("call_b", "weather", '{"city": "Köln", "note": "```not a fence end```"}')


def tool_chat(data_dir: Path) -> tuple[Storage, int]:
    """A chat whose reply draws a picture through a tool, calls an MCP tool that fails, and goes on."""
    paths = resolve_paths(str(data_dir))
    s = Storage(paths.database)
    log = MessageLog(s)
    conv = s.create_conversation("Tools at work")
    q = log.add(conv.id, "user", "Draw a red circle, then tell me the weather in Köln")
    reply = log.add(conv.id, "assistant", "", status=STREAMING, parent_id=q.id, make_current=True)
    log.set_tool_calls(reply, [DRAW, MCP], status=DONE)
    draw = log.add_tool_message(conv.id, reply.id, DRAW)
    path, params = picture(paths.images, "red", 1)
    pic = log.add(conv.id, "assistant", "a red circle", kind="image", image_path=path, parent_id=draw.id,
                  meta={"tool_call_id": "call_a", "parameters": params})
    log.set_tool_state(draw, "done", "Drew picture #1, shown to the user (32x32, seed 1). Prompt: a red circle",
                       progress=1.0)
    weather = log.add_tool_message(conv.id, pic.id, MCP, source="mcp:weather-server")
    log.set_tool_state(weather, "failed", "weather-server stopped answering <after 30 s>.")
    log.add(conv.id, "assistant", "Here is your circle; the weather service did not answer.", parent_id=weather.id)
    return s, conv.id


def test_json_round_trip_keeps_calls_results_and_the_tool_made_picture_whole(tmp_path):
    src, _ = tool_chat(tmp_path / "a")
    out = tmp_path / "all.json"
    assert export(src, None, "json", out).pictures == 1
    dst_dir = tmp_path / "b"
    dst = Storage(resolve_paths(str(dst_dir)).database)
    got = import_file(dst, out, resolve_paths(str(dst_dir)).images)
    assert (got.conversations, got.messages, got.pictures, got.damaged) == (1, 6, 1, [])
    assert tree(dst) == tree(src)   # roles, kinds, states, results, meta, picture bytes, parents, the shown branch
    path = dst.branch(dst.conversations()[0].id)
    assert path[1].meta["tool_calls"] == [DRAW.openai(), MCP.openai()]
    assert path[2].role == path[2].kind == "tool" and path[2].meta["arguments"] == DRAW.arguments
    assert path[3].parent_id == path[2].id and path[3].meta["tool_call_id"] == "call_a"
    assert path[4].meta["source"] == "mcp:weather-server" and path[4].meta["state"] == "failed"


def test_markdown_shows_each_call_its_arguments_state_and_result(tmp_path):
    src, cid = tool_chat(tmp_path / "a")
    out = tmp_path / "chat.md"
    export(src, [cid], "md", out)
    text = out.read_text()
    assert "*Calls `draw_picture`, `weather`*" in text   # the turn that only called tools
    assert "**Tool call** ·" in text and "`draw_picture`, done:" in text
    assert '```json\n{\n  "prompt": "a red circle",\n  "size": "32x32"\n}\n```' in text
    assert "`weather` (mcp:weather-server), failed:" in text
    # Backticks inside the arguments cannot close the block they are shown in.
    assert '````json\n{\n  "city": "Köln",\n  "note": "```not a fence end```"\n}\n````' in text
    assert "Result:\n\n```\nDrew picture #1, shown to the user" in text
    assert text.index("`draw_picture`, done") < text.index("![a red circle]") < text.index("`weather` (mcp")


def test_html_shows_each_call_escaped_and_self_contained(tmp_path):
    src, cid = tool_chat(tmp_path / "a")
    out = tmp_path / "chat.html"
    assert export(src, [cid], "html", out).pictures == 1
    text = out.read_text()
    p = _Collect()
    p.feed(text)
    assert "script" not in p.tags and all(v.startswith("data:image/png;base64,") for t, k, v in p.attrs if k == "src")
    assert text.count('class="msg tool') == 2 and 'class="msg tool error"' in text   # the failed call looks failed
    assert "Tool <b>draw_picture</b> · done" in text and "Tool <b>weather</b> (mcp:weather-server) · failed" in text
    assert "&lt;after 30 s&gt;" in text and "<after 30 s>" not in text   # a result is text, never markup
    assert "K\u00f6ln" in text and "a red circle" in text


def _ours(messages) -> dict:
    return {"format": "chatapp", "version": 1, "conversations": [
        {"id": 1, "title": "x", "created": 1.0, "system_prompt": None, "current": None, "messages": messages}]}


def test_a_call_running_when_the_file_was_written_comes_in_cancelled(tmp_path):
    calls = [DRAW.openai()]
    doc = _ours([
        {"id": 1, "parent": None, "role": "user", "content": "draw", "created": 1.0},
        {"id": 2, "parent": 1, "role": "assistant", "content": "", "created": 2.0, "meta": {"tool_calls": calls}},
        {"id": 3, "parent": 2, "role": "tool", "kind": "tool", "status": "streaming", "content": "", "created": 3.0,
         "meta": {"tool_call_id": "call_a", "name": "draw_picture", "arguments": DRAW.arguments, "state": "running",
                  "source": "builtin"}}])
    f = tmp_path / "x.json"
    f.write_text(json.dumps(doc))
    s = Storage(tmp_path / "db.sqlite3")
    assert import_file(s, f, tmp_path / "images").messages == 3
    call = s.branch(s.conversations()[0].id)[-1]
    assert (call.role, call.kind, call.status, call.meta["state"]) == ("tool", "tool", "cancelled", "cancelled")


def test_chatgpts_dalle_pictures_are_noted_and_its_browsing_output_stays_out(tmp_path):
    made = iter(range(1, 100))

    def node(key, parent, role, content, recipient="all", name=None):
        return {"id": key, "parent": parent, "children": [], "message": {
            "id": key, "author": {"role": role, "name": name, "metadata": {}}, "create_time": 1700000000.0 + next(made),
            "content": content, "metadata": {}, "recipient": recipient}}
    text = lambda t: {"content_type": "text", "parts": [t]}
    mapping = {n["id"]: n for n in [
        {"id": "root", "parent": None, "children": [], "message": None},
        node("u", "root", "user", text("Draw a fox, then look up foxes")),
        node("call", "u", "assistant", {"content_type": "code", "language": "json", "text": '{"prompt": "a fox"}'},
             recipient="dalle.text2im"),
        node("pics", "call", "tool", {"content_type": "multimodal_text", "parts": [
            {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-abc", "width": 1024,
             "height": 1024, "metadata": {"dalle": {"prompt": "a fox", "seed": 7}}},
            "DALL·E displayed 1 images. The images are already plainly visible, so don't repeat the descriptions."]},
             name="dalle.text2im"),
        node("search", "pics", "assistant", {"content_type": "code", "language": "unknown", "text": 'search("fox")'},
             recipient="browser"),
        node("found", "search", "tool", {"content_type": "tether_browsing_display", "result": "Foxes ..."},
             name="browser"),
        node("a", "found", "assistant", text("Here is your fox. Foxes are small canids."))]}
    f = tmp_path / "conversations.json"
    f.write_text(json.dumps([{"title": "Fox", "create_time": 1700000000.0, "mapping": mapping, "current_node": "a",
                              "conversation_id": "fox-1"}]))
    s = Storage(tmp_path / "db.sqlite3")
    assert import_file(s, f, tmp_path / "images").messages == 3
    path = s.branch(s.conversations()[0].id)
    assert [(m.role, m.content) for m in path] == [
        ("user", "Draw a fox, then look up foxes"), ("assistant", ""),
        ("assistant", "Here is your fox. Foxes are small canids.")]
    assert path[1].meta == {"chatgpt_id": "pics", "chatgpt_tool": "dalle.text2im", "pictures_not_included": 1}
    assert path[2].parent_id == path[1].id


def test_the_pdf_shows_the_calls_as_the_html_does(tmp_path, qapp):
    from tests.test_export_pdf import read_back
    src, cid = tool_chat(tmp_path / "a")
    out = tmp_path / "chat.pdf"
    assert export(src, [cid], "pdf", out).pictures == 1
    _reader, text, pictures, _colours = read_back(out)
    for said in ("Tool draw_picture · done", '"prompt": "a red circle"', "Tool weather (mcp:weather-server) · failed",
                 "weather-server stopped answering <after 30 s>.", "Here is your circle"):
        assert "".join(said.split()) in text, said
    assert len(pictures) == 1


def test_import_gives_the_ids_a_card_names_this_databases_ids(tmp_path):
    """A draw card's pictures (message_ids) and a look's picture (shown) point at the imported messages, in a
    database whose ids differ from the exporting one's; an id outside the chat is left out."""
    from chatapp import branches
    src, cid = tool_chat(tmp_path / "a")
    log = MessageLog(src)
    msgs = src.messages(cid)
    draw, pic, last = msgs[2], msgs[3], msgs[-1]
    log.set_tool_state(draw, draw.meta["state"], message_ids=[pic.id, 10 ** 6])
    reply = log.add(cid, "assistant", "", status=STREAMING, parent_id=last.id, make_current=True)
    look_call = ToolCall("call_c", "look_at_picture", '{"picture": "#1"}')
    log.set_tool_calls(reply, [look_call], status=DONE)
    look = log.add_tool_message(cid, reply.id, look_call)
    log.set_tool_state(look, "done", "Picture #1 is shown to you in the next message.", shown=[pic.id])
    out = tmp_path / "all.json"
    export(src, None, "json", out)
    dst_dir = tmp_path / "b"
    dst, _ = tool_chat(dst_dir)   # the database has messages of its own: the imported ones get other ids
    got = import_file(dst, out, resolve_paths(str(dst_dir)).images)
    assert got.conversations == 1
    conv = max(dst.conversations(), key=lambda c: c.id)
    here = {(m.role, m.kind, m.content[:12]): m for m in dst.messages(conv.id)}
    new_pic = here[("assistant", "image", "a red circle")]
    assert new_pic.id != pic.id
    cards = {m.meta["name"]: m for m in dst.messages(conv.id) if m.kind == "tool"}
    assert cards["draw_picture"].meta["message_ids"] == [new_pic.id]
    assert cards["look_at_picture"].meta["shown"] == [new_pic.id]
    sent = branches.history(dst, conv, "", tools=True, vision=True)
    assert sent[-1]["content"][1] == {"type": branches.PICTURE_PART, "path": new_pic.image_path, "name": "picture"}
