"""User input -> ChatTurn or a registered command's request (COMMANDS: /image, /attach, /library, /loras, /help) or CommandError; no Qt, no ML."""
from __future__ import annotations

import argparse
import os
import re
import shlex
from dataclasses import dataclass
from itertools import islice
from typing import Callable
from urllib.parse import unquote

from .conversation import ImageRequest
from .documents.readers import kinds_label
from .engines.lora import MAX_LORAS, parse_weight, split_tags
from .engines.schedulers import SCHEDULERS
from .registry import Registry

MAX_STEPS = 150
MAX_COUNT = 8
MAX_SEED = 2**64
# A prompt's limit, and its negative's. The models read 77 tokens (about 300 characters of English) and
# drop the rest, so 4,000 is over ten times what any of them uses, room for A1111-style prompts full of
# weights and tags. It is checked before any pattern sees the text: a typed or dropped prompt of
# 120,000 characters used to hold the window 24 s.
MAX_PROMPT_CHARS = 4000
MAX_COMMAND_CHARS = 2 * MAX_PROMPT_CHARS + 1000   # a prompt, a negative prompt and the flags
_FLAG = re.compile(r"(^|\s)--\w")                 # constant width at each start: linear time


@dataclass
class ChatTurn:
    text: str


@dataclass
class HelpRequest:
    pass


@dataclass
class AttachRequest:
    paths: list[str]


@dataclass
class LibraryRequest:
    enabled: bool | None   # None: just say whether it is on


@dataclass
class LorasRequest:   # /loras: list the LoRA folder
    pass


class CommandError(Exception):
    """Bad input; the message says what to fix."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print and exit the whole app
        raise CommandError(message[0].upper() + message[1:] + ".")


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX*](\d+)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"size must look like 512x512, not {text!r}")
    return int(m[1]), int(m[2])


def _image_parser() -> _Parser:
    p = _Parser(prog="/image", add_help=False, allow_abbrev=False, exit_on_error=False)
    p.add_argument("prompt", nargs="*")
    p.add_argument("--negative", default="", metavar="TEXT", help="what the picture should not show")
    p.add_argument("--steps", type=int, metavar="N", help=f"denoising steps, 1-{MAX_STEPS}")
    p.add_argument("--cfg", type=float, metavar="F", help="guidance scale: how closely to follow the prompt, 0-30")
    p.add_argument("--seed", type=int, metavar="N", help="same seed and recipe give the same picture")
    p.add_argument("--size", type=_size, metavar="WxH", help="width x height in pixels, multiples of 8")
    p.add_argument("--scheduler", metavar="NAME", help="one of: " + ", ".join(SCHEDULERS))
    p.add_argument("--n", type=int, default=1, metavar="COUNT", help=f"how many pictures, 1-{MAX_COUNT}")
    p.add_argument("--init", metavar="#N|last|PATH", help="edit a picture: #N of this chat, the last one, or a file")
    p.add_argument("--strength", type=float, metavar="F", help="with --init: how much is redrawn, 0-1 (default 0.75)")
    p.add_argument("--mask", metavar="PATH", help="with --init: a PNG of the same size, white where it is repainted")
    p.add_argument("--lora", action="append", default=[], metavar="NAME[:WEIGHT]",
                   help="apply a LoRA from the LoRA folder (/loras lists them), weight -2 to 2, default 1; "
                        "repeatable; `<lora:NAME:WEIGHT>` in the prompt does the same")
    return p


IMAGE_PARSER = _image_parser()


def help_text() -> str:
    """/help: one line per registered command, then /image's flags (read from its parser)."""
    flags = "\n".join(f"- `{' '.join(a.option_strings)} {a.metavar}`: {a.help}"
                      for a in IMAGE_PARSER._actions if a.option_strings)
    lines = "\n".join(f"- `{c.usage}`: {c.about() if callable(c.about) else c.about}" for c in COMMANDS.values())
    return ("**Commands**\n\n"
            "- Any text: ask the language model.\n"
            f"{lines}\n\n"
            f"**`/image` flags**\n\n{flags}\n\n"
            "Example: `/image a red circle on a blue background --steps 20 --seed 7`")


