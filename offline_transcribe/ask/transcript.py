"""The transcript as the LLM reads it: one line per segment, with its time, ``[mm:ss] text``.

Lines come from a ``Transcript`` (the page, ``--transcribe``), from the JSON the app writes (``--transcript``) or
from the page's segments table. A segment may carry its speaker (diarization, when it lands, names them): the line
is then ``[mm:ss] Name: text``, so that the LLM can say who said what. A question about several files gets their
lines under a heading per file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..types import Transcript


@dataclass(frozen=True)
class TimedText:
    """One segment of a transcript for the LLM: its times (seconds), its text, its file and its speaker."""

    start: float
    end: float
    text: str
    source: str = ""  # the file it was transcribed from (a heading when a question covers several)
    speaker: str = ""  # who says it, once segments carry speakers


def clock(seconds: float) -> str:
    """A time as the LLM reads and cites it: ``[03:07]``, from an hour on ``[1:02:03]``."""
    minutes, secs = divmod(int(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"[{hours}:{minutes:02d}:{secs:02d}]" if hours else f"[{minutes:02d}:{secs:02d}]"


def line(item: TimedText) -> str:
    """``[mm:ss] text`` or ``[mm:ss] Speaker: text``."""
    who = f"{item.speaker}: " if item.speaker else ""
    return f"{clock(item.start)} {who}{' '.join(item.text.split())}"


def render(items: Sequence[TimedText]) -> str:
    """The lines of ``items``, under a heading per file when they come from more than one."""
    sources = list(dict.fromkeys(item.source for item in items))
    if len(sources) < 2:
        return "\n".join(line(item) for item in items)
    blocks = []
    for source in sources:
        body = "\n".join(line(item) for item in items if item.source == source)
        blocks.append(f"File: {source}\n{body}")
    return "\n\n".join(blocks)


def from_transcript(transcript: Transcript) -> list[TimedText]:
    """The segments of a transcript that have text."""
    return [
        TimedText(seg.start, seg.end, seg.text.strip(), transcript.source, str(getattr(seg, "speaker", "") or ""))
        for seg in transcript.segments
        if seg.text.strip()
    ]


def from_json(data: Mapping[str, Any]) -> list[TimedText]:
    """The segments of a transcript JSON the app wrote (``exports.to_json``); raises ``ValueError`` when ``data``
    is not one."""
    segments = data.get("segments")
    if not isinstance(segments, list):
        raise ValueError("it has no 'segments' list (is it a JSON file this app wrote?)")
    items = []
    for seg in segments:
        try:
            text = str(seg["text"]).strip()
            start, end = float(seg["start"]), float(seg["end"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("a segment lacks its 'start', 'end' or 'text'") from None
        if text:
            items.append(TimedText(start, end, text, str(data.get("source") or ""), str(seg.get("speaker") or "")))
    return items


def span(items: Iterable[TimedText]) -> tuple[float, float]:
    """The first start and the last end of ``items``."""
    items = list(items)
    return (min(i.start for i in items), max(i.end for i in items)) if items else (0.0, 0.0)
