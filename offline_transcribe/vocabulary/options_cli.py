"""The command line's vocabulary options: ``--vocabulary FILE``, ``--replacements FILE``, ``--vocabulary-weight W``.

They apply to ``--transcribe`` and ``--live``; given to the server, they are the defaults of every page and API
request that brings no vocabulary of its own.
"""

from __future__ import annotations

import argparse

from .options import DEFAULT_WEIGHT, MAX_WEIGHT, Vocabulary, parse_weight
from .phrases import MAX_PHRASE_CHARS, MAX_PHRASES, read_phrases_file
from .replacements import read_replacements_file


def add_vocabulary_options(parser: argparse.ArgumentParser) -> None:
    """Add the three options to ``parser``, in a group of their own."""
    group = parser.add_argument_group("custom vocabulary")
    group.add_argument("--vocabulary", metavar="FILE",
                       help=f"names and terms to recognise, one per line (# comments; at most {MAX_PHRASES:,} of "
                       f"{MAX_PHRASE_CHARS} characters): boosted in Parakeet's decoder, written as typed; the server's "
                       "default for page and API requests that bring none")
    group.add_argument("--replacements", metavar="FILE",
                       help="find => replace, one per line, applied to the words of every model's transcript (word "
                       "times are kept); the server's default for requests that bring none")
    group.add_argument("--vocabulary-weight", metavar="W", default=str(DEFAULT_WEIGHT),
                       help=f"how strongly the vocabulary is boosted, 0 to {MAX_WEIGHT:g} (default {DEFAULT_WEIGHT:g}, "
                       "measured: see docs/benchmarks.md; higher finds more but inserts the phrases more often)")


def vocabulary_from_args(args: argparse.Namespace) -> Vocabulary:
    """The files' vocabulary (empty, with the weight, when no file is given); raises ``VocabularyError``."""
    weight = parse_weight(args.vocabulary_weight)
    phrases = read_phrases_file(args.vocabulary) if args.vocabulary else ()
    rules = read_replacements_file(args.replacements) if args.replacements else ()
    return Vocabulary(phrases, rules, weight)
