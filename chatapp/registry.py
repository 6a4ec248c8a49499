"""One registry shape for every door: named entries (backends, formats, readers, commands, actions), built-ins and plugins alike."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Entries by name, in the order registered; a read-only Mapping for everyone but register().

    Built-in entries register through the same call a plugin or a test uses (as Datasette's built-in
    output formats go through its plugin hook), so nothing else lists them: menus, CLI choices, help
    texts and file filters iterate the registry.
    """

    def __init__(self, what: str):
        self.what = what          # "chat backend", "exporter"...: the words in an error
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None, *, replace: bool = False):
        """Add entry under name; without entry, a decorator (`@REG.register("md")`). A taken name is a bug."""
        if entry is None:
            def decorate(obj):
                self.register(name, obj, replace=replace)
                return obj
            return decorate
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.what}: a name is needed, not {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.what} {name!r} is registered already")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        return self._entries.pop(name)

    @contextmanager
    def registered(self, name: str, entry: T):
        """Register for a with-block only (tests): the registry is as it was afterwards."""
        self.register(name, entry)
        try:
            yield entry
        finally:
            self._entries.pop(name, None)

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))   # a copy: registering while iterating is no error

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, name: str, default: str | None = None) -> T:
        """The entry called name, else the default entry's (a setting naming a backend that went away)."""
        if name in self._entries:
            return self._entries[name]
        if default is not None:
            return self._entries[default]
        raise KeyError(f"{self.what} {name!r} is not registered; there are: {', '.join(self._entries)}")

    def where(self, test: Callable[[T], bool]) -> list[T]:
        return [e for e in self._entries.values() if test(e)]

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._entries)})"
