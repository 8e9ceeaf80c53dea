"""Normalisation of typed input: case, spaces, «ё», control characters."""

from __future__ import annotations

import re
import unicodedata

MAX_FREE_TEXT = 2000
_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = " .,;:!?«»\"'()-–—"


def strip_control(text: str) -> str:
    """Drop control characters (keeping line breaks and tabs), otherwise verbatim."""
    return "".join(
        ch for ch in text if ch in "\n\t" or not unicodedata.category(ch).startswith("C") or ch == "\u200d"
    )


def normalize(text: str) -> str:
    """A matching key: case-folded, «ё» as «е», spaces collapsed, edge punctuation dropped."""
    folded = strip_control(text).casefold().replace("ё", "е")
    return _SPACES.sub(" ", folded).strip(_EDGE_PUNCT)
