"""Speaker identification inside a transcription: run the diarizer from the store, then put the speakers on the
transcript. ``transcribe.transcribe_audio`` calls these three functions and nothing else from this package."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..audio import audio_duration
from ..backends import get_backend
from ..backends.base import Backend
from ..config import LongAudioPolicy
from ..models.registry import DIARIZER, get_spec
from ..models.store import ModelStore
from ..progress import Estimate
from ..types import Progress, Segment
from .attribute import speaker_segments, words_to_speakers
from .options import SpeakerOptions
from .sortformer import diarize_audio
from .turns import Diarization, speaker_label

DIARIZE_SHARE = 0.25  # of the progress bar: diarization comes first, then the transcription


def scaled(progress: Progress, lo: float, hi: float) -> Progress:
    """``progress`` for a part of the job that covers ``lo``..``hi`` of the bar."""
    return lambda fraction, message: progress(lo + (hi - lo) * min(max(fraction, 0.0), 1.0), message)


def identify_speakers(
    store: ModelStore, audio: np.ndarray, options: SpeakerOptions, progress: Progress, notes: list[str]
) -> Diarization:
    """Who speaks when, with the store's diarizer (loaded on first use: its load time is noted, not counted)."""
    spec = get_spec(DIARIZER)
    backend = get_backend(spec.backend)
    started = time.perf_counter()
    if not store.status(DIARIZER).ready:
        with Estimate(progress, 0.02, 0.02, None) as loading:
            loading(0.02, f"Loading {spec.display_name} (first use)")
            store.load(DIARIZER)
    if (seconds := time.perf_counter() - started) > 0.5:
        notes.append(f"Speaker model loaded in {seconds:.1f} s (first use).")
    duration = audio_duration(audio)
    with store.use(DIARIZER) as loaded:
        guess = backend.speed_guess.get(loaded.device.split(":")[0], min(backend.speed_guess.values()))
        with Estimate(progress, 0.03, DIARIZE_SHARE, duration / (loaded.speed or guess)) as run:
            diarization = diarize_audio(loaded.model, audio, options, options.policy, scaled(run, 0.03, DIARIZE_SHARE))
        loaded.record_speed(duration, run.elapsed)
    notes.extend(diarization.notes)
    return diarization


def transcribe_with_speakers(
    backend: Backend,
    model: Any,
    audio: np.ndarray,
    diarization: Diarization,
    options: SpeakerOptions,
    policy: LongAudioPolicy,
    progress: Progress,
    notes: list[str],
) -> list[Segment]:
    """The backend's segments, one speaker each (``attribute.speaker_segments``)."""
    part = scaled(progress, DIARIZE_SHARE, 1.0)
    return speaker_segments(backend, model, audio, diarization, policy, options.policy, part, notes)


def speakers_per_word(segments: list[Segment], diarization: Diarization) -> list[Segment]:
    """Word-timed segments (a model's own, or borrowed) with every word's speaker, cut where the speaker changes."""
    return words_to_speakers(segments, diarization)


def speaker_fields(segments: list[Segment], diarization: Diarization, notes: list[str]) -> dict[str, Any]:
    """``speakers`` and ``speaker_turns`` of the transcript."""
    speakers = list(diarization.speakers)
    if {s.speaker for s in segments if s.speaker} - set(speakers):  # words the diarizer heard no one say
        notes.append("The speaker model heard no one speaking; the whole transcript is given to one speaker.")
        speakers = [speaker_label(0)]
    return {"speakers": speakers, "speaker_turns": list(diarization.turns)}
