"""Markdown -> Qt rich-text HTML: raw HTML shown as text, code highlighted with Pygments, copy links."""
from __future__ import annotations

import html
import re
import threading
from collections import OrderedDict

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
# Whatever the model writes, laying the result out must stay cheap on the GUI thread. Qt lays out
# rich-text table cells, list items and code blocks at ~0.1 ms each (a 300-column table blocked it
# 4.5 s): past this many, or nested past DEEPEST, a reply is shown as plain text, all of it.
LAYOUT_BUDGET = 500
WIDEST = 24                # table columns
MAX_NESTING = 64           # markdown-it's own limit (20) silently dropped the rest of a reply
DEEPEST = MAX_NESTING - 8  # token levels (a nested list adds two per level)
LONG_RUN = 1000            # wrapping a paragraph with no space in 20,000 characters took 0.3 s
MOST_BRACKETS = 1000       # markdown-it's link parsing: ~40 us per "[", 0.4 s for 10,000 with the GIL held
_BLOCK_COST = {"td_open": 1, "th_open": 1, "list_item_open": 1, "fence": 2, "code_block": 2, "blockquote_open": 1}
# Qt indents each list level by 40 px and each quote by 40 px on both sides, without limit: past
# ~18 list levels (11 at 800 px) or 20 quotes the text had no width left and was not drawn at
# all. Deeper levels are indented no further: every character stays visible at any window width.
LIST_LEVELS_SHOWN = 5      # list levels indented (Qt's -qt-list-indent, 40 px each)
QUOTE_LEVELS_SHOWN = 6     # quote levels indented, QUOTE_STEP px each, on the left only
QUOTE_STEP = 14
# QLabel wraps rich text at spaces only: a longer run without one (a URL, a hash, a code line)
# ran past the label's right edge, unseen. Where it is shown, such a run gets an invisible break
# point (U+200B) every RUN_BREAK characters; what Copy copies (the message, a code block) is the
# text as written. Linear: at most RUN_BREAK steps per character; an entity counts as one.
RUN_BREAK = 32
_RUN = re.compile(r"\S{%d}(?=\S)" % RUN_BREAK)
_TEXT_NODE = re.compile(r">([^<]+)")
_HTML_RUN = re.compile(r"(?:&#?\w{1,8};|[^\s&]){%d}(?=[^\s<])" % RUN_BREAK)
PLAIN_NOTE = ('<p style="color:#6b7280;font-size:small">Shown as plain text: it has more {what} than can be '
              'laid out quickly.</p>')


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
            f'<tr><td><pre style="margin:0; white-space:pre-wrap">{body}</pre></td></tr></table>')


def _make() -> MarkdownIt:
    # html=False: tags in model output are escaped and shown as text, never interpreted.
    # Images are disabled: `![x](file:///...)` would make the view load a local or remote resource.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "maxNesting": MAX_NESTING}).enable(
        ["table", "strikethrough"])
    md.disable("image")
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _fence)
    return md


_MD = _make()


def _too_complex(tokens) -> str | None:
    """What makes these tokens too costly to lay out as rich text (None when they are fine)."""
    cost = widest = cells = deepest = 0
    for t in tokens:
        cost += _BLOCK_COST.get(t.type, 0)
        deepest = max(deepest, t.level)
        if t.type == "tr_open":
            cells = 0
        elif t.type in ("td_open", "th_open"):
            cells += 1
            widest = max(widest, cells)
    if deepest >= DEEPEST:
        return "levels of nesting"
    if widest > WIDEST:
        return "table columns"
    if cost > LAYOUT_BUDGET:
        return "table cells, list items or code blocks"
    return None


def breakable(text: str) -> str:
    """text with a zero-width space after every RUN_BREAK characters of a longer run without spaces."""
    return _RUN.sub(lambda m: m.group(0) + "\u200b", text)


def wrappable(body: str) -> str:
    """HTML (as render() makes it) whose text nodes' long runs may wrap; tags are left as they are."""
    return _TEXT_NODE.sub(lambda m: ">" + _HTML_RUN.sub(lambda r: r.group(0) + "\u200b", m.group(1)), body)


def _cap_indents(tokens) -> None:
    """Indent lists and quotes with absolute, capped values instead of Qt's unbounded sums."""
    lists = quotes = 0
    for t in tokens:
        if t.type in ("bullet_list_open", "ordered_list_open"):
            lists += 1
            if lists > LIST_LEVELS_SHOWN:   # up to there, Qt's own indent is the same
                t.attrSet("style", f"-qt-list-indent: {LIST_LEVELS_SHOWN}")
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            lists -= 1
        elif t.type == "blockquote_open":
            quotes += 1
            step = QUOTE_STEP if quotes <= QUOTE_LEVELS_SHOWN else 0   # Qt adds each quote's margin to its parents'
            t.attrSet("style", f"margin-left: {step}px; margin-right: 0px")
        elif t.type == "blockquote_close":
            quotes -= 1


