"""One self-contained HTML page of conversations: the app's look, Pygments colours inline, no script, nothing fetched."""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from ..picture_bytes import data_urls

# Inline styles: the page needs no stylesheet from anywhere to show its colours.
_FORMATTER = HtmlFormatter(nowrap=True, noclasses=True, style="friendly")
_LINK_SCHEMES = ("http://", "https://", "mailto:")

# The browser itself refuses to load anything: no script, no remote picture, font or style.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"

# Colours and shapes from resources/style.qss, so an export looks like the app.
CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #ffffff; color: #1f2328; font: 15px/1.55 system-ui, -apple-system, "Segoe UI",
       Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 780px; margin: 0 auto; padding: 24px 16px 64px; }
header.conversation { border-bottom: 1px solid #e5e7eb; margin: 32px 0 16px; padding-bottom: 8px; }
header.conversation h1 { font-size: 22px; margin: 0 0 4px; }
.meta, .footer { color: #6b7280; font-size: 12px; }
.thinking { color: #6b7280; font-size: 14px; border-left: 2px solid #d0d7de; padding-left: 10px; margin-bottom: 8px; }
.thinking summary { cursor: pointer; font-size: 12px; }
nav.toc { background: #f6f7f9; border: 1px solid #e5e7eb; border-radius: 8px; padding: 8px 16px; }
.msg { margin: 14px 0; display: flex; flex-direction: column; }
.msg.user { align-items: flex-end; }
.bubble { padding: 10px 14px; overflow-wrap: anywhere; }
.user .bubble { background: #eef2ff; border-radius: 14px; max-width: 85%; white-space: pre-wrap; }
.assistant .bubble { background: transparent; width: 100%; }
.notice .bubble { background: #fff8e6; border: 1px solid #f5dfa6; border-radius: 10px; width: 100%; }
.image .bubble { background: #f8f9fb; border: 1px solid #eceef2; border-radius: 12px; }
.image img { display: block; max-width: 100%; height: auto; border-radius: 6px; }
.image img.small { image-rendering: pixelated; }
figure.given { display: inline-block; margin: 8px 8px 0 0; } figure.given img { max-width: 240px; max-height: 240px;
  border-radius: 6px; display: block; } figure.given figcaption { color: #4b5563; font-size: 12px; }
.recipe { color: #4b5563; font-style: italic; white-space: pre-wrap; margin: 8px 0 0; font-size: 13px; }
.error .bubble { border: 1px solid #f5c2c0; background: #fff5f5; border-radius: 10px; }
.tool .bubble { background: #f6f7f9; border: 1px solid #e5e7eb; border-radius: 10px; width: 100%; }
.toolhead { font-size: 13px; color: #4b5563; } .toolresult { white-space: pre-wrap; margin: 8px 0 0; }
.bubble p:first-child { margin-top: 0; } .bubble p:last-child { margin-bottom: 0; }
pre.code { background: #f4f5f7; border-radius: 8px; padding: 10px 12px; overflow-x: auto; font-size: 13px; }
.codelabel { color: #6b7280; font-size: 12px; margin-bottom: -6px; }
code { background: #f4f5f7; border-radius: 4px; padding: 0 3px; font-size: 90%; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; } th, td { border: 1px solid #d0d7de; padding: 5px; }
a { color: #4f46e5; }
"""


@dataclass
class Shown:
    """One message as the page shows it."""
    role: str
    kind: str
    status: str
    content: str
    created: float
    branch: tuple[int, int] = (1, 1)
    png: bytes | None = None
    size: tuple[int, int] | None = None
    parameters: str = ""
    note: str = ""          # e.g. pictures an imported export did not include
    tool: dict | None = None   # a tool call: name, arguments (indented JSON), state, source
    given: list = field(default_factory=list)   # a user message's pictures: (name, bytes, mime)
    thinking: str = ""      # a reasoning model's thinking before the answer
    thinking_title: str = ""


@dataclass
class Page:
    title: str
    created: float
    messages: list[Shown] = field(default_factory=list)


def _fence(self, tokens, idx, options, env):
    token = tokens[idx]
    lang = token.info.strip().split()[0] if token.info.strip() else ""
    try:
        lexer = get_lexer_by_name(lang) if lang else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    body = highlight(token.content.rstrip("\n"), lexer, _FORMATTER).rstrip("\n")
    label = f'<div class="codelabel">{html.escape(lang)}</div>' if lang else ""
    return f'{label}<pre class="code"><code>{body}</code></pre>\n'


def _link_open(self, tokens, idx, options, env):
    # Only links a reader chooses to follow: http(s) and mail. Anything else (relative, file:,
    # data:) loses its href and stays as text, so opening the page never reaches for a file.
    token = tokens[idx]
    href = token.attrGet("href") or ""
    if not href.lower().startswith(_LINK_SCHEMES):
        token.attrs.pop("href", None)
        return "<span>"
    token.attrSet("rel", "noopener noreferrer nofollow")
    return self.renderToken(tokens, idx, options, env)


def _link_close(self, tokens, idx, options, env):
    opener = next((t for t in reversed(tokens[:idx]) if t.type == "link_open"), None)
    return "</a>" if opener is not None and opener.attrGet("href") else "</span>"


def _make() -> MarkdownIt:
    # html=False: tags in a reply are shown as text; images off: `![x](http://...)` must not load.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
    md.disable("image")
    for name, rule in (("fence", _fence), ("code_block", _fence), ("link_open", _link_open),
                       ("link_close", _link_close)):
        md.add_render_rule(name, rule)
    return md


_MD = _make()


def render_markdown(text: str) -> str:
    return _MD.render(text)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _tool(m: Shown) -> str:
    """A tool call: the tool and its state, its arguments as highlighted JSON, its result as plain text."""
    call = m.tool
    source = f" ({html.escape(call['source'])})" if call["source"] not in ("", "builtin") else ""
    args = highlight(call["arguments"], get_lexer_by_name("json"), _FORMATTER).rstrip("\n")
    result = f'<div class="toolresult">{html.escape(m.content)}</div>' if m.content else ""
    return (f'<div class="toolhead">Tool <b>{html.escape(call["name"])}</b>{source} · {html.escape(call["state"])}'
            f'</div><pre class="code"><code>{args}</code></pre>{result}')


def _given(name: str, data: bytes, mime: str) -> str:
    """A picture the user gave: a thumbnail (the picture itself, shown small) and its name."""
    label = html.escape(name, quote=True)
    return (f'<figure class="given"><img src="{data_urls.encode(data, mime)}" '
            f'alt="{label}"><figcaption>{label}</figcaption></figure>')


def _message(m: Shown) -> str:
    who = {"user": "You", "assistant": "Assistant", "tool": "Tool call"}.get(m.role, "Note")
    classes = [m.role if m.role in ("user", "assistant", "tool") else "notice"]
    if m.kind == "image":
        classes.append("image")
    if m.status == "error":
        classes.append("error")
    if m.kind == "image" and m.png is not None:
        small = m.size is not None and max(m.size) < 256
        width = f' width="{256 if small else m.size[0]}"' if m.size else ""
        cls = ' class="small"' if small else ""
        body = (f'<img src="{data_urls.encode(m.png, "image/png")}" alt="{html.escape(m.content, quote=True)}"'
                f'{width}{cls}>'
                f'<p class="recipe">{html.escape(m.parameters or m.content)}</p>')
    elif m.tool is not None:
        body = _tool(m)
    elif m.kind == "image":
        body = f'<p class="recipe">{html.escape(m.content)}</p><p class="meta">(no picture: {html.escape(m.status)})</p>'
    elif m.role == "user":
        body = html.escape(m.content) + "".join(_given(*g) for g in m.given)   # shown exactly as typed, as in the app
    else:
        body = render_markdown(m.content)
    if m.thinking:   # closed, as the app shows it; a reader opens it
        body = (f'<details class="thinking"><summary>{html.escape(m.thinking_title)}</summary>'
                f'{render_markdown(m.thinking)}</details>{body}')
    notes = [who, _when(m.created)]
    if m.branch[1] > 1:
        notes.append(f"branch {m.branch[0]} of {m.branch[1]}")
    if m.status in ("stopped", "error", "cancelled"):
        notes.append(m.status)
    if m.note:
        notes.append(m.note)
    return (f'<section class="msg {" ".join(classes)}"><div class="bubble">{body}</div>'
            f'<div class="footer">{html.escape(" · ".join(notes))}</div></section>')


def page(pages: list[Page], title: str) -> str:
    """The whole document; every picture inline as a data: URI."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<meta name="referrer" content="no-referrer">',
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>"]
    if len(pages) > 1:
        items = "".join(f'<li><a href="#c{n}">{html.escape(p.title)}</a></li>' for n, p in enumerate(pages, 1))
        parts.append(f'<nav class="toc"><p>{len(pages)} conversations</p><ol>{items}</ol></nav>')
    for n, p in enumerate(pages, 1):
        parts.append(f'<header class="conversation" id="c{n}"><h1>{html.escape(p.title)}</h1>'
                     f'<div class="meta">Started {_when(p.created)} · {len(p.messages)} messages shown</div></header>')
        parts.extend(_message(m) for m in p.messages)
    parts.append(f'<p class="meta">Exported from chatapp on {_when(time.time())}.</p></main></body></html>')
    return "\n".join(parts)
