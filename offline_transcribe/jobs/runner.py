"""The local runner: a batch of decoded files through the model in this process, as ``Transcript`` objects.

A batch goes through the backend's ``transcribe_batch`` in one model call (``BatchingBackend``), then what
``transcribe.transcribe_audio`` does after its model call: times clamped to the audio, word times borrowed (Canary
from Parakeet), the vocabulary's replacements. A single file, a family without a batch call, speaker
identification or phrases to boost go through ``transcribe.transcribe_audio`` as before. When a batch call fails,
its files are done one at a time, so one bad file only fails itself. The runner knows nothing about names, formats
or the ledger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..audio import audio_duration, is_silent
from ..backends import get_backend
from ..backends.base import BatchingBackend
from ..config import LongAudioPolicy
from ..diarize import SpeakerOptions
from ..errors import AppError, CancelledError, LocalModelError, UnexpectedError
from ..models.registry import get_transcription_spec
from ..models.store import ModelStore
from ..paragraphs import paragraph_text
from ..transcribe import clamp_times, transcribe_audio
from ..types import Progress, Transcript
from ..vocabulary import Vocabulary
from ..vocabulary.apply import VocabularyRun
from ..wordtimes import borrow
from .batcher import Decoded

log = logging.getLogger("transcribe.jobs")


@dataclass
class Result:
    """A decoded file's transcript, or the message saying why there is none."""

    decoded: Decoded
    transcript: Transcript | None = None
    error: str | None = None


class LocalRunner:
    """Transcribes batches with the store's model in this process."""

    def __init__(self, store: ModelStore, model_key: str, policy: LongAudioPolicy | None = None,
                 speakers: SpeakerOptions | None = None, vocabulary: Vocabulary | None = None) -> None:
        self.store, self.model_key, self.speakers, self.vocabulary = store, model_key, speakers, vocabulary
        self.policy = policy or LongAudioPolicy()
        self.spec = get_transcription_spec(model_key)
        self.backend = get_backend(self.spec.backend)

    @property
    def batches(self) -> bool:
        """True when files can share a model call (a family with a batch call, speakers not identified, no phrases
        to boost)."""
        return (isinstance(self.backend, BatchingBackend) and self.speakers is None
                and not (self.vocabulary and self.vocabulary.phrases))

    def run(self, batch: Sequence[Decoded], progress: Progress | None = None) -> list[Result]:
        """Each decoded file of ``batch`` transcribed (failed decodes passed through with their message);
        ``progress`` is handed to a file transcribed alone (a batch reports nothing until it ends)."""
        results = [Result(d, error=d.error) for d in batch]
        todo = [r for r in results if r.decoded.audio is not None]
        if len(todo) > 1 and self.batches:
            try:
                self._batch(todo)
                return results
            except LocalModelError:
                raise
            except Exception as exc:  # one file may be the cause: do them one at a time
                log.warning("A batch of %d files failed (%s); transcribing them one at a time", len(todo), exc)
        for r in todo:
            self._single(r, progress)
        return results

    def _single(self, r: Result, progress: Progress | None = None) -> None:
        assert r.decoded.audio is not None
        started = time.perf_counter() - r.decoded.decode_s
        try:
            r.transcript = transcribe_audio(
                r.decoded.audio, self.model_key, store=self.store, policy=self.policy, source=r.decoded.item.name,
                started=started, speakers=self.speakers, vocabulary=self.vocabulary, progress=progress)
        except (LocalModelError, CancelledError):
            raise
        except AppError as exc:
            r.error = str(exc)
        except Exception:
            log.exception("Transcribing %s failed", r.decoded.item.path)
            r.error = str(UnexpectedError(
                f"Unexpected error while transcribing '{r.decoded.item.name}'. The details are in the log; please "
                "report them."))

    def _batch(self, todo: list[Result]) -> None:
        assert isinstance(self.backend, BatchingBackend)
        speech = [r for r in todo if not is_silent(r.decoded.audio)]
        notes: dict[int, list[str]] = {id(r): [] for r in todo}
        segments: list = []
        wall, device = 0.0, "—"
        if speech:
            with self.store.use(self.model_key) as loaded:
                started = time.perf_counter()
                segments = self.backend.transcribe_batch(loaded.model, [r.decoded.audio for r in speech], self.policy,
                                                         [notes[id(r)] for r in speech])
                segments = [clamp_times(segs, audio_duration(r.decoded.audio)) for r, segs in zip(speech, segments,
                                                                                                  strict=True)]
                wall = time.perf_counter() - started
                total = sum(r.decoded.duration for r in speech)
                loaded.record_speed(total, wall)
                device = loaded.device_label
        by_id = {id(r): segs for r, segs in zip(speech, segments, strict=True)}
        total = sum(r.decoded.duration for r in speech) or 1.0
        lender = borrow.lender(self.spec, self.store, self.policy)
        for r in todo:
            duration = audio_duration(r.decoded.audio)
            segs = by_id.get(id(r))
            file_notes = notes[id(r)] if segs is not None else ["No speech found: the audio is silent."]
            after = time.perf_counter()
            borrowed = False
            if segs and lender is not None:  # what transcribe_audio does after its model call, file by file
                segs = borrow.borrow(self.store, lender, r.decoded.audio, segs, self.policy, lambda f, m: None,
                                     file_notes, self.spec.display_name)
                borrowed = True
            if segs is not None:
                segs = VocabularyRun(self.backend, self.vocabulary, self.spec.display_name, file_notes).finish(segs)
            r.transcript = Transcript(
                text=paragraph_text(segs or []), segments=segs or [], model=self.spec.key,
                model_name=self.spec.display_name, audio_duration=duration,
                processing_time=r.decoded.decode_s + wall * duration / total + time.perf_counter() - after,
                device=device if segs is not None else "—",
                timestamp_level="word" if self.backend.word_timestamps or borrowed else "window",
                source=r.decoded.item.name, notes=file_notes)
