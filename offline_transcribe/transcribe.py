"""Audio in, ``Transcript`` out: decoding, the model from the store, its backend, and what it cost.

``transcribe_file`` and ``transcribe_audio`` are what the page, the command line and the batch layer call.
The model family is the backend's business; here every model is handled alike.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE, audio_duration, is_silent, load_audio
from .backends import get_backend
from .config import LongAudioPolicy
from .devices import free_accelerator_memory, gpu_memory_watch, is_out_of_memory
from .diarize import SpeakerOptions, pipeline
from .errors import GpuOutOfMemoryError
from .models.registry import DEFAULT_MODEL, get_transcription_spec
from .models.store import ModelStore
from .paragraphs import paragraph_text
from .progress import Estimate
from .types import Progress, Segment, Transcript
from .vocabulary import Vocabulary
from .vocabulary.apply import VocabularyRun
from .wordtimes import borrow


def _noop(fraction: float, message: str) -> None:
    pass


def transcribe_file(
    path: str | os.PathLike,
    model: str = DEFAULT_MODEL,
    *,
    store: ModelStore,
    policy: LongAudioPolicy | None = None,
    progress: Progress | None = None,
    max_seconds: float | None = None,
    speakers: SpeakerOptions | None = None,
    vocabulary: Vocabulary | None = None,
) -> Transcript:
    """Decode an audio or video file and transcribe it with the model ``model`` of ``store``.

    With ``speakers`` the store's diarizer identifies who speaks (``offline_transcribe.diarize``); with
    ``vocabulary`` its phrases are boosted and its replacements applied (``offline_transcribe.vocabulary``).
    Raises ``AppError`` subclasses with a message for the user: unreadable or too-long audio,
    missing or damaged model files, GPU out of memory.
    """
    progress = progress or _noop
    started = time.perf_counter()
    progress(0.0, f"Decoding {Path(path).name}")
    audio = load_audio(path, SAMPLE_RATE, max_seconds=max_seconds)
    return transcribe_audio(
        audio, model, store=store, policy=policy, progress=progress, source=Path(path).name, started=started,
        speakers=speakers, vocabulary=vocabulary,
    )  # fmt: skip


def clamp_times(segments: list[Segment], duration: float) -> list[Segment]:
    """The segments with every time inside the audio, ``[0, duration]``: a model's frames can run past the end of
    very short audio (the encoder's padding), and no segment or word may start after the audio ends."""

    def inside(t: float) -> float:
        return min(max(t, 0.0), duration)

    return [
        replace(seg, start=inside(seg.start), end=inside(seg.end),
                words=tuple(replace(w, start=inside(w.start), end=inside(w.end)) for w in seg.words))
        for seg in segments
    ]


def transcribe_audio(
    audio: np.ndarray,
    model: str = DEFAULT_MODEL,
    *,
    store: ModelStore,
    policy: LongAudioPolicy | None = None,
    progress: Progress | None = None,
    source: str = "",
    started: float | None = None,
    speakers: SpeakerOptions | None = None,
    vocabulary: Vocabulary | None = None,
) -> Transcript:
    """Transcribe 16 kHz mono float32 audio with the model ``model`` of ``store``.

    ``started`` (``time.perf_counter()``) counts earlier work, such as decoding, into the processing time.
    With ``speakers``, speakers are identified first and every segment and word gets its speaker.
    """
    progress = progress or _noop
    policy = policy or LongAudioPolicy()
    spec = get_transcription_spec(model)
    backend = get_backend(spec.backend)
    started = started if started is not None else time.perf_counter()
    duration = audio_duration(audio)
    notes: list[str] = []
    vocab = VocabularyRun(backend, vocabulary, spec.display_name, notes)
    device, peak_mb = "—", None
    segments: list[Segment] = []
    diarization, speaker_info = None, {}
    lender = borrow.lender(spec, store, policy)  # a model lending its word times (Canary: Parakeet), or None
    borrowed = False
    if is_silent(audio):
        notes.append("No speech found: the audio is silent.")
    else:
        if speakers is not None:
            diarization = pipeline.identify_speakers(store, audio, speakers, progress, notes)
        first = 0.02 if diarization is None else pipeline.DIARIZE_SHARE  # of the bar: the transcription's start
        load_started = time.perf_counter()
        if not store.status(model).ready:
            with Estimate(progress, first, first, None) as loading:
                loading(first, f"Loading {spec.display_name} (first use)")
                store.load(model)  # measured apart, so that processing time is the transcription's own
        load_seconds = time.perf_counter() - load_started
        if load_seconds > 0.5:
            notes.append(f"Model loaded in {load_seconds:.1f} s (first use).")
            started += load_seconds
        with store.use(model) as loaded:
            # Speed (audio seconds per second) measured on this machine; none yet: no time left is shown until the
            # work's own reports measure it (``Estimate``), since a guess can be wrong by a factor of ten.
            expected_s = duration / loaded.speed if loaded.speed else None
            with (
                gpu_memory_watch(loaded.device) as peak,
                Estimate(progress, first + 0.03, 0.95, expected_s) as run,
                vocab.boosting(loaded.model),
            ):
                try:
                    if diarization is None or lender is not None:  # (with word times: speakers per word, below)
                        segments = backend.transcribe(loaded.model, audio, policy, run, notes)
                    else:
                        segments = pipeline.transcribe_with_speakers(
                            backend, loaded.model, audio, diarization, speakers, policy, run, notes
                        )
                except Exception as exc:
                    if is_out_of_memory(exc):
                        # The failed frames (and the GPU tensors their locals hold) live as long as the traceback:
                        # clear them first, or the memory cannot go back to the driver.
                        traceback.clear_frames(exc.__traceback__)
                        free_accelerator_memory()
                        raise GpuOutOfMemoryError(
                            f"The GPU ran out of memory while transcribing {source or 'the audio'} "
                            f"({duration / 60:.1f} min with {spec.display_name}). The memory has been freed and the "
                            f"app keeps running: try again, close other programs using the GPU, or split the file."
                        ) from exc
                    raise
            segments = clamp_times(segments, duration)
            loaded.record_speed(duration, run.elapsed)
            device, peak_mb = loaded.device_label, peak.get("mb")
        if lender is not None and segments:  # (nothing heard: no second pass)
            segments = borrow.borrow(store, lender, audio, segments, policy, progress, notes, spec.display_name)
            borrowed = True
        if diarization is not None and lender is not None:
            segments = pipeline.speakers_per_word(segments, diarization)
        segments = vocab.finish(segments)
        if diarization is not None:
            speaker_info = pipeline.speaker_fields(segments, diarization, notes)
    progress(1.0, "Done")
    return Transcript(
        text=paragraph_text(segments),
        segments=segments,
        model=spec.key,
        model_name=spec.display_name,
        audio_duration=duration,
        processing_time=time.perf_counter() - started,
        device=device,
        timestamp_level="word" if backend.word_timestamps or borrowed else "window",
        source=source,
        peak_gpu_memory_mb=peak_mb,
        notes=notes,
        **speaker_info,
    )
