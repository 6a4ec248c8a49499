"""ChatGPT exports read right: damaged entries left out by name, later exports add their new turns,
citations become links, interrupted replies say so, pictures the export leaves out are noted."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from chatapp.store import describe_import
from chatapp.storage import Storage
from chatapp.store import StoreError
from chatapp.store.export import export
from chatapp.store.ingest import import_file

DATA = Path(__file__).parent / "data" / "chatgpt"
PRIVATE_USE = range(0xE000, 0xF900)


def _by_title(storage: Storage, title: str):
    return next(c for c in storage.conversations() if c.title == title)


def _all_text(storage: Storage) -> str:
    return "\n".join(m.content for c in storage.conversations() for m in storage.messages(c.id))


def test_one_entry_without_messages_does_not_stop_the_others(tmp_path):
    """LibreChat's modern-export fixture: a "Corrupted entry" with no mapping between two good chats."""
    s = Storage(tmp_path / "db.sqlite3")
    got = import_file(s, DATA / "chatgpt-modern-export.json", tmp_path / "images")
    assert got.conversations == 2 and sorted(c.title for c in s.conversations()) == \
        ["Deploying the staging cluster", "Weeknight pasta"]
    assert len(got.damaged) == 1 and "'Corrupted entry'" in got.damaged[0] and "no mapping" in got.damaged[0]
    said = describe_import(got, DATA / "chatgpt-modern-export.json")
    assert "1 could not be read" in said and "Corrupted entry" in said
    deploy = s.branch(_by_title(s, "Deploying the staging cluster").id)
    # The hidden user-profile node drops out; the visible turns keep their order and the model's name.
    assert [m.content for m in deploy] == ["How do I roll back the deploy?", "Run `helm rollback staging`.",
                                           "And if that fails?", "Restore from the last known-good chart."]
    assert deploy[-1].meta["model"] == "o4-mini"


