"""Text folding for name search: case- and diacritic-insensitive (``salcininkai`` finds
``Šalčininkai``). Every backend stores the folded text and folds the query the same way."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# Letters that carry no combining mark in Unicode but that people type without their stroke.
_EXTRA = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe"})


def fold(text: str) -> str:
    """Return ``text`` lower-cased, without diacritics and with runs of spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.translate(_EXTRA).split())


def search_text(names: Iterable[str | None]) -> str:
    """The folded text a search query is matched against: every name, one per line."""
    return "\n".join(fold(name) for name in names if name)
