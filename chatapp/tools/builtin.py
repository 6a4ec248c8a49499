"""The built-in tools, one file each; importing a file registers its tool in TOOLS. A new tool is a file
in tools/ (a Tool with its schema and run) plus one name here."""
from __future__ import annotations

from . import draw_picture, edit_picture, look_at_picture, read_recipe, search_documents  # noqa: F401  (each registers itself)
from .picture_args import sizes  # noqa: F401  (the sizes offered: tests and docs read them here)
