"""`python -m chatapp` and the `chatapp` script: parse arguments, start the app or a subcommand."""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

# `chatapp NAME ...` runs module:function(argv) instead of the window; one line per subcommand.
SUBCOMMANDS = {
    "serve": ("chatapp.serve.cli", "main"),   # the OpenAI-compatible server
    "export": ("chatapp.cli", "export_main"),  # conversations to JSON / Markdown / HTML, no window
    "import": ("chatapp.cli", "import_main"),  # our JSON or a ChatGPT export, no window
    "install-desktop": ("chatapp.desktop.menu_entry", "install_main"),     # menu entry + icon (XDG data home)
    "uninstall-desktop": ("chatapp.desktop.menu_entry", "uninstall_main"),
}


def add_backend_flags(p: argparse.ArgumentParser) -> None:
    """--chat-backend / --image-backend NAME, and each backend's own flags, from the backend registries."""
    from .backends import KINDS, option_name
    from .backends.secrets import env_name
    from .settings import arg_type
    for kind, registry in KINDS.items():
        p.add_argument(f"--{kind}-backend", choices=tuple(registry), dest=f"{kind}_backend",
                       help=f"the {kind} backend for this run: " + ", ".join(f"{n} ({b.label})" for n, b in registry.items()))
        for backend in registry.values():
            for i, (flag, name) in enumerate(backend.flags):
                meta = backend.options.__dataclass_fields__[name].metadata
                words = f"{backend.label}: {meta.get('help') or meta['label']}"
                if i == 0:
                    key = f"; API key from the environment variable {env_name(backend.secret)}" if backend.secret else ""
                    words += f" (chooses this backend{key})"
                p.add_argument(flag, metavar=name.upper(), type=arg_type(option_name(kind, backend, name)),
                               help=words)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from .engines.defaults import DEFAULT_IMAGE_MODEL
    from .settings import arg_type, assignment   # the options schema checks each flag's value
    p = argparse.ArgumentParser(
        prog="chatapp", description="Offline chat assistant with image generation.",
        epilog=f"subcommands: {', '.join(SUBCOMMANDS)} (e.g. `chatapp serve --help`)")
    p.add_argument("--llm-model", metavar="PATH", type=arg_type("llm_model"),
                   help="a GGUF chat model (default: the embedded SmolLM2-135M)")
    p.add_argument("--image-model", metavar="PATH", type=arg_type("image_model"),
                   help=f"a diffusers folder or .safetensors checkpoint (default: the embedded {DEFAULT_IMAGE_MODEL.name} "
                        "model)")
    add_backend_flags(p)
    p.add_argument("--set", metavar="NAME=VALUE", type=assignment, action="append", default=[], dest="overrides",
                   help="a setting for this run, checked like the settings file, e.g. --set image_threads=2 "
                        "(names as in settings.json; a backend's options as KIND.BACKEND.OPTION, e.g. chat.openai.timeout=120)")
    p.add_argument("--data-dir", metavar="DIR", help="where chats and pictures are kept (env CHATAPP_DATA_DIR)")
    p.add_argument("--config-dir", metavar="DIR", help="where settings are kept (env CHATAPP_CONFIG_DIR)")
    p.add_argument("--version", action="version", version=f"chatapp {__version__}")
    return p.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        module, func = SUBCOMMANDS[argv[0]]
        sys.exit(getattr(importlib.import_module(module), func)(argv[1:]))
    from .app import main
    sys.exit(main(parse_args(argv)))


if __name__ == "__main__":
    run()
