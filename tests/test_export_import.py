"""Export and import on real SQLite: JSON round trip keeps every branch, HTML is self-contained, ChatGPT trees, bad files."""
from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from chatapp.conversation import ImageRequest
from chatapp.recipes.png import read_parameters, save_png
from chatapp.settings import resolve_paths
from chatapp.storage import Storage, StorageError
from chatapp.store import StoreError
from chatapp.store import importers
from chatapp.store.export import export
from chatapp.store.ingest import import_file

DATA = Path(__file__).parent / "data"
REPLY = ("Here you go:\n\n```python\nprint('hi')\n```\n\nSee [the docs](https://example.org/docs), "
         "![remote](http://example.com/x.png), [a file](file:///etc/passwd) and <img src=http://example.com/y.png>.")


def picture(folder: Path, colour: str, seed: int) -> tuple[str, str]:
    req = ImageRequest(prompt=f"a {colour} circle", steps=5, cfg=7.0, seed=seed, width=32, height=32)
    result = SimpleNamespace(image=Image.new("RGB", (32, 32), colour), request=req, seed=seed)
    saved = save_png(result, folder, "tiny-shapes")
    return saved.path, saved.parameters


def fill(data_dir: Path) -> Storage:
    """Two conversations; the first is a tree: a regenerated reply, an edited question, pictures on both sides."""
    paths = resolve_paths(str(data_dir))
    s = Storage(paths.database)
    c = s.create_conversation("Trees <b>and</b> code", system_prompt="Be brief.")
    q = s.add_message(c.id, "user", "Show me <script>alert(1)</script> code")
    a1 = s.add_message(c.id, "assistant", REPLY)
    s.add_message(c.id, "assistant", "A second answer", parent_id=q.id, make_current=True)
    img_q = s.add_message(c.id, "user", "/image a red circle --seed 1", parent_id=a1.id, make_current=True)
    path, params = picture(paths.images, "red", 1)
    red = s.add_message(c.id, "assistant", "a red circle", kind="image", image_path=path,
                  meta={"request": {"prompt": "a red circle", "seed": 1}, "parameters": params, "model": "tiny"})
    path2, params2 = picture(paths.images, "blue", 2)
    s.add_message(c.id, "assistant", "a blue circle", kind="image", image_path=path2,
                  meta={"parameters": params2}, parent_id=img_q.id, make_current=False)
    edited = s.add_message(c.id, "user", "Show me some code, please", parent_id=None, make_current=True)
    s.add_message(c.id, "assistant", "print('edited')", status="stopped")
    s.set_current_leaf(c.id, red.id)   # the red picture's branch is the one shown
    assert edited.parent_id is None
    d = s.create_conversation("Second chat")
    s.add_message(d.id, "user", "hello")
    s.add_message(d.id, "assistant", "hi there")
    return s


def tree(storage: Storage) -> list:
    """Every conversation as nested (role, kind, status, content, picture bytes, children), plus the shown path."""
    out = []
    for conv in sorted(storage.conversations(), key=lambda c: c.created_at):
        msgs = storage.messages(conv.id)
        kids: dict = {}
        for m in msgs:
            kids.setdefault(m.parent_id, []).append(m)

        def node(m):
            png = Path(m.image_path).read_bytes() if m.image_path else None
            return (m.role, m.kind, m.status, m.content, m.created_at, json.dumps(m.meta, sort_keys=True), png,
                    sorted((node(k) for k in kids.get(m.id, [])), key=repr))
        out.append((conv.title, conv.system_prompt, conv.created_at, sorted((node(r) for r in kids.get(None, [])), key=repr),
                    [(m.content, m.branch) for m in storage.branch(conv.id)]))
    return out


def count(storage: Storage) -> tuple[int, int]:
    db = storage._db
    return (db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0],
            db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


