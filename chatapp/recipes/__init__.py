"""The ground floor for picture recipes (imports nothing else of chatapp): request.py (ImageRequest, ModelLimits, the one validation), samplers.py, loras.py, command.py (/image text), a1111.py, png.py, foreign.py."""
from __future__ import annotations


class RecipeError(Exception):
    """A recipe that cannot be used; the message is for the user and names the field (`field`; `rule`:
    which limit, e.g. "max_side" for a size over the model's largest)."""

    def __init__(self, message: str, field: str = "", rule: str = ""):
        super().__init__(message)
        self.field, self.rule = field, rule
