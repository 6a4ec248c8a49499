"""Export: every branch as JSON, the shown branch as Markdown (pictures beside it) or as one self-contained HTML page."""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import time
from pathlib import Path
from urllib.parse import quote

from ..conversation import (Conversation, Message, is_tool_message, not_included_note, thinking_of, thought_title,
                            tool_calls)
from . import StoreError, Summary, user_pictures
from .exporters import exporter
from .html_render import Page, Shown, page
from .importers import MAX_BYTES

FORMAT_NAME = "chatapp"
VERSION = 1


def origin(storage, conv: Conversation) -> dict:
    """Where a conversation first came from: kept through every export/import, so re-importing adds nothing."""
    came = storage.import_origin(conv.id)
    if came:
        return {"source": came[0], "key": came[1]}
    return {"source": FORMAT_NAME, "key": native_key(conv.id, conv.created_at)}


def native_key(conversation_id: int, created_at: float) -> str:
    return f"{conversation_id}@{created_at!r}"


def _picture(m: Message) -> tuple[bytes, str] | None:
    """The PNG's bytes and its recipe, or None when the file is gone (deleted outside the app)."""
    if m.kind != "image" or not m.image_path:
        return None
    try:
        data = Path(m.image_path).read_bytes()
    except OSError:
        return None
    params = m.meta.get("parameters")
    if not params:
        from ..recipes.png import read_parameters
        try:
            params = read_parameters(m.image_path) or ""
        except Exception:  # an unreadable chunk is not worth failing an export for
            params = ""
    return data, params


def conversation_record(storage, conv: Conversation, summary: Summary) -> dict:
    """One conversation, the whole tree: each message names its parent."""
    messages = []
    for m in storage.messages(conv.id):
        pic, given = _picture(m), user_pictures.records(m)   # a picture drawn; pictures the user gave
        summary.pictures += bool(pic) + len(given)
        messages.append({
            "id": m.id, "parent": m.parent_id, "role": m.role, "content": m.content, "created": m.created_at,
            "kind": m.kind, "status": m.status, "meta": m.meta,
            "image": {"png_base64": base64.b64encode(pic[0]).decode("ascii"), "parameters": pic[1]} if pic else None,
            **({"pictures": given} if given else {}),
        })
    summary.conversations += 1
    summary.messages += len(messages)
    return {"id": conv.id, "title": conv.title, "created": conv.created_at, "updated": conv.updated_at,
            "system_prompt": conv.system_prompt, "current": conv.current_leaf, "origin": origin(storage, conv),
            "tools_off": conv.tools_off,
            "messages": messages}


def _write_atomically(out: Path, text: str) -> None:
    tmp = out.with_name(out.name + ".part")
    try:
        tmp.write_text(text, encoding="utf-8", errors="replace")   # a lone surrogate in old data becomes "?"
        os.replace(tmp, out)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _selected(storage, ids: list[int] | None) -> list[Conversation]:
    if ids is None:
        return sorted(storage.conversations(), key=lambda c: (c.created_at, c.id))   # oldest first
    convs = []
    for cid in ids:
        conv = storage.conversation(cid)
        if conv is None:
            raise StoreError(f"There is no conversation with id {cid}.")
        convs.append(conv)
    return convs


def to_json(storage, convs: list[Conversation], out: Path) -> Summary:
    summary = Summary()
    doc = {"format": FORMAT_NAME, "version": VERSION, "exported": time.time(),
           "conversations": [conversation_record(storage, c, summary) for c in convs]}
    _write_atomically(out, json.dumps(doc, ensure_ascii=False, indent=1))
    if out.stat().st_size > MAX_BYTES:
        summary.warning = (f"{out.name} is {out.stat().st_size / 2**20:.0f} MB, more than chatapp imports "
                           f"({MAX_BYTES // 2**20} MB); export fewer conversations per file to import them again.")
    return summary


def pretty_arguments(arguments) -> str:
    """A call's JSON arguments indented for reading (as written when they are not JSON)."""
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(arguments)


def tool_call(m: Message) -> dict | None:
    """A tool message as the readable exports show it: the tool, its arguments, its state."""
    if not is_tool_message(m):
        return None
    return {"name": str(m.meta.get("name") or "tool"), "arguments": pretty_arguments(m.meta.get("arguments", "")),
            "state": str(m.meta.get("state") or m.status), "source": str(m.meta.get("source") or "")}


def shown_text(m: Message) -> str:
    """A text message's content; an assistant turn that only called tools says which (its calls follow)."""
    if m.content or not tool_calls(m):
        return m.content
    return "*Calls " + ", ".join(f"`{c['function']['name']}`" for c in tool_calls(m)) + "*"


def _fenced(text: str, lang: str = "") -> str:
    fence = "`" * max(3, _longest_backticks(text) + 1)   # longer than any run inside: the block cannot end early
    return f"{fence}{lang}\n{text}\n{fence}"


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return longest


def _md_tool(head: str, call: dict, m: Message) -> str:
    source = f" ({call['source']})" if call["source"] not in ("", "builtin") else ""
    result = f"Result:\n\n{_fenced(m.content)}\n" if m.content else ""
    return f"{head}\n\n`{call['name']}`{source}, {call['state']}:\n\n{_fenced(call['arguments'], 'json')}\n\n{result}"