def test_json_round_trip_keeps_every_branch_and_picture(tmp_path):
    src = fill(tmp_path / "a")
    out = tmp_path / "all.json"
    summary = export(src, None, "json", out)
    assert (summary.conversations, summary.messages, summary.pictures) == (2, 10, 2)
    doc = json.loads(out.read_text())
    assert doc["format"] == "chatapp" and doc["version"] == 1
    first = doc["conversations"][0]
    assert {"id", "title", "created", "system_prompt", "current", "messages"} <= first.keys()
    assert sum(1 for m in first["messages"] if m["parent"] is None) == 2     # the edited first question is a root
    pics = [m["image"] for m in first["messages"] if m["image"]]
    assert all(base64.b64decode(p["png_base64"]).startswith(b"\x89PNG") and "Seed:" in p["parameters"] for p in pics)

    dst_dir = tmp_path / "b"
    dst = Storage(resolve_paths(str(dst_dir)).database)
    got = import_file(dst, out, resolve_paths(str(dst_dir)).images)
    assert (got.conversations, got.messages, got.pictures, got.skipped) == (2, 10, 2, 0)
    assert tree(dst) == tree(src)
    for m in dst.messages(dst.conversations()[-1].id):
        if m.image_path:   # the picture is a file of the new data dir, its recipe chunk intact
            assert Path(m.image_path).parent == resolve_paths(str(dst_dir)).images
            assert "Seed:" in read_parameters(m.image_path)
    again = tmp_path / "again.json"
    export(dst, None, "json", again)
    strip = lambda d: [[{k: v for k, v in m.items() if k not in ("id", "parent")} for m in c["messages"]]
                       for c in d["conversations"]]
    assert strip(json.loads(again.read_text())) == strip(doc)


def test_importing_twice_or_into_the_source_adds_nothing(tmp_path):
    src = fill(tmp_path / "a")
    out = tmp_path / "all.json"
    export(src, None, "json", out)
    images = resolve_paths(str(tmp_path / "a")).images
    before = count(src)
    again = import_file(src, out, images)      # back into the data dir it came from
    assert (again.conversations, again.skipped) == (0, 2) and count(src) == before
    dst = Storage(tmp_path / "b.sqlite3")
    assert import_file(dst, out, tmp_path / "b-images").conversations == 2
    n = count(dst)
    files = sorted((tmp_path / "b-images").iterdir())
    assert import_file(dst, out, tmp_path / "b-images").skipped == 2
    assert count(dst) == n and sorted((tmp_path / "b-images").iterdir()) == files
    # A re-export of the imported copy keeps the original's key: importing it into the source adds nothing.
    re_out = tmp_path / "re.json"
    export(dst, None, "json", re_out)
    assert import_file(src, re_out, images).conversations == 0
    assert count(src) == before


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)


def test_html_is_self_contained_and_looks_like_the_app(tmp_path):
    src = fill(tmp_path / "a")
    out = tmp_path / "chat.html"
    summary = export(src, None, "html", out)
    assert summary.pictures == 1     # the shown branch has the red picture, not the blue one
    text = out.read_text()
    p = _Collect()
    p.feed(text)
    assert "script" not in p.tags and "link" not in p.tags and "iframe" not in p.tags and "object" not in p.tags
    srcs = [v for t, k, v in p.attrs if k == "src"]
    assert srcs and all(v.startswith("data:image/png;base64,") for v in srcs)
    assert len(srcs) == 1
    for v in srcs:
        assert base64.b64decode(v.split(",", 1)[1]).startswith(b"\x89PNG")
    hrefs = [v for t, k, v in p.attrs if k == "href"]
    assert "https://example.org/docs" in hrefs
    assert all(h.startswith(("https://", "http://", "#", "mailto:")) for h in hrefs)
    assert not any(k in ("srcset", "poster", "background", "action", "formaction") for _, k, _v in p.attrs)
    assert not any(k.startswith("on") for _, k, _v in p.attrs)
    assert "url(" not in text and "@import" not in text
    assert "Content-Security-Policy" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;img src=http://example.com/y.png&gt;" in text
    assert "Seed: 1" in text                       # the recipe under the picture
    assert "#eef2ff" in text and "style=\"color:" in text   # the app's user bubble; Pygments colours inline
    assert "branch 1 of 2" in text                 # a message with siblings shows where it sits


def test_markdown_has_the_shown_branch_and_pictures_beside_it(tmp_path):
    src = fill(tmp_path / "a")
    out = tmp_path / "export" / "chat.md"
    summary = export(src, [src.conversations()[-1].id], "md", out)
    assert (summary.conversations, summary.pictures) == (1, 1)
    text = out.read_text()
    assert "# Trees <b>and</b> code" in text and "a red circle" in text and "a blue circle" not in text
    link = text.split("![a red circle](", 1)[1].split(")", 1)[0]
    assert not link.startswith("/") and (out.parent / link).read_bytes().startswith(b"\x89PNG")
    assert "Seed: 1" in text


