"""User input -> ChatTurn or a registered command (COMMANDS: /image, /attach, /library, /loras, /help) with its request, which the command runs through the session's public doors (CommandHost); CommandError for a mistake; no Qt, no ML; /image's checks are the recipe's (recipes/request.py)."""
from __future__ import annotations

import argparse
import os
import re
import shlex
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Protocol
from urllib.parse import unquote

from .documents.readers import kinds_label
from .recipes import RecipeError
from .recipes.command import MAX_COMMAND_CHARS, split_prompt
from .recipes.request import (DEFAULT_STRENGTH, MAX_CFG, MAX_COUNT, MAX_STEPS, ImageRequest, ModelLimits,
                              prompt_and_loras, too_long)
from .recipes.samplers import SCHEDULER_NAMES
from .registry import Registry


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
    p.add_argument("--cfg", type=float, metavar="F", help=f"guidance scale: how closely to follow the prompt, 0-{MAX_CFG:g}")
    p.add_argument("--seed", type=int, metavar="N", help="same seed and recipe give the same picture")
    p.add_argument("--size", type=_size, metavar="WxH", help="width x height in pixels, multiples of 8")
    p.add_argument("--scheduler", metavar="NAME", help="one of: " + ", ".join(SCHEDULER_NAMES))
    p.add_argument("--n", type=int, default=1, metavar="COUNT", help=f"how many pictures, 1-{MAX_COUNT}")
    p.add_argument("--init", metavar="#N|last|PATH", help="edit a picture: #N of this chat, the last one, or a file")
    p.add_argument("--strength", type=float, metavar="F", help=f"with --init: how much is redrawn, 0-1 (default {DEFAULT_STRENGTH:g})")
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


def parse_image(args_text: str, limits: ModelLimits | None = None) -> ImageRequest:
    """/image's text -> a request checked against the model's limits (generic ones before it loads)."""
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
    init = ns.init.strip() if ns.init else None
    try:
        text, loras = prompt_and_loras(prompt, ns.negative, ns.lora)
        return ImageRequest.from_fields(
            prompt=text, negative=ns.negative, steps=ns.steps, cfg=ns.cfg, seed=ns.seed,
            width=ns.size[0] if ns.size else None, height=ns.size[1] if ns.size else None,
            scheduler=ns.scheduler.lower() if ns.scheduler else None, count=ns.n, loras=loras,
            init=_init(init), mask=os.path.expanduser(ns.mask) if ns.mask and init else ns.mask,
            strength=DEFAULT_STRENGTH if init and ns.strength is None else ns.strength, limits=limits)
    except RecipeError as exc:
        raise CommandError(str(exc)) from None


def _init(init: str | None) -> str | None:
    """--init: "last", "#N" as typed (checked by the recipe), else a path."""
    if not init:
        return None
    return "last" if init.lower() == "last" else init if init.startswith("#") else os.path.expanduser(init)


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


class CommandHost(Protocol):
    """What a chat command may ask of the session (ChatSession's public doors); each returns whether the input
    was accepted (the message box then clears)."""
    def submit_image(self, request: ImageRequest, command: str | None = None, checked: bool = False) -> bool: ...
    def attach_paths(self, request: AttachRequest) -> bool: ...
    def use_library(self, request: LibraryRequest) -> bool: ...
    def show_loras(self) -> bool: ...
    def show_help(self) -> bool: ...


@dataclass(frozen=True)
class Command:
    """A chat command: /help lists it, read_input sends its text (after the name) to parse, the session calls run."""
    usage: str                                # how /help shows it
    about: str | Callable[[], str]            # what it does, for /help (a callable: read when /help is asked)
    parse: Callable[[str, ModelLimits | None], object]   # (text after the name, the image model's limits) -> a request
    run: Callable[[CommandHost, object, str], bool]      # (the session, the request, the line as typed) -> accepted


# The name is what the user types ("/image", any case); the order is /help's.
COMMANDS: Registry[Command] = Registry("chat command")
COMMANDS.register("/image", Command("/image <prompt> [flags]", "draw a picture in this conversation.", parse_image,
                                    lambda host, request, typed: host.submit_image(request, typed.strip())))
COMMANDS.register("/attach", Command("/attach PATH...", lambda: f"attach files to this chat ({kinds_label()}); answers "
                                     "then draw on them and cite them; a picture (PNG, JPEG, ...) joins your next "
                                     "message instead.", lambda rest, _limits: parse_attach(rest),
                                     lambda host, request, _typed: host.attach_paths(request)))
COMMANDS.register("/library", Command("/library on|off", "use the library folder (Settings) in this chat, or not.",
                                      lambda rest, _limits: parse_library(rest),
                                      lambda host, request, _typed: host.use_library(request)))
COMMANDS.register("/loras", Command("/loras", "the LoRAs in the LoRA folder (Settings), with each one's base model.",
                                    lambda _rest, _limits: LorasRequest(), lambda host, _request, _typed: host.show_loras()))
COMMANDS.register("/help", Command("/help", "this list.", lambda _rest, _limits: HelpRequest(),
                                   lambda host, _request, _typed: host.show_help()))


def read_input(text: str, image_limits: ModelLimits | None = None) -> tuple[Command | None, object]:
    """(the command, its request) for a command or pasted file paths (/attach's); (None, ChatTurn) for a message.
    Raises CommandError for a bad command."""
    stripped = text.strip()
    if not stripped:
        raise CommandError("Type a message first.")
    pasted = pasted_paths(stripped)
    if pasted:
        return COMMANDS["/attach"], AttachRequest(pasted)
    if not stripped.startswith("/") or stripped.startswith("//"):
        return None, ChatTurn(text)
    name, _, rest = stripped.partition(" ")
    command = COMMANDS.get(name.lower())
    if command is None:
        raise CommandError(f"Unknown command {name.lower()}. Type /help to see the commands.")
    return command, command.parse(rest, image_limits)


def parse_input(text: str, image_limits: ModelLimits | None = None) -> ChatTurn | ImageRequest | HelpRequest | AttachRequest | LibraryRequest | LorasRequest:
    """Decide what the user asked for (the request alone). Raises CommandError for a bad command."""
    return read_input(text, image_limits)[1]
