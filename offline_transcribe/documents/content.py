"""What a transcript document says: a title (the file's name), the date, the model, the duration, then timed
paragraphs, each with its speaker when the speakers were identified. Paragraphs break where ``paragraphs`` breaks
the transcript text (a change of speaker, a long pause, a long run)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from ..paragraphs import starts_paragraph
from ..types import Transcript


@dataclass(frozen=True)
class Paragraph:
    """A paragraph's start in seconds, its speaker (or None) and its text."""

    start: float
    speaker: str | None
    text: str

    @property
    def stamp(self) -> str:
        """``[mm:ss]`` (``[h:mm:ss]`` from an hour on)."""
        m, s = divmod(int(self.start), 60)
        h, m = divmod(m, 60)
        return f"[{h}:{m:02d}:{s:02d}]" if h else f"[{m:02d}:{s:02d}]"


@dataclass(frozen=True)
class Heading:
    """A document's title and the facts under it."""

    title: str
    facts: tuple[tuple[str, str], ...]  # ("Date", "2026-12-06"), ("Model", …), ("Duration", "3:05")


def heading(t: Transcript, today: dt.date | None = None) -> Heading:
    """The title (the source file's name) and the date, model and duration."""
    seconds = int(round(t.audio_duration))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    duration = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    facts = [("Date", (today or dt.date.today()).isoformat()), ("Model", t.model_name), ("Duration", duration)]
    if t.speakers:
        facts.append(("Speakers", ", ".join(t.speakers)))
    return Heading(Path(t.source).name or "Transcript", tuple(facts))


def timed_paragraphs(t: Transcript) -> list[Paragraph]:
    """The transcript's paragraphs with their start times and speakers (segments without text left out)."""
    out: list[Paragraph] = []
    current: list[str] = []
    start, speaker, paragraph_start, previous = 0.0, None, 0.0, None
    for seg in (s for s in t.segments if s.text.strip()):
        if previous is None or starts_paragraph(previous, seg, paragraph_start):
            if current:
                out.append(Paragraph(start, speaker, " ".join(current)))
            current, start, speaker, paragraph_start = [], seg.start, seg.speaker, seg.start
        current.append(seg.text.strip())
        previous = seg
    if current:
        out.append(Paragraph(start, speaker, " ".join(current)))
    return out
