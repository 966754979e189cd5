"""Fitting a transcript into the LLM's context: consecutive parts whose prompts fit a token budget.

Each line's length is counted once with the model's tokenizer and lines are packed in order; every part's whole
prompt is then counted exactly, and a part that is still too long (tokens merge a little differently once lines are
joined) is halved until it fits. A single line too long for any part is cut at words first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from .transcript import TimedText

X = TypeVar("X")


def pack(items: Sequence[X], weight: Callable[[X], int], room: int) -> list[list[X]]:
    """``items`` in consecutive groups whose weights add up to at most ``room`` (an item heavier than that: alone)."""
    groups: list[list[X]] = []
    used = 0
    for item in items:
        w = weight(item)
        if not groups or used + w > room:
            groups.append([])
            used = 0
        groups[-1].append(item)
        used += w
    return groups


def halve_until(group: list[X], fits: Callable[[list[X]], bool]) -> list[list[X]]:
    """``group`` as is when it ``fits``, else its halves, each halved again as needed (one item stays as it is)."""
    if len(group) < 2 or fits(group):
        return [group]
    middle = len(group) // 2
    return halve_until(group[:middle], fits) + halve_until(group[middle:], fits)


def cut_line(item: TimedText, tokens: Callable[[TimedText], int], room: int) -> list[TimedText]:
    """``item`` cut at words into pieces of at most ``room`` tokens (each piece keeps the segment's times)."""
    words = item.text.split()
    if tokens(item) <= room or len(words) < 2:
        return [item]
    middle = len(words) // 2
    halves = (replace(item, text=" ".join(words[:middle])), replace(item, text=" ".join(words[middle:])))
    return [piece for half in halves for piece in cut_line(half, tokens, room)]


def split_transcript(
    items: Sequence[TimedText],
    line_tokens: Callable[[TimedText], int],
    prompt_tokens: Callable[[list[TimedText]], int],
    limit: int,
) -> list[list[TimedText]]:
    """``items`` in consecutive parts whose prompts (``prompt_tokens(part)``) take at most ``limit`` tokens."""
    room = limit - prompt_tokens([])
    if room < 8:
        raise ValueError(f"a budget of {limit} tokens leaves no room for the transcript")
    pieces = [piece for item in items for piece in cut_line(item, line_tokens, room)]
    parts = pack(pieces, line_tokens, room)
    return [half for part in parts for half in halve_until(part, lambda p: prompt_tokens(p) <= limit)]
