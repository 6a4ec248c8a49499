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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from .settings import arg_type, assignment   # the options schema checks each flag's value
    p = argparse.ArgumentParser(
        prog="chatapp", description="Offline chat assistant with image generation.",
        epilog=f"subcommands: {', '.join(SUBCOMMANDS)} (e.g. `chatapp serve --help`)")
    p.add_argument("--llm-model", metavar="PATH", type=arg_type("llm_model"),
                   help="a GGUF chat model (default: the embedded SmolLM2-135M)")
    p.add_argument("--image-model", metavar="PATH", type=arg_type("image_model"),
                   help="a diffusers folder or .safetensors checkpoint (default: the embedded tiny-shapes model)")
    p.add_argument("--llm-url", metavar="URL", type=arg_type("llm_remote_url"),
                   help="chat through an OpenAI-compatible server at this base URL, e.g. http://gpu-box:8000/v1 "
                        "(API key from the environment variable CHATAPP_LLM_API_KEY)")
    p.add_argument("--llm-remote-model", metavar="NAME", type=arg_type("llm_remote_model"),
                   help="the model to ask that server for (default: its first)")
    p.add_argument("--image-url", metavar="URL", type=arg_type("image_remote_url"),
                   help="draw through an OpenAI images API server at this base URL "
                        "(API key from the environment variable CHATAPP_IMAGE_API_KEY)")
    p.add_argument("--image-remote-model", metavar="NAME", type=arg_type("image_remote_model"),
                   help="the image model to ask that server for")
    p.add_argument("--set", metavar="NAME=VALUE", type=assignment, action="append", default=[], dest="overrides",
                   help="a setting for this run, checked like the settings file, e.g. --set image_threads=2 "
                        "(names as in settings.json)")
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
