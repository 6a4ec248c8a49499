"""`python -m chatapp` and the `chatapp` script: parse arguments, start the app."""
from __future__ import annotations

import argparse
import sys

from . import __version__


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="chatapp", description="Offline chat assistant with image generation.")
    p.add_argument("--llm-model", metavar="PATH", help="a GGUF chat model (default: the embedded SmolLM2-135M)")
    p.add_argument("--image-model", metavar="PATH",
                   help="a diffusers folder or .safetensors checkpoint (default: the embedded tiny-shapes model)")
    p.add_argument("--data-dir", metavar="DIR", help="where chats and pictures are kept (env CHATAPP_DATA_DIR)")
    p.add_argument("--config-dir", metavar="DIR", help="where settings are kept (env CHATAPP_CONFIG_DIR)")
    p.add_argument("--version", action="version", version=f"chatapp {__version__}")
    return p.parse_args(argv)


def run() -> None:
    from .cli import dispatch   # `chatapp export|import ...`: no window, no Qt
    if (code := dispatch(sys.argv[1:])) is not None:
        sys.exit(code)
    from .app import main
    sys.exit(main(parse_args()))


if __name__ == "__main__":
    run()
