"""An independent check of subtitle files: reads SRT with pysubs2 and WebVTT with webvtt-py (not the app's own
code) and asserts the limits of a ``SubtitleOptions`` preset on every cue."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pysubs2
import webvtt

from offline_transcribe.subtitles import SubtitleOptions

MS = 0.0015  # times are written to the millisecond


@dataclass(frozen=True)
class ReadCue:
    start: float
    end: float
    lines: list[str]
    voice: str | None = None


def read_srt(text: str) -> list[ReadCue]:
    subs = pysubs2.SSAFile.from_string(text, format_="srt")
    return [ReadCue(e.start / 1000, e.end / 1000, e.plaintext.split("\n")) for e in subs]


def _seconds(stamp: str) -> float:
    """``hh:mm:ss.mmm`` (or ``mm:ss.mmm``) in seconds (webvtt-py's own ``start_in_seconds`` is whole seconds)."""
    total = 0.0
    for part in stamp.split(":"):
        total = total * 60 + float(part)
    return total


def read_vtt(text: str) -> list[ReadCue]:
    return [
        ReadCue(_seconds(c.start), _seconds(c.end), c.text.split("\n"), c.voice)
        for c in webvtt.from_buffer(io.StringIO(text))
    ]


def check_cues(cues: list[ReadCue], o: SubtitleOptions, words: list[str] | None = None,
               until: float | None = None) -> None:  # fmt: skip
    """Assert every limit of ``o`` on ``cues``; with ``words``, that the cues hold exactly those words in order
    (none split, none lost)."""
    for k, cue in enumerate(cues):
        where = f"cue {k + 1} {cue.start:.3f}-{cue.end:.3f} {cue.lines!r}"
        duration = cue.end - cue.start
        assert 0 < duration <= o.max_cue_seconds + MS, where
        assert len(cue.lines) <= o.max_lines, where
        for line in cue.lines:
            assert line == line.strip() and line, where
            assert len(line) <= o.max_line_chars or " " not in line.split(":", 1)[-1].strip(), where
        nxt = cues[k + 1] if k + 1 < len(cues) else None
        if nxt is not None:
            assert nxt.start - cue.end >= o.min_gap_seconds - MS, where
        # As long as it may be: up against the next cue (less the gap), at the longest, or at the audio's end.
        at_limit = (
            (nxt is not None and nxt.start - cue.end <= o.min_gap_seconds + MS)
            or duration >= o.max_cue_seconds - MS
            or (nxt is None and until is not None and cue.end >= until - MS)
        )
        assert duration >= o.min_cue_seconds - MS or at_limit, where
        chars = sum(len(line) for line in cue.lines)
        assert chars / duration <= o.max_cps + 0.01 or at_limit, where
    if words is not None:
        said = [w for cue in cues for line in cue.lines for w in line.split()]
        assert said == words
