"""What the session gives each of its parts (replies, pictures, documents): a read-only settings view and a notice sink."""
from __future__ import annotations

from typing import Callable

from ..settings import Settings

Notice = Callable[[str], None]   # a transient inline message for the user (not saved)


class SettingsView:
    """The current Settings, read-only: a part reads fields (always the latest); only the session changes them."""

    __slots__ = ("_current",)

    def __init__(self, current: Callable[[], Settings]):
        object.__setattr__(self, "_current", current)

    @classmethod
    def of(cls, settings: Settings) -> "SettingsView":
        """A view of fixed settings (a part built on its own, e.g. in a test)."""
        return cls(lambda: settings)

    def __getattr__(self, name: str):
        return getattr(self._current(), name)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"settings are read-only here ({name}); the session applies changes")
