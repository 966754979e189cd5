"""Custom vocabulary: the phrases a user wants recognised (boosted in decoders that can be biased), and find →
replace pairs applied to every model's final words.

``phrases`` parses phrase lists, ``replacements`` parses and applies replacements (words keep their times),
``options`` holds what one request asks for (``Vocabulary``). Pure Python: no model, no page.
"""

from __future__ import annotations

from .options import DEFAULT_WEIGHT, MAX_WEIGHT, Vocabulary, parse_weight
from .phrases import MAX_PHRASE_CHARS, MAX_PHRASES, parse_hotwords, parse_phrases, read_phrases_file
from .replacements import (
    MAX_REPLACEMENTS,
    Replacement,
    apply_replacements,
    finish_open_words,
    finish_segments,
    parse_replacements,
    read_replacements_file,
    spelling_rules,
)

__all__ = [
    "DEFAULT_WEIGHT",
    "MAX_PHRASES",
    "MAX_PHRASE_CHARS",
    "MAX_REPLACEMENTS",
    "MAX_WEIGHT",
    "Replacement",
    "Vocabulary",
    "apply_replacements",
    "finish_open_words",
    "finish_segments",
    "parse_hotwords",
    "parse_phrases",
    "parse_replacements",
    "parse_weight",
    "read_phrases_file",
    "read_replacements_file",
    "spelling_rules",
]
