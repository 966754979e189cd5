"""Cutting long audio into windows and joining what each window heard: window plans, seams at silences,
quiet cut points, and words grouped into subtitle-sized segments. Pure functions, shared by the backends.
"""

from __future__ import annotations

import math

import numpy as np

from ..audio import SAMPLE_RATE, audio_duration
from ..config import LongAudioPolicy
from ..types import Segment, Word

SENTENCE_END = (".", "?", "!")


def plan_windows(duration: float, policy: LongAudioPolicy) -> list[tuple[float, float]]:
    """Overlapping windows covering ``[0, duration]``: ``window_s`` long, ``overlap_s`` shared."""
    step = policy.window_s - policy.overlap_s
    count = max(1, math.ceil((duration - policy.overlap_s) / step))
    return [(i * step, min(i * step + policy.window_s, duration)) for i in range(count)]


def stitch_windows(windows: list[tuple[float, float, list[Word]]]) -> list[Word]:
    """Join the words of overlapping windows, each word taken from exactly one window.

    Between two windows the cut is the middle of the longest stretch of the overlap where
    neither window heard a word, so a word is never split between them (nor counted twice).
    """
    if len(windows) == 1:
        return list(windows[0][2])
    cuts = [
        _seam(prev_words, next_words, lo=next_start, hi=prev_end)
        for (_, prev_end, prev_words), (next_start, _, next_words) in zip(windows, windows[1:], strict=False)
    ]
    out: list[Word] = []
    for i, (_, _, words) in enumerate(windows):
        lo = cuts[i - 1] if i > 0 else -math.inf
        hi = cuts[i] if i < len(cuts) else math.inf
        out += [w for w in words if lo <= (w.start + w.end) / 2 < hi]
    return out


def _seam(prev_words: list[Word], next_words: list[Word], lo: float, hi: float) -> float:
    """The middle of the longest word-free gap inside the overlap ``[lo, hi]`` (its centre if none)."""
    margin = (hi - lo) * 0.15  # words at a window's very edge are the least reliable
    lo_in, hi_in = lo + margin, hi - margin
    spans = sorted((w.start, w.end) for w in prev_words + next_words if w.end > lo_in and w.start < hi_in)
    best, best_len, cursor = (lo + hi) / 2, -1.0, lo_in
    for start, end in [*spans, (hi_in, hi_in)]:
        if start - cursor > best_len:
            best_len, best = start - cursor, (cursor + start) / 2
        cursor = max(cursor, end)
    return best


SEGMENT_MAX_GAP_S = 0.8  # a longer pause between two words starts a new segment
SEGMENT_MAX_S = 15.0  # a longer segment is cut at its longest pause, punctuation or not
SEGMENT_MAX_WORDS = 40  # so is one of more words


def ends_segment(words: list[Word], next_start: float, max_gap: float = SEGMENT_MAX_GAP_S) -> bool:
    """Whether the segment ``words`` ends before a word starting at ``next_start``: a sentence end or a pause longer
    than ``max_gap`` (length is ``bound_segment``'s business)."""
    last = words[-1]
    return last.text.endswith(SENTENCE_END) or next_start - last.end > max_gap


def too_long(words: list[Word], max_s: float = SEGMENT_MAX_S, max_words: int = SEGMENT_MAX_WORDS) -> bool:
    """Whether ``words`` are more than one segment may hold."""
    return len(words) > max_words or (len(words) > 1 and words[-1].end - words[0].start > max_s)


def longest_pause(words: list[Word]) -> int:
    """The index of the word after the longest pause among ``words`` (at least 2); of equal pauses, the one
    nearest the middle."""
    middle = (len(words) - 1) / 2
    return max(range(1, len(words)), key=lambda i: (round(words[i].start - words[i - 1].end, 3), -abs(i - middle)))


def bound_segment(
    words: list[Word], max_s: float = SEGMENT_MAX_S, max_words: int = SEGMENT_MAX_WORDS
) -> list[list[Word]]:
    """``words`` cut at their longest pauses until no piece is longer than ``max_s`` or ``max_words``."""
    if not too_long(words, max_s, max_words):
        return [words]
    cut = longest_pause(words)
    return bound_segment(words[:cut], max_s, max_words) + bound_segment(words[cut:], max_s, max_words)


def words_to_segments(
    words: list[Word], max_gap: float = SEGMENT_MAX_GAP_S, max_s: float = SEGMENT_MAX_S,
    max_words: int = SEGMENT_MAX_WORDS,
) -> list[Segment]:  # fmt: skip
    """Group words into segments: at sentence ends and pauses, and none longer than ``max_s`` or ``max_words``: a
    segment that grows too long is cut at its longest pause so far (as live transcription must, word by word)."""
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if current and ends_segment(current, word.start, max_gap):
            groups.append(current)
            current = []
        current.append(word)
        *full, current = bound_segment(current, max_s, max_words)
        groups += full
    if current:
        groups.append(current)
    return [make_segment(group) for group in groups]


def make_segment(words: list[Word]) -> Segment:
    """A segment spanning ``words``, its text the words joined by spaces."""
    return Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words))


def quiet_cuts(audio: np.ndarray, max_window_s: float, search_s: float = 10.0) -> list[tuple[float, float]]:
    """Windows of at most ``max_window_s`` covering the audio, each ending at the quietest 100 ms
    of its last ``search_s`` seconds (so words are rarely cut in two)."""
    duration = audio_duration(audio)
    frame = SAMPLE_RATE // 10
    energy = np.convolve(audio.astype(np.float64) ** 2, np.ones(frame) / frame, mode="same")
    windows, start = [], 0.0
    while duration - start > max_window_s:
        lo = int((start + max(max_window_s - search_s, max_window_s / 2)) * SAMPLE_RATE)
        hi = int((start + max_window_s) * SAMPLE_RATE)
        cut = (lo + int(np.argmin(energy[lo:hi]))) / SAMPLE_RATE
        windows.append((start, cut))
        start = cut
    windows.append((start, duration))
    return windows


def clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
