"""The results the app hands around: words, segments and transcripts, and the state of a model in the store."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Word:
    """One recognised word with its start and end in seconds from the start of the file.

    ``speaker`` is the label of who said it (``"Speaker 1"``, or the name given to that speaker) when the
    speakers were identified, else None.
    """

    text: str
    start: float
    end: float
    speaker: str | None = None


@dataclass(frozen=True)
class Segment:
    """A stretch of the transcript with its times in seconds.

    ``words`` is empty when the model gives no word times (Canary: its segments are the
    windows the audio was cut into, so their times are window-level, not word-level). ``speaker`` is who
    speaks in it when the speakers were identified (one speaker per segment), else None.
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    edited: bool = False  # changed by hand in the page's editor (said in the JSON when true)


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of time in which one speaker talks, as the diarizer found it (turns of two speakers may overlap)."""

    start: float
    end: float
    speaker: str


@dataclass
class Transcript:
    """What one file turned into, and what it cost."""

    text: str
    segments: list[Segment]
    model: str  # registry key, e.g. "parakeet"
    model_name: str  # display name, e.g. "Parakeet-TDT-0.6B-v2"
    audio_duration: float  # seconds of audio
    processing_time: float  # seconds spent decoding + transcribing
    device: str  # "cuda:0 (NVIDIA H100)", "cpu"
    timestamp_level: str  # "word" (Parakeet) or "window" (Canary)
    source: str = ""  # file name the user gave (no folders)
    peak_gpu_memory_mb: float | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "long audio: local attention"
    speakers: list[str] = field(default_factory=list)  # speaker labels in order of first speech (when identified)
    speaker_turns: list[SpeakerTurn] = field(default_factory=list)  # the diarizer's turns (when identified)

    @property
    def words(self) -> list[Word]:
        """All words of all segments, in order."""
        return [w for s in self.segments for w in s.words]

    @property
    def real_time_factor(self) -> float:
        """Processing time divided by audio duration (below 1 is faster than real time)."""
        return self.processing_time / self.audio_duration if self.audio_duration > 0 else 0.0

    def to_dict(self) -> dict:
        """A JSON-ready dict of everything above, words included; times in seconds rounded to the millisecond. The
        speaker fields are there only when the speakers were identified."""
        d = asdict(self)
        for segment in d["segments"]:
            _round_times(segment)
            if not segment["edited"]:
                del segment["edited"]
            for word in segment["words"]:
                _round_times(word)
        d["audio_duration"] = round(self.audio_duration, 3)
        d["processing_time"] = round(self.processing_time, 3)
        d["real_time_factor"] = round(self.real_time_factor, 6)
        if self.peak_gpu_memory_mb is not None:
            d["peak_gpu_memory_mb"] = round(self.peak_gpu_memory_mb, 1)
        if not self.speakers:
            del d["speakers"], d["speaker_turns"]
            for segment in d["segments"]:
                del segment["speaker"]
                for word in segment["words"]:
                    del word["speaker"]
        return d


def _round_times(item: dict) -> None:
    """``start`` and ``end`` to the millisecond (``2.8``, not ``2.8000000000000003``)."""
    item["start"], item["end"] = round(item["start"], 3), round(item["end"], 3)


class ModelState(enum.Enum):
    """Where a model stands in the store."""

    NOT_INSTALLED = "not installed"
    NOT_LOADED = "not loaded"
    LOADING = "loading…"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class ModelStatus:
    """A model's state, the device and dtype it is ready on, and (when it failed) the first line of why."""

    state: ModelState
    device: str = ""  # "CPU", "GPU (NVIDIA H100 80GB HBM3)" when ready
    detail: str = ""  # the failure, when failed
    dtype: str = ""  # "float32", "bfloat16" when ready

    @property
    def ready(self) -> bool:
        """True when the model is in memory and can be used at once."""
        return self.state is ModelState.READY

    def __str__(self) -> str:
        if self.state is ModelState.READY:
            precision = f" in {self.dtype}" if self.dtype and self.dtype != "float32" else ""
            return f"ready on {self.device}{precision}"
        if self.state is ModelState.FAILED:
            return f"failed: {self.detail}"
        return self.state.value


Progress = Callable[[float, str], None]  # (fraction done 0..1, what is happening)
