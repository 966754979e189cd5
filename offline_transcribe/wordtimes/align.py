"""Times for one text's words from another transcript's timed words of the same audio.

The two word lists are aligned by edit distance (``kaldialign``, on lower-case words without punctuation): a word
matched to a word (the same or a substitute) takes its times; the words in between (insertions) share the time
between their matched neighbours by their length. Times never go backwards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..types import Word

_EPS = -1
_NOT_WORD = re.compile(r"[^\w']+")


@dataclass(frozen=True)
class Aligned:
    """The timed words, and how many of them took a matched word's times (the others were placed between)."""

    words: list[Word]
    matched: int  # words of the text aligned to a timed word (the same or a substitute)
    same: int  # of those, the same word


def normalise(word: str) -> str:
    """The word as the alignment compares it: lower case, punctuation left out."""
    return _NOT_WORD.sub("", word.lower())


def align_text(texts: Sequence[str], timed: Sequence[Word], start: float, end: float) -> Aligned:
    """``texts`` (one window's words, in order) with times from ``timed`` (the other model's words of the same
    window ``[start, end]``, in order)."""
    import kaldialign

    if not texts:
        return Aligned([], 0, 0)
    ids: dict[str, int] = {}
    ref = [ids.setdefault(normalise(t), len(ids)) for t in texts]
    hyp = [ids.setdefault(normalise(w.text), len(ids)) for w in timed]
    times: list[tuple[float, float] | None] = [None] * len(texts)
    i = j = same = 0
    for a, b in kaldialign.align(ref, hyp, _EPS):
        if a != _EPS and b != _EPS:
            times[i] = (timed[j].start, timed[j].end)
            same += a == b
        i += a != _EPS
        j += b != _EPS
    matched = sum(t is not None for t in times)
    return Aligned(_fill(texts, times, start, end), matched, same)


def _fill(texts: Sequence[str], times: list[tuple[float, float] | None], start: float, end: float) -> list[Word]:
    """Words for ``texts``: matched ones at their times (kept in order), runs of unmatched ones spread over the gap
    between their neighbours by length."""
    out: list[Word] = []
    k, previous_end = 0, start
    while k < len(texts):
        if (t := times[k]) is not None:
            s = max(t[0], previous_end)
            out.append(Word(texts[k], s, max(t[1], s)))
            previous_end = max(t[1], s)
            k += 1
            continue
        run_end = k
        while run_end < len(texts) and times[run_end] is None:
            run_end += 1
        following = times[run_end] if run_end < len(texts) else None
        hi = max(following[0] if following else end, previous_end)
        total = sum(len(texts[m]) + 1 for m in range(k, run_end))
        at = previous_end
        for m in range(k, run_end):
            length = (hi - previous_end) * (len(texts[m]) + 1) / total
            out.append(Word(texts[m], at, at + length))
            at += length
        previous_end, k = hi, run_end
    return out
