"""What the user asks of speaker identification, and how the diarizer runs (frozen, like ``LongAudioPolicy``)."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_SPEAKERS = 4  # Streaming Sortformer 4spk-v2 has four speaker outputs


@dataclass(frozen=True)
class DiarizationPolicy:
    """How Streaming Sortformer runs and how its output becomes turns.

    The streaming lengths are NeMo's ``sortformer_modules`` settings, in 80 ms frames. The defaults are NVIDIA's
    "very high latency" preset for ``diar_streaming_sortformer_4spk-v2`` (the best DER on its model card): the
    model hears 27.2 s chunks with 3.2 s of look-ahead and remembers earlier speakers through a speaker cache of
    188 frames (15 s) and a FIFO of 40 frames, so memory stays the same for one minute or several hours.
    ``spkcache_update_period`` is NVIDIA's 300 raised to ``chunk_len``, as NeMo itself does.
    """

    chunk_len: int = 340
    chunk_left_context: int = 1
    chunk_right_context: int = 40
    fifo_len: int = 40
    spkcache_len: int = 188
    spkcache_update_period: int = 340
    threshold: float = 0.5  # a speaker talks in a frame when its probability is above this
    min_pause_s: float = 0.25  # shorter silences inside one speaker's speech are bridged
    min_turn_s: float = 0.16  # shorter blips of activity are dropped
    min_speaker_s: float = 0.5  # with "auto", a speaker who talks less than this in all is not counted
    turn_merge_gap_s: float = 1.5  # Canary: a speaker's turns closer than this are transcribed together
    turn_pad_s: float = 0.15  # Canary: silence kept around each turn's audio

    def streaming_settings(self) -> dict[str, int]:
        """The values for the model's ``sortformer_modules``."""
        return {
            "chunk_len": self.chunk_len,
            "chunk_left_context": self.chunk_left_context,
            "chunk_right_context": self.chunk_right_context,
            "fifo_len": self.fifo_len,
            "spkcache_len": self.spkcache_len,
            "spkcache_update_period": self.spkcache_update_period,
        }


@dataclass(frozen=True)
class SpeakerOptions:
    """Identify speakers; ``count`` is how many there are (None: the diarizer finds out, up to 4)."""

    count: int | None = None
    policy: DiarizationPolicy = field(default_factory=DiarizationPolicy)

    def __post_init__(self) -> None:
        if self.count is not None and not 1 <= self.count <= MAX_SPEAKERS:
            raise ValueError(
                f"the number of speakers must be 1 to {MAX_SPEAKERS} (the most the diarizer tells apart), or auto"
            )

    @classmethod
    def parse(cls, value: str | int | None) -> SpeakerOptions:
        """``"auto"`` (or None / empty), or a number of speakers 1..4; ``ValueError`` with a readable message."""
        text = str(value).strip().lower() if value is not None else ""
        if text in ("", "auto"):
            return cls()
        try:
            count = int(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number of speakers: give 1 to {MAX_SPEAKERS}, or auto") from None
        return cls(count)

    @property
    def label(self) -> str:
        """``auto`` or the number, as the user gave it."""
        return "auto" if self.count is None else str(self.count)