def test_chatgpt_export_imports_as_a_tree_with_the_right_leaf(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    got = import_file(s, DATA / "chatgpt_conversations.json", tmp_path / "images")
    assert (got.conversations, got.messages, got.pictures) == (2, 8, 0)
    hike = next(c for c in s.conversations() if c.title == "Packing for a hike")
    assert hike.created_at == pytest.approx(1717400000.123)
    path = s.branch(hike.id)
    assert [m.role for m in path] == ["user", "assistant", "user", "assistant"]
    assert path[2].content == "How much water for a hot day, in litres?" and path[2].branch == (2, 2)
    assert path[3].content.startswith("On a hot day") and path[3].meta["model"] == "gpt-4o"
    # The hidden system node, the tool call and the tool output drop out; the answer hangs under the question.
    assert path[3].parent_id == path[2].id and path[0].parent_id is None
    first = s.children(path[1].id, hike.id)[0]
    assert [m.content for m in s.branch(hike.id, s.newest_leaf_under(first.id))][-1] == "About half a litre per hour of hiking."
    haiku = next(c for c in s.conversations() if c.title == "A haiku")
    q = s.branch(haiku.id)[0]
    # The picture is not in conversations.json: the message says so beside its text, not inside it.
    assert "Write a haiku" in q.content and "picture" not in q.content and q.meta["pictures_not_included"] == 1
    assert import_file(s, DATA / "chatgpt_conversations.json", tmp_path / "images").skipped == 2
    assert count(s) == (2, 8)


def _ours(messages, **conv):
    return {"format": "chatapp", "version": 1, "conversations": [
        {"id": 1, "title": "x", "created": 1.0, "system_prompt": None, "current": None, "messages": messages, **conv}]}


NOT_PNG = base64.b64encode(Path(__file__).parent.joinpath("data", "chatgpt_conversations.json").read_bytes()).decode()


def _png_b64(tmp_path) -> str:
    Image.new("RGB", (4, 4), "red").save(tmp_path / "p.png")
    return base64.b64encode((tmp_path / "p.png").read_bytes()).decode()


BAD = {
    "truncated JSON": (lambda t: json.dumps(_ours([{"id": 1, "parent": None, "role": "user", "content": "hi"}]))[:-7],
                       "not valid JSON"),
    "wrong format": (lambda t: json.dumps({"format": "someone-else", "version": 1, "conversations": []}),
                     "not a chatapp export"),
    "foreign JSON": (lambda t: json.dumps({"hello": "world"}), "neither a chatapp export"),
    "newer version": (lambda t: json.dumps({"format": "chatapp", "version": 9, "conversations": []}), "newer chatapp"),
    "unknown role": (lambda t: json.dumps(_ours([{"id": 1, "parent": None, "role": "robot", "content": "hi"}])),
                     "unknown role 'robot'"),
    "cycle": (lambda t: json.dumps(_ours([{"id": 1, "parent": 2, "role": "user", "content": "a"},
                                          {"id": 2, "parent": 1, "role": "assistant", "content": "b"}])), "cycle"),
    "missing parent": (lambda t: json.dumps(_ours([{"id": 1, "parent": 7, "role": "user", "content": "a"}])),
                       "parent 7 is not in the conversation"),
    "not base64": (lambda t: json.dumps(_ours([{"id": 1, "parent": None, "role": "assistant", "content": "p",
                                                "image": {"png_base64": "@@@not base64@@@", "parameters": ""}}])),
                   "not valid base64"),
    "not a PNG": (lambda t: json.dumps(_ours([{"id": 1, "parent": None, "role": "assistant", "content": "p",
                                               "image": {"png_base64": NOT_PNG, "parameters": ""}}])), "not a PNG"),
    "damaged PNG": (lambda t: json.dumps(_ours([{"id": 1, "parent": None, "role": "assistant", "content": "p",
                                                 "image": {"png_base64": _png_b64(t)[:-24] + "A" * 24}}])),
                    "damaged PNG"),
    "current missing": (lambda t: json.dumps(_ours([{"id": 1, "parent": None, "role": "user", "content": "a"}],
                                                   current=5)), "not in it"),
    "chatgpt cycle": (lambda t: json.dumps([{"title": "c", "current_node": "a", "mapping": {
        "a": {"id": "a", "parent": "b", "message": None}, "b": {"id": "b", "parent": "a", "message": None}}}]), "cycle"),
    "chatgpt odd shape": (lambda t: json.dumps([{"title": "c", "mapping": {"a": {"id": "a", "parent": None, "message": {
        "author": "user", "content": {"content_type": "text", "parts": ["x"]}}}}}]), "unexpected shape"),
    "deeply nested": (lambda t: "[" * 200_000 + "]" * 200_000, "nested too deeply"),
    "chatgpt unknown role": (lambda t: json.dumps([{"title": "c", "mapping": {"a": {"id": "a", "parent": None, "message": {
        "author": {"role": "wizard"}, "content": {"content_type": "text", "parts": ["x"]}}}}}]), "unknown role"),
}


# A broken file, or one whose only conversation is broken: nothing in it can be imported.
WHOLE_FILE = ("truncated JSON", "wrong format", "foreign JSON", "newer version", "deeply nested",
              "chatgpt cycle", "chatgpt odd shape", "chatgpt unknown role")


def _with_a_good_conversation_first(bad_text: str) -> str:
    """A good conversation before the bad one, so a half-done import would show up in the counts."""
    good = json.loads(json.dumps(_ours([{"id": 1, "parent": None, "role": "user", "content": "fine"}])))
    try:
        bad = json.loads(bad_text)
    except (ValueError, RecursionError):
        return bad_text
    if isinstance(bad, dict) and bad.get("format") == "chatapp" and bad.get("version") == 1:
        bad["conversations"] = good["conversations"] + [dict(c, id=2, title="bad") for c in bad["conversations"]]
        return json.dumps(bad)
    return bad_text


def _bad_import(tmp_path, case):
    """A data folder with chats in it, and BAD[case] written after a good conversation: (storage, file,
    images folder, expected words, (conversations, messages) before, picture files before)."""
    s = fill(tmp_path / "a")
    make, expected = BAD[case]
    f = tmp_path / "bad.json"
    f.write_text(_with_a_good_conversation_first(make(tmp_path)))
    images = resolve_paths(str(tmp_path / "a")).images
    return s, f, images, expected, count(s), sorted(images.iterdir())


@pytest.mark.parametrize("case", WHOLE_FILE)
def test_a_bad_file_gets_a_clear_message_and_imports_nothing(tmp_path, case):
    s, f, images, expected, before, files = _bad_import(tmp_path, case)
    with pytest.raises(StoreError) as err:
        import_file(s, f, images)
    assert expected in str(err.value) and "Nothing was imported" in str(err.value)
    assert count(s) == before and sorted(images.iterdir()) == files


@pytest.mark.parametrize("case", sorted(set(BAD) - set(WHOLE_FILE)))
def test_a_damaged_conversation_is_named_and_the_good_ones_import(tmp_path, case):
    """A backup (or a ChatGPT export) with one damaged chat still brings back the others."""
    s, f, images, expected, before, files = _bad_import(tmp_path, case)
    got = import_file(s, f, images)
    assert (got.conversations, got.messages, got.pictures) == (1, 1, 0)
    assert len(got.damaged) == 1 and got.damaged[0].startswith("conversation 2 ('bad')") and expected in got.damaged[0]
    assert count(s) == (before[0] + 1, before[1] + 1) and sorted(images.iterdir()) == files   # no picture of the bad one
    assert [m.content for m in s.messages(next(c.id for c in s.conversations() if c.title == "x"))] == ["fine"]


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    f = tmp_path / "huge.json"
    with f.open("wb") as fh:        # 200 MB, sparse: nothing is written, and reading it would be slow
        fh.truncate(200 * 2**20)
    with pytest.raises(StoreError, match="is 200 MB; chatapp imports files up to 128 MB"):   # from its size alone
        import_file(s, f, tmp_path / "images")
    assert count(s) == (0, 0)


def test_a_failed_transaction_removes_the_pictures_it_wrote(tmp_path, monkeypatch):
    src = fill(tmp_path / "a")
    out = tmp_path / "all.json"
    export(src, None, "json", out)
    dst = Storage(tmp_path / "b.sqlite3")
    images = tmp_path / "b-images"
    from chatapp.store import ingest

    def broken(db, conv, files):
        assert all(p.exists() for p in files.all())   # written before the transaction
        raise StorageError("The disk is full, so this could not be saved.")
    monkeypatch.setattr(ingest, "_insert", broken)
    with pytest.raises(StoreError, match="The disk is full, so this could not be saved. Nothing was imported."):
        import_file(dst, out, images)
    assert count(dst) == (0, 0) and list(images.iterdir()) == []


def test_export_errors_are_clear(tmp_path):
    s = fill(tmp_path / "a")
    with pytest.raises(StoreError, match="no conversation with id 999"):
        export(s, [999], "json", tmp_path / "x.json")
    with pytest.raises(StoreError, match="is a folder"):
        export(s, None, "json", tmp_path)
    assert importers.MAX_BYTES < 200 * 2**20


def test_a_json_export_too_big_to_import_again_says_so(tmp_path, monkeypatch):
    from chatapp.store import export as export_module
    s = fill(tmp_path / "a")
    monkeypatch.setattr(export_module, "MAX_BYTES", 1000)
    summary = export(s, None, "json", tmp_path / "big.json")
    assert "export fewer conversations per file" in summary.warning
    assert export(s, None, "html", tmp_path / "big.html").warning == ""


def test_lone_surrogates_in_a_file_import_as_replacement_characters(tmp_path):
    s = Storage(tmp_path / "db.sqlite3")
    doc = _ours([{"id": 1, "parent": None, "role": "user", "content": "bad \ud800 text", "meta": {"x": "\udfff"}}],
                title="t\ud800", system_prompt="p\ud800", origin={"source": "chatapp", "key": "k\ud800"})
    f = tmp_path / "s.json"
    f.write_text(json.dumps(doc))      # ASCII escapes: valid JSON, not valid UTF-8 once decoded
    assert import_file(s, f, tmp_path / "images").messages == 1
    conv = s.conversations()[0]
    for text in (conv.title, conv.system_prompt, s.branch(conv.id)[0].content):   # as the app cleans a paste
        assert "\ufffd" in text and "\ud800" not in text
    export(s, None, "json", tmp_path / "out.json")
    assert "\ufffd" in json.loads((tmp_path / "out.json").read_text())["conversations"][0]["title"]


def test_a_picture_deleted_outside_the_app_does_not_stop_an_export(tmp_path):
    s = fill(tmp_path / "a")
    for m in s.messages(s.conversations()[-1].id):
        if m.image_path:
            Path(m.image_path).unlink()
    for fmt in ("json", "md", "html"):
        summary = export(s, None, fmt, tmp_path / f"x.{fmt}")
        assert summary.pictures == 0 and summary.conversations == 2
    assert "picture not available" in (tmp_path / "x.md").read_text()
    assert "(no picture" in (tmp_path / "x.html").read_text()
    dst = Storage(tmp_path / "b.sqlite3")
    assert import_file(dst, tmp_path / "x.json", tmp_path / "img").messages == 10   # kept as text, no picture


def test_the_registry_is_what_export_the_cli_and_the_dialog_read(tmp_path, capsys):
    from chatapp import cli
    from chatapp.store import exporters
    s = fill(tmp_path / "a")
    with pytest.raises(StoreError, match="Unknown export format 'txt'; use one of html, md, json"):
        export(s, None, "txt", tmp_path / "x.txt")
    # A format added to the registry alone is written by export(), offered by the CLI and the save dialog.
    row = exporters.Exporter("Plain text", (".txt",), "export:to_markdown", "the branch shown as text")
    with exporters.EXPORTERS.registered("txt", row):
        assert export(s, None, "txt", tmp_path / "x.txt").conversations == 2
        assert "**You**" in (tmp_path / "x.txt").read_text()
        assert exporters.dialog_filters()["Plain text (*.txt)"] == "txt"
        assert exporters.for_path("notes.TXT") == "txt" and exporters.for_path("notes.html") == "html"
        choices = "{" + ",".join(exporters.EXPORTERS) + "}"
        with pytest.raises(SystemExit):
            cli.export_main(["--help"])
    out = capsys.readouterr().out
    assert choices.endswith(",txt}") and choices in out and "the branch shown as text" in out