def test_a_node_whose_parent_is_missing_is_named_and_the_rest_imports(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    got = import_file(s, DATA / "chatgpt-web-search.json", tmp_path / "images")
    assert got.conversations == 2 and {c.title for c in s.conversations()} == {"The Rhine", "Signal Sciences"}
    assert len(got.damaged) == 1 and "'A damaged chat'" in got.damaged[0] and "gone-node" in got.damaged[0]


def test_a_file_where_nothing_can_be_read_is_refused_whole(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    f = tmp_path / "conversations.json"
    f.write_text(json.dumps([{"title": "one", "mapping": {"a": {"parent": "nowhere", "message": None}}},
                             {"title": "two", "mapping": 5}]))
    with pytest.raises(StoreError) as err:
        import_file(s, f, tmp_path / "images")
    assert "no conversation in it could be read" in str(err.value) and "'one'" in str(err.value) \
        and "'two'" in str(err.value) and "Nothing was imported" in str(err.value)
    assert s.conversations() == []


def test_web_search_citations_become_links_and_leave_no_private_use_characters(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    import_file(s, DATA / "chatgpt-web-search.json", tmp_path / "images")
    rhine = s.branch(_by_title(s, "The Rhine").id)
    answer = rhine[1].content
    assert not any(ord(ch) in PRIVATE_USE for ch in _all_text(s))
    assert "about 1,230 km long [Rhine - Wikipedia](https://en.wikipedia.org/wiki/Rhine) " \
           "[Rhine | river, Europe](https://www.britannica.com/place/Rhine-River)." in answer
    assert "and flows into the North Sea." in answer          # the attribution span's marks and a hidden reference
    # The code fence after the citation is intact: it opens and closes on lines of its own.
    assert "\n```python\ncountries = ['CH', 'LI', 'AT', 'DE', 'FR', 'NL']\nprint(len(countries))\n```" in answer
    old = s.branch(_by_title(s, "Signal Sciences").id)[1].content
    assert old == ("In 2020 Fastly bought Signal Sciences for about $775 million [Fastly Completes Acquisition of "
                   "Signal Sciences](https://www.fastly.com/press/press-releases/fastly-completes-acquisition-signal-sciences).")


def _unmangled(text: str) -> str:
    """LibreChat's citation fixture stores its text decoded the wrong way (UTF-8 read as Windows-1252:
    "ã€\\x90" for "【") while its positions count the real characters; this puts the real text back."""
    raw = bytearray()
    for ch in text:
        raw += bytes([ord(ch)]) if ord(ch) < 256 else ch.encode("cp1252")
    return raw.decode("utf-8")


def test_librechat_citation_fixture_gets_the_links_its_positions_name(tmp_path):
    doc = json.loads((DATA / "chatgpt-citations.json").read_text(encoding="utf-8-sig"))
    mapping = doc[0]["mapping"]
    for node in mapping.values():
        if node["parent"] not in mapping:   # the fixture is cut out of a longer chat: its first node is the root
            node["parent"] = None
        content = (node.get("message") or {}).get("content") or {}
        if content.get("parts"):
            content["parts"] = [_unmangled(p) for p in content["parts"]]
    f = tmp_path / "citations.json"
    f.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    s = Storage(tmp_path / "db.sqlite3")
    import_file(s, f, tmp_path / "images")
    (answer,) = [m.content for m in s.messages(_by_title(s, "Citation Convo").id)]
    assert "【" not in answer and "source】" not in answer
    assert ("hybrid environments [Signal Sciences - Crunchbase Company Profile & Funding]"
            "(https://www.crunchbase.com/organization/signal-sciences) [Demand More from Your WAF - Signal Sciences now "
            "part of Fastly](https://www.signalsciences.com/).") in answer
    assert answer.count("](https://") == 4


def test_librechat_export_fixture_has_no_raw_citation_markers(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    got = import_file(s, DATA / "chatgpt-export.json", tmp_path / "images")
    assert got.conversations == 2 and not got.damaged
    text = _all_text(s)
    assert "【" not in text and "†" not in text and "](https://" in text


def test_an_interrupted_reply_is_stopped_and_pictures_are_noted_not_written_into_the_text(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    import_file(s, DATA / "chatgpt-tree.json", tmp_path / "images")
    stopped = [m for c in s.conversations() for m in s.messages(c.id) if m.status == "stopped"]
    assert [m.content.split("\n")[0] for m in stopped] == ["Sure! Here's a short story for you:"]
    import_file(s, DATA / "chatgpt-web-search.json", tmp_path / "images")
    rhine = s.branch(_by_title(s, "The Rhine").id)
    question, answer = rhine[2], rhine[3]
    assert question.content == "Which bridge is this?" and question.meta["pictures_not_included"] == 1
    assert "picture" not in question.content
    assert answer.status == "stopped" and answer.content.endswith("which carries")
    md = tmp_path / "rhine.md"
    export(s, [_by_title(s, "The Rhine").id], "md", md)
    assert "1 picture was not included in the export" in md.read_text()
    html = tmp_path / "rhine.html"
    export(s, [_by_title(s, "The Rhine").id], "html", html)
    assert "1 picture was not included in the export" in html.read_text()


def _later_export(extra_turns: int = 1) -> list:
    """The same account exported again later: the Rhine chat has gone on in ChatGPT."""
    doc = json.loads((DATA / "chatgpt-web-search.json").read_text(encoding="utf-8"))
    rhine = copy.deepcopy(doc[0])
    mapping, parent = rhine["mapping"], "a2"
    for n in range(extra_turns):
        for key, role, text in ((f"u-later-{n}", "user", f"And the next bridge downstream, {n}?"),
                                (f"a-later-{n}", "assistant", f"The Severin Bridge, {n}.")):
            mapping[parent]["children"].append(key)
            mapping[key] = {"id": key, "parent": parent, "children": [], "message": {
                "id": key, "author": {"role": role}, "create_time": 1760001000.0 + len(mapping),
                "content": {"content_type": "text", "parts": [text]}, "metadata": {}, "recipient": "all"}}
            parent = key
    rhine["current_node"] = parent
    rhine["update_time"] = 1760009999.0
    return [rhine, doc[2]]


def test_a_later_export_adds_the_new_turns_to_chats_imported_before(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    import_file(s, DATA / "chatgpt-web-search.json", tmp_path / "images")
    rhine_id = _by_title(s, "The Rhine").id
    before = len(s.messages(rhine_id))
    later = tmp_path / "conversations.json"
    later.write_text(json.dumps(_later_export(2), ensure_ascii=False), encoding="utf-8")
    got = import_file(s, later, tmp_path / "images")
    assert (got.conversations, got.updated, got.messages, got.skipped) == (0, 1, 4, 1)
    assert "1 imported before got its new turns" in describe_import(got, later)
    assert len(s.conversations()) == 2 and len(s.messages(rhine_id)) == before + 4
    path = s.branch(rhine_id)   # the chat shows the export's current branch, new turns under the old ones
    assert [m.content for m in path[-4:]] == ["And the next bridge downstream, 0?", "The Severin Bridge, 0.",
                                              "And the next bridge downstream, 1?", "The Severin Bridge, 1."]
    assert path[-4].parent_id == path[-5].id and path[-5].content.endswith("which carries")
    again = import_file(s, later, tmp_path / "images")
    assert (again.conversations, again.updated, again.messages, again.skipped) == (0, 0, 0, 2)


def test_new_turns_do_not_move_a_chat_the_user_went_on_with_here(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    import_file(s, DATA / "chatgpt-web-search.json", tmp_path / "images")
    rhine_id = _by_title(s, "The Rhine").id
    here = s.add_message(rhine_id, "user", "Asked here, in chatapp")   # the user went on locally
    later = tmp_path / "conversations.json"
    later.write_text(json.dumps(_later_export(1), ensure_ascii=False), encoding="utf-8")
    assert import_file(s, later, tmp_path / "images").updated == 1
    assert s.branch(rhine_id)[-1].id == here.id      # still the branch the user was on
    assert "The Severin Bridge, 0." in [m.content for m in s.messages(rhine_id)]


def test_the_bubble_says_a_picture_was_not_included(make_app, qtbot, tmp_path):
    parts = make_app()
    import_file(parts.storage, DATA / "chatgpt-web-search.json", parts.paths.images)
    rhine = _by_title(parts.storage, "The Rhine")
    parts.session.open_conversation(rhine.id)
    question = parts.storage.branch(rhine.id)[2]
    qtbot.waitUntil(lambda: question.id in parts.window.view.widgets, timeout=30000)
    bubble = parts.window.view.widgets[question.id]
    assert "1 picture was not included in the export" in bubble.footer.text() and bubble.footer.isVisibleTo(bubble)
    answer = parts.storage.branch(rhine.id)[3]
    assert "Stopped" in parts.window.view.widgets[answer.id].footer.text()


def _node(key, parent, role, content, **meta):
    return {"id": key, "parent": parent, "children": [], "message": {
        "id": key, "author": {"role": role}, "recipient": "all", "create_time": 1765593140.0,
        "content": content, "metadata": meta}}


def test_a_thinking_models_thoughts_come_in_closed_above_its_reply(tmp_path):
    """After the shape of 2025 exports (o3, GPT-5 Thinking): the question, "thoughts" nodes (summaries and text), a
    "reasoning_recap" with its duration, then the reply; shown in ChatGPT as one closed "Thought for 45s"."""
    mapping = {"root": {"id": "root", "parent": None, "children": ["q"], "message": None},
               "q": _node("q", "root", "user", {"content_type": "text", "parts": ["Is 91 prime?"]}),
               "t1": _node("t1", "q", "assistant", {"content_type": "thoughts", "thoughts": [
                   {"summary": "Checking small factors", "content": "91 = 7 x 13.", "chunks": [], "finished": True}],
                   "source_analysis_msg_id": "x"}),
               "t2": _node("t2", "t1", "assistant", {"content_type": "thoughts", "thoughts": [
                   {"summary": "Answering", "content": "", "finished": True}]}),
               "recap": _node("recap", "t2", "assistant", {"content_type": "reasoning_recap", "content": "Thought for 45s"},
                              finished_duration_sec=45, reasoning_status="reasoning_ended"),
               "a": _node("a", "recap", "assistant", {"content_type": "text", "parts": ["No: 91 = 7 × 13."]},
                          model_slug="o3"),
               "q2": _node("q2", "a", "user", {"content_type": "text", "parts": ["Thanks"]}),
               "a2": _node("a2", "q2", "assistant", {"content_type": "text", "parts": ["You're welcome."]})}
    f = tmp_path / "conversations.json"
    f.write_text(json.dumps([{"title": "Primes", "create_time": 1765593100.0, "mapping": mapping,
                              "current_node": "a2", "conversation_id": "c-primes"}]))
    s = Storage(tmp_path / "db.sqlite3")
    import_file(s, f, tmp_path / "images")
    q, a, q2, a2 = s.branch(_by_title(s, "Primes").id)
    assert (a.content, a.meta["reasoning"], a.meta["thought_s"]) == \
        ("No: 91 = 7 × 13.", "**Checking small factors**\n91 = 7 x 13.\n\n**Answering**", 45.0)
    assert "Thought for 45s" not in _all_text(s) and "reasoning" not in a2.meta   # the recap is the title, not text
    export(s, None, "md", tmp_path / "out.md")
    assert "> *Thought for 45 s*\n>\n> **Checking small factors**" in (tmp_path / "out.md").read_text()
