"""The backend protocol: what the store and the transcriber need from a model family."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..config import LongAudioPolicy, Precision
from ..models.registry import ModelSpec
from ..types import Progress, Segment, Word

if TYPE_CHECKING:
    import torch


class Backend(Protocol):
    """A model family: how its stored files become a model, and how that model turns audio into segments.

    ``load`` raises the file layer's errors (``ModelFilesInvalidError`` naming the damaged file, ``ModelLoadError``)
    with the command that fixes them; ``transcribe`` appends what the user should know to ``notes``.
    """

    name: str
    streaming: bool  # it can transcribe audio while it arrives (``StreamingBackend``)
    word_timestamps: bool  # segments carry their words with times; otherwise segment times only
    timestamps: str  # what the page says about them: "per word and segment"
    loaded_as: str  # what the page says about how the files become a model
    speed_guess: dict[str, float]  # by device type ("cpu", "cuda"): seconds of audio per second, until one is measured

    def dtype(self, precision: Precision, device: str) -> torch.dtype:
        """The dtype the model runs in on ``device`` for the app's precision setting."""
        ...

    def load(self, spec: ModelSpec, models_dir: Path, device: str, dtype: torch.dtype) -> Any:
        """Build the model from its files in ``models_dir``, on ``device`` in ``dtype``, in eval mode."""
        ...

    def transcribe(
        self, model: Any, audio: np.ndarray, policy: LongAudioPolicy, progress: Progress, notes: list[str]
    ) -> list[Segment]:
        """16 kHz mono float32 ``audio`` to timed segments; ``progress(fraction, message)`` as it goes."""
        ...

    def long_audio_note(self, policy: LongAudioPolicy) -> str:
        """One sentence for the page on what this family does with long audio."""
        ...


@dataclass(frozen=True)
class StreamContext:
    """How much audio each step of a live stream decodes (``chunk_s``) and sees around it, in seconds.

    Words in a chunk are final once the chunk and ``right_s`` after it have arrived (plus the step's compute);
    ``left_s`` of audio before the chunk only improves the recognition.
    """

    chunk_s: float
    left_s: float
    right_s: float

    @property
    def latency_s(self) -> float:
        """Audio that must arrive after a word before it is committed (compute not counted)."""
        return self.chunk_s + self.right_s

    def __str__(self) -> str:
        return f"chunk {self.chunk_s:g} s, left {self.left_s:g} s, right {self.right_s:g} s"


@dataclass(frozen=True)
class StreamStep:
    """What one step of a stream found: new words that will not change, and the words heard after them so far."""

    committed: tuple[Word, ...]
    tentative: tuple[Word, ...]  # replaced by the next step's
    decoded_s: float  # audio decoded for good, from the start of the stream


class ChunkStream(Protocol):
    """One live stream through a model: audio in (``accept``), words out step by step.

    A step costs the same however long the stream runs (the audio it keeps and decodes is bounded by the context).
    The model is handed to every step, so a stream never holds it between steps.
    """

    context: StreamContext  # as used (rounded to the model's frames)

    def accept(self, audio: np.ndarray) -> None:
        """Append 16 kHz mono float32 samples."""
        ...

    def ready(self) -> bool:
        """True when enough audio has arrived for the next step."""
        ...

    def step(self, model: Any) -> StreamStep:
        """Decode the next chunk (call only when ``ready()``)."""
        ...

    def finish(self, model: Any) -> StreamStep:
        """Decode everything left as the last chunk; every word is committed."""
        ...


class StreamingBackend(Backend, Protocol):
    """A backend whose models can transcribe live (``streaming = True``)."""

    def stream_context(self, device: str) -> StreamContext:
        """The default context on ``device`` (chosen from measurements: see ``docs/benchmarks.md``)."""
        ...

    def open_stream(self, model: Any, context: StreamContext) -> ChunkStream:
        """A new stream through ``model`` with ``context`` (rounded to the model's frames)."""
        ...