def _md_message(m: Message, files: Path | None, summary: Summary) -> str:
    who = {"user": "You", "assistant": "Assistant", "tool": "Tool call"}.get(m.role, "Note")
    head = f"**{who}** · {time.strftime('%Y-%m-%d %H:%M', time.localtime(m.created_at))}"
    if m.branch[1] > 1:
        head += f" · branch {m.branch[0]} of {m.branch[1]}"
    if m.status in ("stopped", "error", "cancelled"):
        head += f" · {m.status}"
    if not_included_note(m.meta):
        head += f" · {not_included_note(m.meta)}"
    call = tool_call(m)
    if call:
        return _md_tool(head, call, m)
    if m.kind != "image":
        return f"{head}\n\n{_md_thinking(m)}{shown_text(m)}\n{_md_given(m, files, summary)}"
    pic = _picture(m)
    if pic is None or files is None:
        return f"{head}\n\n*(picture not available)* {m.content}\n"
    files.mkdir(parents=True, exist_ok=True)
    name = f"{m.conversation_id}-{m.id}.png"
    shutil.copyfile(m.image_path, files / name)
    summary.pictures += 1
    alt = m.content.replace("[", "(").replace("]", ")").replace("\n", " ")
    recipe = "\n".join("    " + line for line in (pic[1] or m.content).splitlines())
    return f"{head}\n\n![{alt}]({quote(files.name)}/{quote(name)})\n\n{recipe}\n"


def _md_thinking(m: Message) -> str:
    """A reasoning model's thinking as a quote above the answer, named as the app names it."""
    thinking = thinking_of(m.meta)
    if not thinking:
        return ""
    quoted = "\n".join(f"> {line}".rstrip() for line in thinking.strip().splitlines())
    return f"> *{thought_title(m.meta.get('thought_s'))}*\n>\n{quoted}\n\n"


def _md_given(m: Message, files: Path | None, summary: Summary) -> str:
    """The pictures a user message carries, copied beside the file, each with its name under it."""
    lines = []
    for n, (entry, data, mime) in enumerate(user_pictures.shown(m) if files is not None else [], 1):
        name = user_pictures.file_name(m.conversation_id, m.id, n, mime)
        files.mkdir(parents=True, exist_ok=True)
        (files / name).write_bytes(data)
        summary.pictures += 1
        label = str(entry.get("name") or "picture").replace("[", "(").replace("]", ")").replace("\n", " ")
        lines.append(f"![{label}]({quote(files.name)}/{quote(name)})\n*{label}*\n")
    return "\n" + "\n".join(lines) if lines else ""


def to_markdown(storage, convs: list[Conversation], out: Path) -> Summary:
    """The shown branch of each conversation; pictures copied into a folder beside the file."""
    summary = Summary()
    files = out.with_name(out.stem + "_files")
    parts = []
    for conv in convs:
        branch = storage.branch(conv.id)
        parts.append(f"# {conv.title}\n\n*Started {time.strftime('%Y-%m-%d %H:%M', time.localtime(conv.created_at))}*\n")
        parts.extend(_md_message(m, files, summary) for m in branch)
        summary.conversations += 1
        summary.messages += len(branch)
    _write_atomically(out, "\n---\n\n".join(parts))
    return summary


def html_page(storage, convs: list[Conversation]) -> tuple[str, Summary]:
    """The shown branch of each conversation as one page, pictures inline: the HTML and the PDF exports' text."""
    from PIL import Image
    summary = Summary()
    pages = []
    for conv in convs:
        shown = []
        for m in storage.branch(conv.id):
            s = Shown(m.role, m.kind, m.status, m.content if m.kind != "text" else shown_text(m), m.created_at,
                      m.branch, note=not_included_note(m.meta), tool=tool_call(m), thinking=thinking_of(m.meta),
                      thinking_title=thought_title(m.meta.get("thought_s")),
                      given=[(str(e.get("name") or "picture"), data, mime) for e, data, mime in user_pictures.shown(m)])
            summary.pictures += len(s.given)
            pic = _picture(m)
            if pic:
                s.png, s.parameters = pic
                try:
                    with Image.open(io.BytesIO(s.png)) as im:
                        s.size = im.size
                except Exception:
                    s.size = None
                summary.pictures += 1
            shown.append(s)
        pages.append(Page(conv.title, conv.created_at, shown))
        summary.conversations += 1
        summary.messages += len(shown)
    title = pages[0].title if len(pages) == 1 else f"{len(pages)} conversations"
    return page(pages, title), summary


def to_html(storage, convs: list[Conversation], out: Path) -> Summary:
    """One file that opens offline in any browser: pictures inline, no script, nothing fetched."""
    text, summary = html_page(storage, convs)
    _write_atomically(out, text)
    return summary


def export(storage, ids: list[int] | None, fmt: str, out: Path) -> Summary:
    """Write conversations `ids` (None: all) to out in fmt, a key of exporters.EXPORTERS."""
    chosen = exporter(fmt)
    out = Path(out)
    if out.is_dir():
        raise StoreError(f"{out} is a folder; give a file name to write.")
    convs = _selected(storage, ids)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return chosen.write(storage, convs, out)
    except OSError as exc:
        raise StoreError(f"Could not write {out}: {exc.strerror or exc}") from exc
