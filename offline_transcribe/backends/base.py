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


class Backend(Protocol):
    """A model family: how its stored files become a model, and how that model turns audio into segments.

    ``load`` raises the file layer's errors (``ModelFilesInvalidError`` naming the damaged file, ``ModelLoadError``)
    with the command that fixes them; ``transcribe`` appends what the user should know to ``notes``.
    """

    name: str
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
