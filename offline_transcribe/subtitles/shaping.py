"""Segments to subtitle cues within the limits of ``SubtitleOptions``.

Words are grouped into cues by dynamic programming over the break points: a cue must fit its lines and its
longest duration; among the groupings that do, the one with the cheapest breaks wins (a sentence end is the
cheapest, then clause punctuation, then a pause, then a segment's end, then anywhere else between two words),
plus a cost per cue (so short cues are merged) and a cost for reading speed that no extension can fix (so such cues
are split). A word is never split, and a change of speaker (or a long silence) always ends a cue.

Times: a cue starts with its first word and ends with its last, extended (into the gap before the next cue) to at
least ``min_cue_seconds`` and to the time its characters need at ``max_cps``, never past ``max_cue_seconds`` nor
closer than ``min_gap_seconds`` to the next cue. Times are whole milliseconds, as SRT and WebVTT write them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..types import Segment
from .presets import SubtitleOptions

SENTENCE_END = (".", "?", "!", "…")
CLAUSE_END = (",", ";", ":", "–", "—")
CLOSERS = "\"')]»”’"
HARD_GAP_S = 1.5  # a silence this long always ends a cue
PAUSE_S = 0.2  # a silence this long is a place to break

# costs of a break after a word (lower is better), per cue, and per second of reading time missing
SENTENCE_COST, CLAUSE_COST, SEGMENT_COST, ANYWHERE_COST = 0.0, 1.0, 2.5, 4.0
CUE_COST = 1.0
ORPHAN_COST = 1.5  # a one-word cue inside a longer run
SLOW_COST = 20.0
OVERFULL_COST = 1000.0  # a word longer than a line, or a word lasting longer than a cue may: it stands alone


@dataclass(frozen=True)
class Cue:
    """One subtitle: times in seconds (whole milliseconds), its lines, and who speaks (or None)."""

    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class _Token:
    text: str
    start: float
    end: float
    speaker: str | None
    segment_end: bool


def _tokens(segments: Sequence[Segment]) -> list[_Token]:
    """The words of the segments; a segment without word times (Canary's windows) has its time shared among its
    words by their length."""
    out: list[_Token] = []
    for seg in segments:
        if seg.words:
            words = [(w.text.strip(), w.start, w.end, w.speaker or seg.speaker) for w in seg.words if w.text.strip()]
        else:
            texts = seg.text.split()
            total = sum(len(t) + 1 for t in texts) or 1
            span, at, words = max(seg.end - seg.start, 0.0), seg.start, []
            for t in texts:
                length = span * (len(t) + 1) / total
                words.append((t, at, at + length, seg.speaker))
                at += length
        out += [_Token(t, s, max(e, s), sp, i == len(words) - 1) for i, (t, s, e, sp) in enumerate(words)]
    return out


def _break_cost(token: _Token, following: _Token) -> float:
    text = token.text.rstrip(CLOSERS)
    if text.endswith(SENTENCE_END):
        return SENTENCE_COST
    if text.endswith(CLAUSE_END):
        return CLAUSE_COST
    gap = following.start - token.end
    if gap >= PAUSE_S:
        return max(CLAUSE_COST, 3.0 - 2.0 * gap)
    return SEGMENT_COST if token.segment_end else ANYWHERE_COST


def _line_count(lengths: Sequence[int], width: int, prefix_len: int = 0) -> int:
    """Lines that words of ``lengths`` fill at ``width`` characters after a prefix of ``prefix_len`` on the first
    line, filled greedily (the fewest possible); a word longer than a line gets a line of its own."""
    lines, used = 1, prefix_len
    for n in lengths:
        if used == 0:
            used = n
        elif used + 1 + n <= width:
            used += 1 + n
        else:
            lines, used = lines + 1, n
    return lines


def layout(words: Sequence[str], width: int, max_lines: int, prefix: str = "") -> tuple[str, ...]:
    """``words`` in the fewest lines of at most ``width`` characters (``prefix`` starts the first line), as
    balanced as possible, preferring breaks after punctuation and a longer second line."""
    extra = len(prefix) + 1 if prefix else 0
    lengths = [len(w) for w in words]
    count = min(_line_count(lengths, width, len(prefix)), max(max_lines, 1))
    if count == 1 or len(words) < 2:
        return ((prefix + " " if prefix else "") + " ".join(words),)
    count = min(count, len(words))
    n = len(words)

    def span(i: int, j: int) -> int:  # characters of words[i:j] on one line
        return sum(lengths[i:j]) + (j - i - 1) + (extra if i == 0 else 0)

    # best[k][j]: cost of words[:j] in k lines
    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for k in range(1, count + 1):
        for j in range(k, n + 1):
            for i in range(k - 1, j):
                if best[k - 1][i] == inf:
                    continue
                length = span(i, j)
                over = max(0, length - width) * 100 if j - i > 1 else 0  # one long word alone may overflow
                cost = best[k - 1][i] + length**2 + over**2
                if j < n and words[j - 1].rstrip(CLOSERS).endswith(SENTENCE_END + CLAUSE_END):
                    cost -= (0.25 * width) ** 2
                if k == 2 and i > 0 and span(0, i) > length:
                    cost += 0.05 * width**2  # top-heavy: the first line longer than the second
                if cost < best[k][j]:
                    best[k][j], back[k][j] = cost, i
    cuts, j = [], n
    for k in range(count, 0, -1):
        i = back[k][j]
        cuts.append((i, j))
        j = i
    lines = [" ".join(words[i:j]) for i, j in reversed(cuts)]
    if prefix:
        lines[0] = prefix + " " + lines[0]
    return tuple(lines)


def _chars(words: Sequence[str], prefix: str) -> int:
    return sum(len(w) for w in words) + len(words) - 1 + (len(prefix) + 1 if prefix else 0)


def _runs(tokens: list[_Token]) -> list[list[_Token]]:
    """Stretches that never share a cue: a new speaker or a long silence starts a new one."""
    runs: list[list[_Token]] = []
    for token in tokens:
        if runs and token.speaker == runs[-1][-1].speaker and token.start - runs[-1][-1].end < HARD_GAP_S:
            runs[-1].append(token)
        else:
            runs.append([token])
    return runs


def _group(run: list[_Token], next_start: float, o: SubtitleOptions, prefix: str) -> list[tuple[int, int]]:
    """The cheapest grouping of ``run`` into cues, as (first, end) index pairs."""
    n = len(run)
    capacity = o.max_line_chars * o.max_lines
    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] == math.inf:
            continue
        for j in range(i + 1, n + 1):
            words = [t.text for t in run[i:j]]
            lengths = [len(w) for w in words]
            single = j == i + 1
            fits = _line_count(lengths, o.max_line_chars, len(prefix)) <= o.max_lines
            duration = run[j - 1].end - run[i].start
            if not single and (not fits or duration > o.max_cue_seconds):
                break
            cost = best[i] + CUE_COST
            if single and (not fits or duration > o.max_cue_seconds):
                cost += OVERFULL_COST
            if single and n > 1:
                cost += ORPHAN_COST
            if j < n:
                cost += _break_cost(run[j - 1], run[j])
            following = run[j].start if j < n else next_start
            room = min(following - o.min_gap_seconds, run[i].start + o.max_cue_seconds) - run[i].start
            cost += SLOW_COST * max(0.0, _chars(words, prefix) / o.max_cps - room)
            if cost < best[j]:
                best[j], back[j] = cost, i
            if _chars(words, prefix) > capacity + o.max_line_chars:
                break
    groups, j = [], n
    while j > 0:
        groups.append((back[j], j))
        j = back[j]
    return groups[::-1]


def shape_cues(
    segments: Sequence[Segment],
    options: SubtitleOptions,
    label: Callable[[str], str] | None = None,
    until: float | None = None,
) -> list[Cue]:
    """Cues for ``segments`` under ``options``; ``label(speaker)`` is text that starts each cue of a speaker and
    takes room on its first line (SRT's ``Speaker 1:``); ``until`` is the end of the audio (the last cue may
    extend to it). With the preset "as transcribed": one cue per segment with text, at the segment's times."""
    if not options.shaped:
        return [
            Cue(_ms(s.start), _ms(s.end), tuple(ln.strip() for ln in s.text.splitlines() if ln.strip()), s.speaker)
            for s in segments
            if s.text.strip()
        ]
    tokens = _tokens(segments)
    if not tokens:
        return []
    groups: list[tuple[list[_Token], str]] = []
    runs = _runs(tokens)
    for r, run in enumerate(runs):
        prefix = label(run[0].speaker) if label and run[0].speaker else ""
        next_start = runs[r + 1][0].start if r + 1 < len(runs) else math.inf
        groups += [(run[i:j], prefix) for i, j in _group(run, next_start, options, prefix)]
    return _timed(groups, options, until)


def _timed(groups: list[tuple[list[_Token], str]], o: SubtitleOptions, until: float | None) -> list[Cue]:
    """The cues' times in whole milliseconds (see the module docstring)."""
    gap, longest = round(o.min_gap_seconds * 1000), round(o.max_cue_seconds * 1000)
    cues: list[Cue] = []
    previous_end = -math.inf
    for g, (words, prefix) in enumerate(groups):
        texts = [w.text for w in words]
        start = max(round(words[0].start * 1000), previous_end + gap, 0)
        if g + 1 < len(groups):
            limit = round(groups[g + 1][0][0].start * 1000) - gap
        else:
            limit = max(round(words[-1].end * 1000), round((until or 0) * 1000)) if until is not None else math.inf
        wanted = max(
            round(words[-1].end * 1000),
            start + math.ceil(_chars(texts, prefix) / o.max_cps * 1000),
            start + round(o.min_cue_seconds * 1000),
        )
        end = int(max(min(wanted, limit, start + longest), start + 1))
        cues.append(Cue(start / 1000, end / 1000, layout(texts, o.max_line_chars, o.max_lines, prefix),
                        words[0].speaker))  # fmt: skip
        previous_end = end
    return cues


def _ms(seconds: float) -> float:
    return round(seconds * 1000) / 1000