def too_long(what: str, length: int) -> str:
    """The message for a prompt over MAX_PROMPT_CHARS (the parser's and a dropped recipe's)."""
    return (f"{what} is {length:,} characters long; /image takes at most {MAX_PROMPT_CHARS:,} for a prompt and "
            f"as many for its negative. The model reads only the first 77 tokens (about 300 characters).")


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


def parse_image(args_text: str, max_side: int = 2048) -> ImageRequest:
    if len(args_text) > MAX_COMMAND_CHARS:   # before any pattern or the shell-word reader sees it
        raise CommandError(too_long("This /image", len(args_text)))
    raw_prompt, rest = split_prompt(args_text)
    try:
        tokens = shlex.split(rest)
    except ValueError as exc:
        raise CommandError(f"Could not read the flags: {exc}. Put quotes around text with spaces.") from exc
    try:
        ns = IMAGE_PARSER.parse_args(tokens)
    except argparse.ArgumentError as exc:
        raise CommandError(f"{exc}.") from exc
    prompt = " ".join([raw_prompt.strip(), *ns.prompt]).strip()
    if not prompt:
        raise CommandError("The picture needs a description: /image a red circle on a blue background")
    for what, text in (("The prompt", prompt), ("The negative prompt", ns.negative)):
        if len(text) > MAX_PROMPT_CHARS:
            raise CommandError(too_long(what, len(text)))
    if ns.steps is not None and not 1 <= ns.steps <= MAX_STEPS:
        raise CommandError(f"--steps must be between 1 and {MAX_STEPS}, not {ns.steps}.")
    if ns.cfg is not None and not 0 <= ns.cfg <= 30:
        raise CommandError(f"--cfg must be between 0 and 30, not {ns.cfg}.")
    if ns.seed is not None and not 0 <= ns.seed < MAX_SEED:   # 64-bit, as ComfyUI's: torch's generator takes them
        raise CommandError(f"--seed must be between 0 and {MAX_SEED - 1}.")
    if not 1 <= ns.n <= MAX_COUNT:
        raise CommandError(f"--n must be between 1 and {MAX_COUNT}, not {ns.n}.")
    width = height = None
    if ns.size:
        width, height = ns.size
        if width % 8 or height % 8 or width <= 0 or height <= 0:
            raise CommandError(f"--size must be a multiple of 8 on each side, e.g. 512x512 (got {width}x{height}).")
        if width > max_side or height > max_side:
            raise CommandError(f"--size {width}x{height} is larger than this model allows ({max_side}x{max_side}).")
    scheduler = ns.scheduler.lower() if ns.scheduler else None
    if scheduler and scheduler not in SCHEDULERS:
        raise CommandError(f"Unknown scheduler {ns.scheduler!r}. Choose one of: {', '.join(SCHEDULERS)}.")
    text, loras = parse_loras(prompt, ns.lora)
    request = ImageRequest(prompt=text, negative=ns.negative, steps=ns.steps, cfg=ns.cfg, seed=ns.seed, width=width,
                           height=height, scheduler=scheduler, count=ns.n, loras=loras)
    return edit_flags(request, ns)


def parse_loras(prompt: str, flags: list[str]) -> tuple[str, list[tuple[str, float]]]:
    """--lora NAME[:WEIGHT] flags and <lora:NAME:WEIGHT> tags -> (prompt without the tags, [(name, weight)])."""
    text, tags = split_tags(prompt)
    pairs = tags + [(v.rpartition(":")[0], v.rpartition(":")[2]) if ":" in v else (v, "") for v in flags]
    try:
        loras = [(name.strip(), parse_weight(name.strip(), weight.strip())) for name, weight in pairs]
    except ValueError as exc:
        raise CommandError(str(exc)[0].upper() + str(exc)[1:] + ".") from None
    if len(loras) > MAX_LORAS:
        raise CommandError(f"At most {MAX_LORAS} LoRAs at once, not {len(loras)}.")
    if tags and not text:
        raise CommandError("The picture needs a description besides its LoRAs: /image a red circle <lora:NAME:0.8>")
    return text, loras


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


DEFAULT_STRENGTH = 0.75   # AUTOMATIC1111's default denoising strength


