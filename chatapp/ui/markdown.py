"""Markdown -> Qt rich-text HTML: raw HTML shown as text, code highlighted with Pygments, copy links."""
from __future__ import annotations

import html

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

# Pygments style and code-block background for each colour scheme (ui/style.py switches them).
CODE_STYLES = {"light": ("friendly", "#f4f5f7"), "dark": ("github-dark", "#0d1117")}
CODE_STYLE, CODE_BG = CODE_STYLES["light"]
_FORMATTER = HtmlFormatter(nowrap=True, noclasses=True, style=CODE_STYLE)


def set_code_scheme(scheme: str) -> None:
    global _FORMATTER, CODE_STYLE, CODE_BG
    CODE_STYLE, CODE_BG = CODE_STYLES.get(scheme, CODE_STYLES["light"])
    _FORMATTER = HtmlFormatter(nowrap=True, noclasses=True, style=CODE_STYLE)


TABLE_OPEN = '<table border="1" cellspacing="0" cellpadding="5" style="border-color:#d0d7de; border-style:solid">'


def _fence(self, tokens, idx, options, env):
    token = tokens[idx]
    lang = token.info.strip().split()[0] if token.info.strip() else ""
    code = token.content.rstrip("\n")
    blocks = env.setdefault("code_blocks", [])
    blocks.append(code)
    try:
        lexer = get_lexer_by_name(lang) if lang else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    body = highlight(code, lexer, _FORMATTER).rstrip("\n")
    label = html.escape(lang or "code")
    # A table is the one block with a background that Qt's rich text draws reliably.
    return (f'<table width="100%" cellspacing="0" cellpadding="6" bgcolor="{CODE_BG}" class="code">'
            f'<tr><td><span style="color:#6b7280;font-size:small">{label}</span>'
            f'&nbsp;&nbsp;<a href="copy:{len(blocks) - 1}" style="font-size:small">Copy</a></td></tr>'
            f'<tr><td><pre style="margin:0">{body}</pre></td></tr></table>')


def _make() -> MarkdownIt:
    # html=False: tags in model output are escaped and shown as text, never interpreted.
    # Images are disabled: `![x](file:///...)` would make the view load a local or remote resource.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
    md.disable("image")
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _fence)
    return md


_MD = _make()


def render(text: str) -> tuple[str, list[str]]:
    """HTML for Qt's rich text, and the code blocks (for the Copy links `copy:N`)."""
    env: dict = {}
    # Qt draws no cell borders unless the table asks for them.
    body = _MD.render(text, env).replace("<table>", TABLE_OPEN)
    return body, env.get("code_blocks", [])


def plain_html(text: str) -> str:
    """Text shown exactly as typed (user messages): escaped, line breaks kept."""
    return html.escape(text).replace("\n", "<br>")
