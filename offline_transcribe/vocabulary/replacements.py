"""Find → replace pairs applied to the final words: ``find => replace`` per line, ``#`` comment lines.

A rule matches whole words (punctuation around a word is kept: ``t d t.`` becomes ``Parakeet-TDT.``). It is
case-aware: a ``find`` in lower case matches any capitals (a capital at the start of the match is kept when the
replacement starts in lower case); a ``find`` with capitals matches only those capitals. Longer rules win where
two match at the same place. Words keep their times: a word replaced one for one keeps its own; several words
replaced by others share the span from the first one's start to the last one's end, so the segment's times,
and the subtitles' cue times, do not move.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..errors import VocabularyError
from ..types import Segment, Word
from .files import read_text_file

MAX_REPLACEMENTS = 1000
ARROW = "=>"
REPLACEMENTS_FIX = "Give a UTF-8 text file with one `find => replace` per line (# starts a comment)."
EDGE_PUNCTUATION = ".,;:!?\"'()[]{}«»“”‘’…"


@dataclass(frozen=True)
class Replacement:
    """One rule: the words to find and the words that replace them (none: the words are removed)."""

    find: tuple[str, ...]
    replace: tuple[str, ...]
    line: int = 0  # where it was written (0: not from a file)
    keep_capital: bool = True  # a capital at the start of the match stays (False: the replacement as written)

    @property
    def exact_case(self) -> bool:
        """A ``find`` with capitals matches only those capitals."""
        return any(ch.isupper() for word in self.find for ch in word)

    def __str__(self) -> str:
        return f"{' '.join(self.find)} => {' '.join(self.replace)}"


def parse_replacements(text: str, source: str = "Replacements") -> tuple[Replacement, ...]:
    """The rules of ``text``; raises ``VocabularyError`` naming the line that has no ``=>``, nothing to find, or
    finds what an earlier line already finds with another replacement."""
    rules: dict[tuple[str, ...], Replacement] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if ARROW not in stripped:
            raise VocabularyError(f"{source}, line {number}: {stripped[:60]!r} has no `{ARROW}`. Write one "
                                  f"`find {ARROW} replace` per line, e.g. `parakeet t d t {ARROW} Parakeet-TDT`.")
        find, _, new = stripped.partition(ARROW)
        rule = Replacement(tuple(find.split()), tuple(new.split()), number)
        if not rule.find:
            raise VocabularyError(f"{source}, line {number}: nothing to find before `{ARROW}`.")
        key = rule.find if rule.exact_case else tuple(w.casefold() for w in rule.find)
        if (earlier := rules.get(key)) is not None and earlier.replace != rule.replace:
            raise VocabularyError(f"{source}, line {number}: {' '.join(rule.find)!r} is already replaced on line "
                                  f"{earlier.line}, by {' '.join(earlier.replace)!r}. Keep one of the two lines.")
        rules.setdefault(key, rule)
    if len(rules) > MAX_REPLACEMENTS:
        raise VocabularyError(f"{source} has {len(rules):,} rules; at most {MAX_REPLACEMENTS:,} are allowed.")
    return tuple(rules.values())


def read_replacements_file(path: str | os.PathLike) -> tuple[Replacement, ...]:
    """``parse_replacements`` of a file; a file that cannot be read raises ``VocabularyError`` with its path."""
    text = read_text_file(path, "replacements file", REPLACEMENTS_FIX)
    return parse_replacements(text, f"The replacements file {path}")


def spelling_rules(phrases: Iterable[str]) -> tuple[Replacement, ...]:
    """Rules that write each phrase as typed wherever the model wrote it with other capitals."""
    return tuple(
        Replacement(tuple(p.casefold().split()), tuple(p.split()), keep_capital=False) for p in phrases if p.split()
    )


# ---------------------------------------------------------------------------------------------------------------
# Applying rules


def _split(text: str) -> tuple[str, str, str]:
    """A word as (leading punctuation, the word, trailing punctuation)."""
    core = text.strip(EDGE_PUNCTUATION)
    if not core:
        return "", text, ""
    lead = text[: len(text) - len(text.lstrip(EDGE_PUNCTUATION))]
    return lead, core, text[len(lead) + len(core) :]


def _same(a: str, b: str, exact: bool) -> bool:
    return a == b if exact else a.casefold() == b.casefold()


def _match(texts: Sequence[str], rule: Replacement) -> tuple[str, str] | None:
    """(leading, trailing) punctuation kept when ``texts`` (as many words as ``rule.find``) match; else None."""
    exact, n = rule.exact_case, len(rule.find)
    if all(_same(t, f, exact) for t, f in zip(texts, rule.find, strict=True)):
        return "", ""
    parts = [_split(t) for t in texts]
    if any(lead for lead, _, _ in parts[1:]) or any(trail for _, _, trail in parts[:-1]):
        return None  # punctuation inside a multi-word match: not the same phrase
    if all(_same(core, f, exact) for (_, core, _), f in zip(parts, rule.find, strict=True)):
        return parts[0][0], parts[n - 1][2]
    return None


def _replaced(words: Sequence[Word], rule: Replacement, lead: str, trail: str) -> list[Word]:
    """The words that take the place of ``words``, with their times."""
    new = list(rule.replace)
    if not new:
        return []
    first = words[0].text[len(lead) :]
    if rule.keep_capital and not rule.exact_case and first[:1].isupper() and new[0][:1].islower():
        new[0] = new[0][:1].upper() + new[0][1:]
    new[0], new[-1] = lead + new[0], new[-1] + trail
    if len(new) == len(words):
        return [replace(w, text=t) for w, t in zip(words, new, strict=True)]
    start, end = words[0].start, words[-1].end
    step = (end - start) / len(new)
    return [replace(words[0], text=t, start=start + i * step, end=start + (i + 1) * step) for i, t in enumerate(new)]


def replace_words(words: Sequence[Word], rules: Sequence[Replacement]) -> list[Word]:
    """``words`` with every rule applied, left to right, the longest matching rule first."""
    return _replace(words, rules, settled_only=False)[0]


def replace_settled(words: Sequence[Word], rules: Sequence[Replacement]) -> tuple[list[Word], list[Word]]:
    """``replace_words`` on the first words, those whose outcome no later word can change (the rules' longest
    ``find`` fits after each); the rest as given. For words that still grow at their end (live)."""
    return _replace(words, rules, settled_only=True)


def _replace(words: Sequence[Word], rules: Sequence[Replacement], settled_only: bool) -> tuple[list[Word], list[Word]]:
    ordered = sorted(rules, key=lambda r: -len(r.find))
    longest = len(ordered[0].find) if ordered else 1
    out: list[Word] = []
    i = 0
    while i < len(words):
        if settled_only and i + longest > len(words):
            return out, list(words[i:])
        for rule in ordered:
            n = len(rule.find)
            if i + n <= len(words) and (kept := _match([w.text for w in words[i : i + n]], rule)) is not None:
                out += _replaced(words[i : i + n], rule, *kept)
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return out, []


def apply_replacements(segments: Sequence[Segment], rules: Sequence[Replacement]) -> list[Segment]:
    """``segments`` with ``rules`` applied to their words (or, for a model without word times, to their text);
    segment times are kept, and a segment left without words is dropped."""
    if not rules:
        return list(segments)
    out = []
    for seg in segments:
        if seg.words:
            words = tuple(replace_words(seg.words, rules))
            text = " ".join(w.text for w in words)
        else:
            pseudo = [Word(t, seg.start, seg.end) for t in seg.text.split()]
            words, text = (), " ".join(w.text for w in replace_words(pseudo, rules))
        if text or not seg.text.strip():
            out.append(replace(seg, text=text, words=words))
    return out


def finish_segments(
    segments: Sequence[Segment], phrases: Sequence[str], rules: Sequence[Replacement]
) -> list[Segment]:
    """``phrases`` written as typed (wherever the model wrote them with other capitals), then ``rules`` applied."""
    return apply_replacements(apply_replacements(segments, spelling_rules(phrases)), rules)


def finish_open_words(
    words: Sequence[Word], phrases: Sequence[str], rules: Sequence[Replacement]
) -> tuple[list[Word], list[Word]]:
    """``finish_segments`` on the words of a segment still growing: (the settled words, finished as the closed
    segment will have them; the last words, as given, until the words after them settle their outcome)."""
    spelled, raw_rest = replace_settled(words, spelling_rules(phrases))
    done, spelled_rest = replace_settled(spelled, rules)
    return done, spelled_rest + raw_rest
