"""Speaker activity to speaker turns: thresholds, short pauses bridged, the number of speakers, their labels.

Sortformer gives, for every 80 ms frame, a probability per speaker output ("slot"), slots numbered in the
order speakers first speak. Here those become ``SpeakerTurn``s labelled ``Speaker 1``, ``Speaker 2``… in order
of first speech. Pure functions on numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..types import SpeakerTurn
from .options import MAX_SPEAKERS, DiarizationPolicy, SpeakerOptions

FRAME_S = 0.08  # one Sortformer output frame (10 ms features, 8x subsampling)


@dataclass(frozen=True)
class Diarization:
    """Who speaks when in one file: turns in time order, the speakers in order of first speech, notes."""

    turns: list[SpeakerTurn]
    speakers: list[str]
    notes: list[str] = field(default_factory=list)


def speaker_label(index: int) -> str:
    """``Speaker 1`` for index 0."""
    return f"Speaker {index + 1}"


def spans(active: np.ndarray, frame_s: float, min_pause_s: float, min_turn_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds of the runs of True frames; pauses shorter than ``min_pause_s`` are bridged, runs
    shorter than ``min_turn_s`` dropped."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    merged: list[list[float]] = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if merged and a * frame_s - merged[-1][1] < min_pause_s:
            merged[-1][1] = b * frame_s
        else:
            merged.append([a * frame_s, b * frame_s])
    return [(s, e) for s, e in merged if e - s >= min_turn_s]


def choose_slots(probs: np.ndarray, options: SpeakerOptions, policy: DiarizationPolicy) -> tuple[np.ndarray, list[str]]:
    """The activity of the speakers kept, ``[frames, speakers]``, and notes.

    ``auto``: every slot that talks at least ``min_speaker_s``. A number N: the N slots that talk most; speech
    that only a dropped slot heard goes to the kept slot most likely in that frame (so nothing said is lost).
    """
    notes: list[str] = []
    active = probs > policy.threshold
    talk_s = active.sum(axis=0) * FRAME_S
    if options.count is None:
        kept = [s for s in range(probs.shape[1]) if talk_s[s] >= policy.min_speaker_s]
        if len(kept) >= MAX_SPEAKERS:
            notes.append(
                f"{MAX_SPEAKERS} speakers found: the most this diarizer tells apart. If more people speak, some of "
                "them share a label."
            )
        return probs[:, kept], notes
    by_talk = sorted(range(probs.shape[1]), key=lambda s: -talk_s[s])
    kept = sorted(by_talk[: options.count])
    dropped = [s for s in range(probs.shape[1]) if s not in kept]
    out = probs[:, kept].copy()
    if dropped:
        other = probs[:, dropped].max(axis=1)
        orphan = (other > policy.threshold) & ~(out > policy.threshold).any(axis=1)
        best = out.argmax(axis=1)
        out[orphan, best[orphan]] = other[orphan]
    found = int((out > policy.threshold).any(axis=0).sum())
    if found < options.count:
        notes.append(f"Asked for {options.count} speakers; only {found} could be heard apart.")
    return out, notes


def turns_from_activity(
    probs: np.ndarray, options: SpeakerOptions, policy: DiarizationPolicy, frame_s: float = FRAME_S
) -> Diarization:
    """Speaker turns from per-frame, per-slot probabilities ``[frames, slots]`` (slots in order of arrival)."""
    kept, notes = choose_slots(probs, options, policy)
    per_slot = [spans(kept[:, s] > policy.threshold, frame_s, policy.min_pause_s, policy.min_turn_s)
                for s in range(kept.shape[1])]  # fmt: skip
    order = sorted((s for s in range(len(per_slot)) if per_slot[s]), key=lambda s: per_slot[s][0][0])
    labels = {slot: speaker_label(i) for i, slot in enumerate(order)}
    turns = sorted(
        (SpeakerTurn(round(a, 3), round(b, 3), labels[slot]) for slot in order for a, b in per_slot[slot]),
        key=lambda t: (t.start, t.end),
    )
    return Diarization(turns, [labels[s] for s in order], notes)
