"""The backend protocol: what the store and the transcriber need from a model family."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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


@dataclass(frozen=True)
class ChatTurn:
    """One message of a conversation with an LLM: ``role`` is "system", "user" or "assistant"."""

    role: str
    content: str


@dataclass(frozen=True)
class Generated:
    """What one LLM call gave: the new token ids (end-of-text token left out) and why it stopped."""

    ids: tuple[int, ...]
    finish_reason: str  # "stop" (the model ended its answer), "length" (max_new_tokens reached), "cancelled"


@runtime_checkable
class TextLlm(Protocol):
    """A family whose model can also answer about text with its LLM alone, no audio (a registry entry's
    ``llm_name`` names that mode). The caller holds the model for the call (``ModelStore.use``)."""

    def context_tokens(self, model: Any) -> int:
        """How many tokens (prompt and answer together) the LLM was made to read."""
        ...

    def count_tokens(self, model: Any, text: str) -> int:
        """``text``'s length in the LLM's tokens."""
        ...

    def chat_prompt(self, model: Any, turns: Sequence[ChatTurn]) -> list[int]:
        """The token ids that ask the LLM for the next assistant message after ``turns`` (thinking off)."""
        ...

    def generate_text(
        self, model: Any, prompt: Sequence[int], max_new_tokens: int,
        on_token: Callable[[int], None] | None = None, cancelled: Callable[[], bool] | None = None,
    ) -> Generated:
        """Greedy answer to ``prompt``, each new token passed to ``on_token`` as it comes; stops early (with
        ``finish_reason="cancelled"``) once ``cancelled()`` is true."""
        ...

    def decode_text(self, model: Any, ids: Sequence[int]) -> str:
        """Token ids to text (special tokens left out)."""
        ...
