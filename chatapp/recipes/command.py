"""/image's text: a request written as the command that reads back as exactly it, and the prompt split from the flags."""
from __future__ import annotations

import re
import shlex

from .request import DEFAULT_STRENGTH, MAX_PROMPT_CHARS, ImageRequest

MAX_COMMAND_CHARS = 2 * MAX_PROMPT_CHARS + 1000   # a prompt, a negative prompt and the flags
_FLAG = re.compile(r"(^|\s)--\w")                 # constant width at each start: linear time


def split_prompt(args_text: str) -> tuple[str, str]:
    """(prompt, flags) of /image's text. The prompt is everything before the first flag, taken verbatim
    so apostrophes just work; or, when it opens with a quote, one shell-quoted word (what image_command
    writes), so "--ar 16:9" inside it stays prompt text."""
    text = args_text.lstrip()
    if text[:1] in ("'", '"'):
        lexer = shlex.shlex(text, posix=True)
        lexer.whitespace_split, lexer.commenters = True, ""
        try:
            word = lexer.get_token()
        except ValueError:   # no closing quote: an apostrophe, read verbatim below
            word = None
        rest = text[lexer.instream.tell():]
        if word is not None and (not rest.strip() or _FLAG.match(rest.lstrip())):
            return word, rest
    m = _FLAG.search(args_text)
    raw_prompt = (args_text[:m.start()] if m else args_text).strip()
    if len(raw_prompt) > 1 and raw_prompt[0] == raw_prompt[-1] and raw_prompt[0] in "\"'":
        raw_prompt = raw_prompt[1:-1]  # a wholly quoted prompt: drop the quotes, keep inner ones
    return raw_prompt, args_text[m.start():] if m else ""


def _flag(flag: str, value) -> str:
    """One flag with its value as a single shell word: a value that starts with "-" is joined with "="
    (argparse would take "-blurry" or "--steps=5 x" alone for a flag), so text never becomes a flag."""
    text = str(value)
    return f"{flag}={shlex.quote(text)}" if text.startswith("-") else f"{flag} {shlex.quote(text)}"


def prompt_word(prompt: str) -> str:
    """A prompt as /image's first word: as it is when the parser reads it back unchanged, else shell-quoted."""
    return prompt if split_prompt(prompt) == (prompt, "") else shlex.quote(prompt)


def image_command(req: ImageRequest) -> str:
    """The /image command that parse_input reads back as exactly `req` (prompt, negative, every field).

    Text that came from a user or a file is quoted wherever the parser would read it otherwise: a
    dropped recipe's "--ar 16:9" or "--init /etc/passwd" stays prompt text; only fields become flags.
    """
    parts = ["/image", prompt_word(req.prompt)]
    if req.negative:
        parts.append(_flag("--negative", req.negative))
    for flag, value in (("--steps", req.steps), ("--cfg", req.cfg), ("--seed", req.seed),
                        ("--scheduler", req.scheduler)):
        if value is not None:
            parts.append(_flag(flag, value))
    if req.width and req.height:
        parts.append(f"--size {int(req.width)}x{int(req.height)}")
    if req.count != 1:
        parts.append(f"--n {int(req.count)}")
    if req.init:   # an edit: the source picture, how much changes, and where
        parts += [_flag("--init", req.init), _flag("--strength", req.strength if req.strength is not None
                                                   else DEFAULT_STRENGTH)]
        if req.mask:
            parts.append(_flag("--mask", req.mask))
    parts += [_flag("--lora", f"{x[0]}:{float(x[1]):g}") for x in req.loras]   # one per LoRA
    return " ".join(parts)
