"""Phrase lists: one phrase per line, ``#`` starts a comment line, empty lines and repeats are ignored."""

from __future__ import annotations

import os
import re

from ..errors import VocabularyError
from .files import read_text_file

MAX_PHRASES = 1000
MAX_PHRASE_CHARS = 100
PHRASES_FIX = "Give a UTF-8 text file with one phrase per line (# starts a comment)."


def _clean(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip()


def parse_phrases(text: str, source: str = "Vocabulary") -> tuple[str, ...]:
    """The phrases of ``text`` in order, as typed (inner spaces collapsed); a phrase repeated with other capitals
    counts once (the first spelling is kept). Raises ``VocabularyError`` naming the line of a phrase over
    ``MAX_PHRASE_CHARS`` characters, or saying how many phrases there are beyond ``MAX_PHRASES``."""
    phrases: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        phrase = _clean(line)
        if not phrase or phrase.startswith("#"):
            continue
        if len(phrase) > MAX_PHRASE_CHARS:
            raise VocabularyError(
                f"{source}, line {number}: the phrase {phrase[:30]!r}… has {len(phrase)} characters; a phrase may "
                f"have at most {MAX_PHRASE_CHARS}. Shorten it or split it into several lines."
            )
        phrases.setdefault(phrase.casefold(), phrase)
    if len(phrases) > MAX_PHRASES:
        raise VocabularyError(
            f"{source} has {len(phrases):,} different phrases; at most {MAX_PHRASES:,} are allowed. Keep the names "
            "and terms the model gets wrong."
        )
    return tuple(phrases.values())


def parse_hotwords(text: str, source: str = "hotwords") -> tuple[str, ...]:
    """Phrases separated by commas or new lines (the API's ``hotwords`` field, as speaches reads it)."""
    return parse_phrases(text.replace(",", "\n"), source)


def read_phrases_file(path: str | os.PathLike) -> tuple[str, ...]:
    """``parse_phrases`` of a file; a file that cannot be read raises ``VocabularyError`` with its path."""
    return parse_phrases(read_text_file(path, "vocabulary file", PHRASES_FIX), f"The vocabulary file {path}")
