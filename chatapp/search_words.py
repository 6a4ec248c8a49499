"""The words a chat search looks for: one definition for the search (storage) and the search box, which says what was left out."""
from __future__ import annotations

SEARCH_CHARS = 1000   # the search box takes no more
MAX_WORDS = 32        # each word is one index query (~3 ms where it is common): a pasted paragraph stays quick
LONGEST_WORD = 64     # a longer word is looked for by its start


def search_words(query: str) -> tuple[list[str], list[str]]:
    """The distinct words searched for, and those left out (past MAX_WORDS); unprintable
    characters count as spaces."""
    text = "".join(c if c.isprintable() else " " for c in query[:SEARCH_CHARS])
    words = list(dict.fromkeys(w[:LONGEST_WORD] for w in text.split()))
    return words[:MAX_WORDS], words[MAX_WORDS:]
