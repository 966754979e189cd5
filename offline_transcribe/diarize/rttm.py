"""RTTM, the standard file of speaker diarization (NIST Rich Transcription Time Marked).

One ``SPEAKER`` line per turn: ``SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>``, times in
seconds with three decimals. Fields are separated by spaces, so spaces inside the file name and the speaker
names become underscores (``Speaker_1``, ``Alice_Smith``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..types import SpeakerTurn

_SPACES = re.compile(r"\s+")


def rttm_token(text: str) -> str:
    """``text`` as one RTTM field (no spaces; ``<NA>`` when empty)."""
    return _SPACES.sub("_", text.strip()) or "<NA>"


def to_rttm(turns: Iterable[SpeakerTurn], uri: str) -> str:
    """The turns as RTTM lines (in time order) for the recording called ``uri``."""
    file_id = rttm_token(uri)
    lines = []
    for t in sorted(turns, key=lambda t: (t.start, t.end)):
        duration = max(0.0, t.end - t.start)
        lines.append(f"SPEAKER {file_id} 1 {t.start:.3f} {duration:.3f} <NA> <NA> {rttm_token(t.speaker)} <NA> <NA>\n")
    return "".join(lines)