def edit_flags(request: ImageRequest, ns) -> ImageRequest:
    """--init / --strength / --mask: checked here as far as text allows; the files are checked later."""
    if ns.strength is not None and not 0.0 <= ns.strength <= 1.0:
        raise CommandError(f"--strength must be between 0 and 1, not {ns.strength:g}.")
    if (ns.strength is not None or ns.mask) and not ns.init:
        raise CommandError("--strength and --mask need a picture to edit: add --init #N, --init last or --init PATH.")
    if ns.init:
        init = ns.init.strip()
        if init.startswith("#") and not init[1:].isdigit():
            raise CommandError(f"--init {init} is not a picture number; pictures are numbered #1, #2, ... in the chat.")
        request.init = "last" if init.lower() == "last" else init if init.startswith("#") else os.path.expanduser(init)
        request.strength = DEFAULT_STRENGTH if ns.strength is None else ns.strength
        request.mask = os.path.expanduser(ns.mask) if ns.mask else None
    return request


def parse_attach(args_text: str) -> AttachRequest:
    try:
        paths = shlex.split(args_text)   # quotes keep paths with spaces together
    except ValueError as exc:
        raise CommandError(f"Could not read the paths: {exc}. Put quotes around paths with spaces.") from exc
    if not paths:
        raise CommandError("Name the files to attach: /attach ~/notes.md \"~/My Documents/report.pdf\"")
    return AttachRequest([os.path.expanduser(p) for p in paths])


def parse_library(args_text: str) -> LibraryRequest:
    word = args_text.strip().lower()
    if word in ("", "status"):
        return LibraryRequest(None)
    if word in ("on", "off"):
        return LibraryRequest(word == "on")
    raise CommandError(f"/library takes on or off, not {args_text.strip()!r}.")


def pasted_paths(text: str) -> list[str]:
    """A message that is nothing but paths of existing files (pasted from a file manager) attaches them."""
    # At most 21 lines are looked at: a paste of 100,000 lines must not cost a pass over all of them.
    lines = list(islice((line.strip().strip("'\"") for line in text.splitlines() if line.strip()), 21))
    if not 0 < len(lines) <= 20:
        return []
    paths = [unquote(line[7:]) if line.startswith("file://") else os.path.expanduser(line) for line in lines]
    if all(os.path.isabs(p) and os.path.isfile(p) for p in paths):
        return paths
    return []


@dataclass(frozen=True)
class Command:
    """A chat command: /help lists it, parse_input sends its text (after the name) to parse."""
    usage: str                                # how /help shows it
    about: str | Callable[[], str]            # what it does, for /help (a callable: read when /help is asked)
    parse: Callable[[str, int], object]       # (text after the name, the image model's largest side) -> a request


# The name is what the user types ("/image", any case); the order is /help's.
COMMANDS: Registry[Command] = Registry("chat command")
COMMANDS.register("/image", Command("/image <prompt> [flags]", "draw a picture in this conversation.", parse_image))
COMMANDS.register("/attach", Command("/attach PATH...", lambda: f"attach files to this chat ({kinds_label()}); answers "
                                     "then draw on them and cite them.", lambda rest, _side: parse_attach(rest)))
COMMANDS.register("/library", Command("/library on|off", "use the library folder (Settings) in this chat, or not.",
                                      lambda rest, _side: parse_library(rest)))
COMMANDS.register("/loras", Command("/loras", "the LoRAs in the LoRA folder (Settings), with each one's base model.",
                                    lambda _rest, _side: LorasRequest()))
COMMANDS.register("/help", Command("/help", "this list.", lambda _rest, _side: HelpRequest()))


def parse_input(text: str, max_image_side: int = 2048) -> ChatTurn | ImageRequest | HelpRequest | AttachRequest | LibraryRequest | LorasRequest:
    """Decide what the user asked for. Raises CommandError for a bad command."""
    stripped = text.strip()
    if not stripped:
        raise CommandError("Type a message first.")
    pasted = pasted_paths(stripped)
    if pasted:
        return AttachRequest(pasted)
    if not stripped.startswith("/") or stripped.startswith("//"):
        return ChatTurn(text)
    name, _, rest = stripped.partition(" ")
    command = COMMANDS.get(name.lower())
    if command is None:
        raise CommandError(f"Unknown command {name.lower()}. Type /help to see the commands.")
    return command.parse(rest, max_image_side)
