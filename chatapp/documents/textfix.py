"""Repairs for text laid out for print: ligature characters, words hyphenated at line ends, soft hyphens."""
from __future__ import annotations

import re
import unicodedata

# Latin ligatures (U+FB00-FB06: ff fi fl ffi ffl ſt st) and the IJ digraphs: typesetters (LaTeX above all)
# emit them as one character, so "filled" would never match a search for "filled". Only these are
# folded: NFKC on the whole text would also rewrite superscripts, fractions and full-width forms.
_LIGATURES = {ch: unicodedata.normalize("NFKC", ch) for ch in map(chr, [*range(0xFB00, 0xFB07), 0x132, 0x133])}
_LIGATURE_RE = re.compile("[" + "".join(_LIGATURES) + "]")
# "adip-\niscing" -> "adipiscing": a lower-case letter, a hyphen at the end of a line, a lower-case word.
# The joined word moves up a line, so line numbers of the rest stay put. "well-\nknown" loses its
# hyphen too: a rarer case that search forgives (both halves still match) more than a split word.
_HYPHENATED = re.compile(r"(?<=[^\W\d_])[-\u00ad\u2010]\n([^\W\d_]\w*)([ \t]*)")


def fold_ligatures(text: str) -> str:
    return _LIGATURE_RE.sub(lambda m: _LIGATURES[m.group()], text)


def _join(m: re.Match) -> str:
    word = m.group(1)
    return word + "\n" if word[0].islower() else m.group(0)


def fix_print_text(text: str) -> str:
    text = fold_ligatures(text).replace("\r\n", "\n")
    text = _HYPHENATED.sub(_join, text)
    return text.replace("\u00ad", "")