def plain_block(text: str, note: str = "") -> str:
    """Text as written, spaces and line breaks kept, wrapped: cheap for Qt at any structure."""
    return f'{note}<div style="white-space:pre-wrap">{html.escape(text)}</div>'


def render(text: str, remember: bool = True) -> tuple[str, list[str]]:
    """HTML for Qt's rich text, and the code blocks (for the Copy links `copy:N`).

    Pure Python and thread-safe: long texts are rendered on the thread pool. Finished texts are
    cached (remember), so reopening a conversation does not pay again; streaming prefixes are not.
    """
    hit = cached(text)
    if hit is not None:
        return hit
    if text.count("[") > MOST_BRACKETS:   # decided before parsing: the parse itself is the cost
        result = plain_block(text, PLAIN_NOTE.format(what="brackets")), []
        if remember:
            _remember(text, result)
        return result
    env: dict = {}
    tokens = _MD.parse(text, env)
    why = _too_complex(tokens)
    if not why and max(map(len, text.split()), default=0) >= LONG_RUN:
        why = "characters in a row without a space"   # Qt's word wrapping is slow on those
    if why:
        result = plain_block(text, PLAIN_NOTE.format(what=why)), []
    else:
        _cap_indents(tokens)
        # Qt draws no cell borders unless the table asks for them.
        body = _MD.renderer.render(tokens, _MD.options, env).replace("<table>", TABLE_OPEN)
        result = body, env.get("code_blocks", [])
    if remember:
        _remember(text, result)
    return result


_CACHE: OrderedDict[str, tuple[str, list[str]]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_CHARS = 8_000_000    # HTML kept, in characters, least recently used dropped first


def cached(text: str) -> tuple[str, list[str]] | None:
    with _CACHE_LOCK:
        hit = _CACHE.get(text)
        if hit is not None:
            _CACHE.move_to_end(text)
        return hit


_cache_chars = 0


def _remember(text: str, result: tuple[str, list[str]]) -> None:
    global _cache_chars
    with _CACHE_LOCK:
        if text in _CACHE:
            return
        _CACHE[text] = result
        _cache_chars += len(text) + len(result[0])
        while _cache_chars > CACHE_CHARS and len(_CACHE) > 1:
            k, v = _CACHE.popitem(last=False)
            _cache_chars -= len(k) + len(v[0])


def plain_html(text: str) -> str:
    """Text shown exactly as typed (user messages): escaped, line breaks kept."""
    return html.escape(breakable(text)).replace("\n", "<br>")


class StreamSplit:
    """Where a streaming reply's finished blocks end: the text before that point no longer changes
    its rendering (much), so only the unfinished tail is rendered and laid out again per update.

    A boundary is a blank line outside a code fence, or a closing fence, followed by a line that
    starts a new block (not indented: an indented line may continue a list item or be indented code). Scanning is
    incremental: each call looks only at lines it has not seen.
    """

    def __init__(self):
        self.settled = 0      # text[:settled] is finished blocks
        self._pos = 0         # start of the first line not yet scanned
        self._fence = ""      # the open fence's marker (``` or ~~~, maybe longer), "" outside one
        self._blank_after = -1   # end of the last blank line seen outside a fence, waiting for its next line

    def feed(self, text: str) -> int:
        while True:
            end = text.find("\n", self._pos)
            if end < 0:
                break
            line = text[self._pos:end]
            start, self._pos = self._pos, end + 1
            self._line(line, start)
        # The next block's first line may still be arriving; its first character is enough.
        if self._blank_after >= 0 and self._pos < len(text) and text[self._pos] not in " \t\n":
            self.settled, self._blank_after = self._pos, -1
        return self.settled

    def _line(self, line: str, start: int) -> None:
        stripped = line.lstrip(" ")
        if self._fence:
            if stripped.startswith(self._fence) and not stripped.strip(self._fence[0]).strip():
                self._fence = ""
                self._blank_after = start + len(line) + 1   # a closed fence ends its block, blank line or not
            return
        if not line.strip():
            self._blank_after = start + len(line) + 1
            return
        if self._blank_after >= 0 and line[0] not in " \t":
            self.settled = start
        self._blank_after = -1
        if len(line) - len(stripped) < 4 and stripped[:3] in ("```", "~~~"):
            marker = stripped[0]
            self._fence = marker * (len(stripped) - len(stripped.lstrip(marker)))
