"""Speakers onto the transcript, and new names for them.

* Models with word times (Parakeet): every word goes to the speaker whose turn overlaps it most (the nearest
  turn when none does), and segments are cut where the speaker changes.
* Models without them (Canary): the audio is cut at the diarized turns (a speaker's turns close together
  merged, anything longer than the model's window split at a quiet point) and each piece is transcribed, so
  every segment has one speaker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from ..audio import SAMPLE_RATE, audio_duration
from ..backends.base import Backend
from ..backends.windows import quiet_cuts
from ..config import LongAudioPolicy
from ..paragraphs import paragraph_text
from ..types import Progress, Segment, SpeakerTurn, Transcript, Word
from .options import DiarizationPolicy
from .turns import Diarization

Window = tuple[float, float, str]  # start, end (seconds), speaker


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def speaker_of(start: float, end: float, turns: Sequence[SpeakerTurn]) -> str | None:
    """The speaker whose turns overlap ``[start, end]`` most; with no overlap, the speaker of the nearest turn."""
    if not turns:
        return None
    talk: dict[str, float] = {}
    for t in turns:
        if t.start < end and t.end > start:
            talk[t.speaker] = talk.get(t.speaker, 0.0) + _overlap(start, end, t.start, t.end)
    if talk:
        return max(talk, key=lambda s: talk[s])
    middle = (start + end) / 2
    return min(turns, key=lambda t: max(t.start - middle, middle - t.end)).speaker


def assign_words(segments: Sequence[Segment], turns: Sequence[SpeakerTurn]) -> list[Segment]:
    """Each word gets its speaker; each segment is cut where the speaker changes (one speaker per segment)."""
    out: list[Segment] = []
    for seg in segments:
        words = [dataclasses.replace(w, speaker=speaker_of(w.start, w.end, turns)) for w in seg.words]
        if not words:
            out.append(dataclasses.replace(seg, speaker=speaker_of(seg.start, seg.end, turns)))
            continue
        run: list[Word] = []
        for word in words:
            if run and word.speaker != run[-1].speaker:
                out.append(_segment(run))
                run = []
            run.append(word)
        out.append(_segment(run))
    return out


def _segment(words: list[Word]) -> Segment:
    return Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words), words[0].speaker)


def turn_windows(
    turns: Sequence[SpeakerTurn], audio: np.ndarray, max_window_s: float, policy: DiarizationPolicy
) -> list[Window]:
    """The stretches to transcribe one by one: a speaker's consecutive turns less than ``turn_merge_gap_s`` apart
    joined (while they fit in ``max_window_s``), a little silence kept around each, longer ones cut at quiet points."""
    merged: list[list] = []
    for t in sorted(turns, key=lambda t: t.start):
        last = merged[-1] if merged else None
        if (last and last[2] == t.speaker and t.start - last[1] < policy.turn_merge_gap_s
                and t.end - last[0] <= max_window_s):  # fmt: skip
            last[1] = max(last[1], t.end)
        else:
            merged.append([t.start, t.end, t.speaker])
    duration = audio_duration(audio)
    windows: list[Window] = []
    for start, end, speaker in merged:
        start, end = max(0.0, start - policy.turn_pad_s), min(duration, end + policy.turn_pad_s)
        if end - start <= max_window_s:
            windows.append((start, end, speaker))
            continue
        piece = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        windows += [(start + a, start + b, speaker) for a, b in quiet_cuts(piece, max_window_s)]
    return windows


def speaker_segments(
    backend: Backend,
    model: object,
    audio: np.ndarray,
    diarization: Diarization,
    policy: LongAudioPolicy,
    diar_policy: DiarizationPolicy,
    progress: Progress,
    notes: list[str],
) -> list[Segment]:
    """The transcript's segments with their speakers, for any backend (see the module docstring)."""
    if backend.word_timestamps:
        return words_to_speakers(backend.transcribe(model, audio, policy, progress, notes), diarization)
    windows = turn_windows(diarization.turns, audio, policy.canary_window_s, diar_policy)
    if not windows:
        return [_all_to(seg, "Speaker 1") for seg in backend.transcribe(model, audio, policy, progress, notes)]
    notes.append(f"Transcribed turn by turn: {len(windows)} pieces cut at the speaker turns.")
    pieces = backend.transcribe_windows(model, audio, [(s, e) for s, e, _ in windows], policy, progress, notes)
    return [dataclasses.replace(seg, speaker=spk) for seg, (_, _, spk) in zip(pieces, windows, strict=True) if seg.text]


def words_to_speakers(segments: list[Segment], diarization: Diarization) -> list[Segment]:
    """Word-timed segments with their words' speakers (``assign_words``); with no turns, all to one speaker."""
    if not diarization.turns:  # speech the diarizer did not hear: one speaker, so that every word has one
        return [_all_to(seg, "Speaker 1") for seg in segments]
    return assign_words(segments, diarization.turns)


def _all_to(seg: Segment, speaker: str) -> Segment:
    words = tuple(dataclasses.replace(w, speaker=speaker) for w in seg.words)
    return dataclasses.replace(seg, words=words, speaker=speaker)


def clean_names(speakers: Sequence[str], names: Mapping[str, str]) -> dict[str, str]:
    """The renaming to apply: blank names keep the label, names are stripped and made one line. Two speakers given
    the same name become one (that is how a person the model split in two is put together again)."""
    return {label: " ".join(str(names.get(label) or "").split()) or label for label in speakers}


def rename_speakers(t: Transcript, names: Mapping[str, str]) -> Transcript:
    """A copy of ``t`` with its speakers renamed (``{"Speaker 1": "Alice"}``) everywhere: segments, words, turns,
    the speaker list and the text."""
    mapping = clean_names(t.speakers, names)

    def new(label: str | None) -> str | None:
        return mapping.get(label, label) if label is not None else None

    segments = [
        dataclasses.replace(
            seg,
            speaker=new(seg.speaker),
            words=tuple(dataclasses.replace(w, speaker=new(w.speaker)) for w in seg.words),
        )
        for seg in t.segments
    ]
    return dataclasses.replace(
        t,
        segments=segments,
        text=paragraph_text(segments),
        speakers=list(dict.fromkeys(mapping[s] for s in t.speakers)),  # a name given twice is one speaker
        speaker_turns=[dataclasses.replace(u, speaker=mapping.get(u.speaker, u.speaker)) for u in t.speaker_turns],
        notes=list(t.notes),
    )
