"""What the transcript editor shows and what its edits do to a transcript, without Gradio.

``file_value`` is one file's part of the editor's data for the browser: its name, the address of its audio and
its segments (times, text, speaker, words with their times). ``apply_edits(transcript, edits)`` takes what the
browser sends back (each segment's text and speaker) and returns the transcript with them: a segment whose text
changed is marked ``edited``; its words keep their own times when their number did not change, and are otherwise
re-timed inside the segment's span in proportion to their length. A changed speaker moves the segment, its
words and its span of the speaker turns (the RTTM) to that speaker.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...paragraphs import paragraph_text
from ...types import Segment, SpeakerTurn, Transcript, Word

MAX_TEXT = 5000  # characters of one segment's text: an edit longer than this is not a correction


class EditError(ValueError):
    """Edits the editor cannot apply (a stale page, a hand-made request): the message says what to do."""


def audio_url(path: Path | str | None) -> str:
    """The page's address of an uploaded file (Gradio's file route), or "" without one."""
    if not path:
        return ""
    return "gradio_api/file=" + urllib.parse.quote(str(path))


def _segment_value(seg: Segment) -> dict[str, Any]:
    return {
        "start": round(seg.start, 3), "end": round(seg.end, 3), "text": seg.text.strip(), "speaker": seg.speaker,
        "edited": seg.edited, "words": [[w.text, round(w.start, 3), round(w.end, 3)] for w in seg.words],
    }


def file_value(name: str, audio: Path | str | None, t: Transcript) -> dict[str, Any]:
    """One file's part of the editor's data."""
    return {"name": name, "audio": audio_url(audio), "speakers": list(t.speakers),
            "segments": [_segment_value(seg) for seg in t.segments]}


def retime(words: list[str], start: float, end: float, speaker: str | None) -> tuple[Word, ...]:
    """``words`` spread over ``[start, end]`` in proportion to their length (a space counted after each)."""
    weights = [len(w) + 1 for w in words]
    total = sum(weights) or 1
    out, at = [], start
    for word, weight in zip(words, weights, strict=True):
        span = (end - start) * weight / total
        out.append(Word(word, round(at, 3), round(at + span, 3), speaker))
        at += span
    return tuple(out)


def edit_segment(seg: Segment, text: str, speaker: str | None) -> Segment:
    """``seg`` with ``text`` and ``speaker`` (unchanged when both are the same)."""
    text = " ".join(text.split())
    if text == seg.text.strip() and speaker == seg.speaker:
        return seg
    new_words = text.split()
    if text == seg.text.strip():
        words = tuple(replace(w, speaker=speaker) for w in seg.words)
    elif seg.words and len(new_words) == len(seg.words):  # the same number of words: each keeps its time
        words = tuple(replace(w, text=n, speaker=speaker) for w, n in zip(seg.words, new_words, strict=True))
    elif seg.words:
        words = retime(new_words, seg.start, seg.end, speaker)
    else:  # a model without word times (Canary's windows): the segment stays one span
        words = ()
    edited = seg.edited or text != seg.text.strip()
    return replace(seg, text=text, speaker=speaker, words=words, edited=edited)


def reassign_turns(turns: list[SpeakerTurn], start: float, end: float, old: str | None, new: str
                   ) -> list[SpeakerTurn]:  # fmt: skip
    """The speaker turns with ``[start, end]`` moved from ``old`` to ``new`` (a segment whose speaker was changed):
    ``old``'s turns lose that span, ``new`` gets it, joined to its turns that touch it (the RTTM follows)."""
    out: list[SpeakerTurn] = []
    for turn in turns:
        if turn.speaker != old or turn.end <= start or turn.start >= end:
            out.append(turn)
            continue
        if turn.start < start:
            out.append(SpeakerTurn(turn.start, start, turn.speaker))
        if turn.end > end:
            out.append(SpeakerTurn(end, turn.end, turn.speaker))
    joined = SpeakerTurn(start, end, new)
    for turn in [u for u in out if u.speaker == new and u.start <= end and u.end >= start]:
        out.remove(turn)
        joined = SpeakerTurn(min(joined.start, turn.start), max(joined.end, turn.end), new)
    return sorted([*out, joined], key=lambda u: (u.start, u.end, u.speaker))


def apply_edits(t: Transcript, edits: list[dict[str, Any]]) -> Transcript:
    """The transcript with each segment's text and speaker as ``edits`` gives them (one entry per segment, in
    order). Raises ``EditError`` when they do not fit the transcript."""
    if not isinstance(edits, list) or len(edits) != len(t.segments):
        raise EditError("The editor's segments no longer match this transcript: transcribe again, or reload the "
                        "page and edit the latest transcript.")
    segments, turns = [], list(t.speaker_turns)
    for i, (seg, edit) in enumerate(zip(t.segments, edits, strict=True)):
        text, speaker = (edit.get("text"), edit.get("speaker", seg.speaker)) if isinstance(edit, dict) else (0, 0)
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise EditError(f"Segment {i + 1}: the text must be at most {MAX_TEXT:,} characters.")
        if speaker is not None and (not isinstance(speaker, str) or (t.speakers and speaker not in t.speakers)):
            raise EditError(f"Segment {i + 1}: choose one of the transcript's speakers.")
        new = edit_segment(seg, text, speaker if t.speakers else seg.speaker)
        if new.speaker != seg.speaker and new.speaker is not None:
            turns = reassign_turns(turns, seg.start, seg.end, seg.speaker, new.speaker)
        segments.append(new)
    return replace(t, segments=segments, text=paragraph_text(segments), speaker_turns=turns)
