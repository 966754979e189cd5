"""The backend protocol: what the store and the transcriber need from a model family."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..config import LongAudioPolicy, Precision
from ..models.registry import ModelSpec
from ..types import Progress, Segment

if TYPE_CHECKING:
    import torch


class Loader(Protocol):
    """How a model family's stored files become a model: all the store needs (transcribers and the diarizer).

    ``load`` raises the file layer's errors (``ModelFilesInvalidError`` naming the damaged file, ``ModelLoadError``)
    with the command that fixes them.
    """

    name: str
    loaded_as: str  # what the page says about how the files become a model
    speed_guess: dict[str, float]  # by device type ("cpu", "cuda"): seconds of audio per second, until one is measured

    def dtype(self, precision: Precision, device: str) -> torch.dtype:
        """The dtype the model runs in on ``device`` for the app's precision setting."""
        ...

    def load(self, spec: ModelSpec, models_dir: Path, device: str, dtype: torch.dtype) -> Any:
        """Build the model from its files in ``models_dir``, on ``device`` in ``dtype``, in eval mode."""
        ...


class Backend(Loader, Protocol):
    """A transcription model family: a ``Loader``, and how its model turns audio into segments.

    ``transcribe`` and ``transcribe_windows`` append what the user should know to ``notes``.
    """

    word_timestamps: bool  # segments carry their words with times; otherwise segment times only
    timestamps: str  # what the page says about them: "per word and segment"

    def transcribe(
        self, model: Any, audio: np.ndarray, policy: LongAudioPolicy, progress: Progress, notes: list[str]
    ) -> list[Segment]:
        """16 kHz mono float32 ``audio`` to timed segments; ``progress(fraction, message)`` as it goes."""
        ...

    def transcribe_windows(
        self,
        model: Any,
        audio: np.ndarray,
        windows: list[tuple[float, float]],
        policy: LongAudioPolicy,
        progress: Progress,
        notes: list[str],
    ) -> list[Segment]:
        """One segment for each (start, end) window of ``audio`` (seconds), in order, empty text where nothing was
        heard: how a family without word times transcribes given stretches, such as one speaker's turns."""
        ...

    def long_audio_note(self, policy: LongAudioPolicy) -> str:
        """One sentence for the page on what this family does with long audio."""
        ...
