"""A transcript's text in paragraphs: a new paragraph where the speaker pauses long, where one runs on too long, and
(when the speakers were identified) where another speaker takes over; such paragraphs start with the speaker's
name (``Speaker 1: …``).

``starts_paragraph`` is the one rule deciding where a paragraph begins.
"""

from __future__ import annotations

from collections.abc import Sequence

from .types import Segment

PAUSE_S = 2.0  # a silence this long between two segments starts a new paragraph
LONG_PARAGRAPH_S = 60.0  # past this length, a paragraph ends at the next sentence end even without a pause
SENTENCE_END = (".", "?", "!", "…")


def starts_paragraph(previous: Segment, segment: Segment, paragraph_start: float) -> bool:
    """Whether ``segment`` begins a new paragraph after ``previous`` (the paragraph so far began at
    ``paragraph_start`` seconds): at a change of speaker, after a pause of ``PAUSE_S``, or at a sentence end once it
    is ``LONG_PARAGRAPH_S`` long."""
    if segment.speaker != previous.speaker or segment.start - previous.end >= PAUSE_S:
        return True
    return previous.end - paragraph_start >= LONG_PARAGRAPH_S and previous.text.rstrip().endswith(SENTENCE_END)


def paragraphs(segments: Sequence[Segment]) -> list[str]:
    """The text of ``segments`` (in time order) as paragraphs, each headed by its speaker when it has one
    (``Speaker 1: …``); segments without text are skipped."""
    spoken = [s for s in segments if s.text.strip()]
    result: list[list[str]] = []
    previous: Segment | None = None
    paragraph_start = 0.0
    for segment in spoken:
        if previous is None or starts_paragraph(previous, segment, paragraph_start):
            result.append([f"{segment.speaker}:"] if segment.speaker else [])
            paragraph_start = segment.start
        result[-1].append(segment.text.strip())
        previous = segment
    return [" ".join(words) for words in result]


def paragraph_text(segments: Sequence[Segment]) -> str:
    """The transcript text: paragraphs separated by a blank line."""
    return "\n\n".join(paragraphs(segments))
