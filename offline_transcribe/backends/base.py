"""The backend protocol: what the transcriber needs from a model family (the store needs only its ``Loader``
part, ``models.loading``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..config import LongAudioPolicy
from ..models.loading import Loader
from ..types import Progress, Segment, Word


class Backend(Loader, Protocol):
    """A transcription model family: a ``Loader``, and how its model turns audio into segments.

    ``transcribe`` and ``transcribe_windows`` append what the user should know to ``notes``.
    """

    streaming: bool  # it can transcribe audio while it arrives (``StreamingBackend``)
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


@runtime_checkable
class BatchingBackend(Protocol):
    """A backend that transcribes several short files in one model call (``jobs`` batches across files with it).

    The results must be those of ``transcribe`` on each file alone (same words, times within a frame).
    """

    def transcribe_batch(
        self, model: Any, audios: Sequence[np.ndarray], policy: LongAudioPolicy | None = None,
        notes: Sequence[list[str]] | None = None,
    ) -> list[list[Segment]]:
        """Segments for each of ``audios`` (16 kHz mono float32, each short enough for one pass), in order; what
        the user should know about file ``i`` appended to ``notes[i]``."""
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


class BoostingBackend(Backend, Protocol):
    """A backend whose decoder can be biased towards phrases (``phrase_boosting = True``; a backend without the
    attribute cannot, and gets replacements only)."""

    phrase_boosting: bool

    def spell_phrases(self, model: Any, phrases: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the phrases ``model`` can write, those it cannot), in order."""
        ...

    def boosting(self, model: Any, phrases: Sequence[str], weight: float) -> AbstractContextManager[Any]:
        """Decode with ``phrases`` (spellable ones) boosted by ``weight`` inside the ``with``; restored after."""
        ...


class StreamingBackend(Backend, Protocol):
    """A backend whose models can transcribe live (``streaming = True``)."""

    def stream_context(self, device: str) -> StreamContext:
        """The default context on ``device`` (chosen from measurements: see ``docs/benchmarks.md``)."""
        ...

    def open_stream(
        self, model: Any, context: StreamContext, phrases: Sequence[str] = (), weight: float = 1.0
    ) -> ChunkStream:
        """A new stream through ``model`` with ``context`` (rounded to the model's frames); a ``BoostingBackend``
        boosts ``phrases`` (spellable ones) by ``weight`` in this stream only."""
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
