"""Synthetic conversations with exactly known speaker turns, made from espeak-ng words (``synth_speech``).

A *speaker* is an espeak-ng voice at a speed and pitch. A conversation is a sequence of turns (utterances of
one speaker, built by ``synth_speech.make_utterance``) placed one after another with pauses between them;
some turns start before the previous one ends (a short overlap), and a speaker now and then keeps the floor
after a pause. Every turn's start and end (its first word's onset, its last word's end) and every word's
times are known to the sample, so they are the reference for diarization (DER) and for the words each
speaker said.

Used by ``training/train_tiny_sortformer.py`` (training and held-out data) and by the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import synth_speech as ss

# Voices the diarizer never hears in training (speaker-level held-out set). The two held-out voices of the
# word model, and a third one, so that held-out conversations can have three speakers: the variant m5 occurs
# in no other training voice.
DIAR_HELDOUT_VOICES: tuple[str, ...] = (*ss.HELDOUT_VOICES, "en-gb-scotland+m5")
DIAR_TRAIN_VOICES: tuple[str, ...] = tuple(v for v in ss.TRAIN_VOICES if v not in DIAR_HELDOUT_VOICES)


@dataclass(frozen=True)
class Speaker:
    """An espeak-ng voice at a speed (words per minute) and pitch (0..99)."""

    voice: str
    speed: int = ss.HELDOUT_SPEED
    pitch: int = ss.HELDOUT_PITCH

    @property
    def variant(self) -> str:
        """The voice variant (``m6``, ``f4``, ``klatt``…; ``""`` for the language's default voice)."""
        return self.voice.partition("+")[2]


@dataclass(frozen=True)
class Turn:
    """One utterance of one speaker: the speaker's index in the conversation, its times and its words."""

    speaker: int
    start: float
    end: float
    words: tuple[ss.WordTiming, ...]


@dataclass(frozen=True)
class Conversation:
    """16 kHz mono float32 audio and the turns in it (in order of their start)."""

    audio: np.ndarray
    turns: tuple[Turn, ...]
    speakers: tuple[Speaker, ...]

    @property
    def duration(self) -> float:
        return len(self.audio) / ss.SAMPLE_RATE

    def speaker_order(self) -> list[int]:
        """Speaker indices in the order they first speak (the order Sortformer numbers its speakers)."""
        order: list[int] = []
        for turn in self.turns:
            if turn.speaker not in order:
                order.append(turn.speaker)
        return order

    def rttm(self, uri: str = "conversation") -> str:
        """The reference turns as RTTM lines, speakers named ``spk<index>``."""
        return "".join(
            f"SPEAKER {uri} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> spk{t.speaker} <NA> <NA>\n"
            for t in self.turns
        )


def distinct_speakers(
    rng: np.random.Generator, n: int, voices: Sequence[str], speeds: Sequence[int], pitches: Sequence[int]
) -> tuple[Speaker, ...]:
    """``n`` speakers whose voices have different variants (two voices of one variant sound alike)."""
    by_variant: dict[str, list[str]] = {}
    for voice in voices:
        by_variant.setdefault(Speaker(voice).variant, []).append(voice)
    variants = list(by_variant)
    if n > len(variants):
        raise ValueError(f"only {len(variants)} distinct voice variants for {n} speakers")
    chosen = rng.choice(len(variants), size=n, replace=False)
    return tuple(
        Speaker(
            voice=by_variant[variants[i]][int(rng.integers(len(by_variant[variants[i]])))],
            speed=int(speeds[int(rng.integers(len(speeds)))]),
            pitch=int(pitches[int(rng.integers(len(pitches)))]),
        )
        for i in chosen
    )


def _turn_words(rng: np.random.Generator) -> int:
    """Turn length in words: short answers ("yes", "no") to sentences of a dozen words."""
    r = rng.random()
    if r < 0.25:
        return int(rng.integers(1, 3))
    if r < 0.8:
        return int(rng.integers(3, 8))
    return int(rng.integers(8, 14))


def make_conversation(
    rng: np.random.Generator,
    speakers: Sequence[Speaker],
    seconds: float,
    *,
    overlap_share: float = 0.12,
    same_speaker_share: float = 0.12,
    pause_range: tuple[float, float] = (0.3, 1.2),
    overlap_range: tuple[float, float] = (0.2, 0.6),
    gains: Sequence[float] | None = None,
    cache_dir: Path | None = None,
) -> Conversation:
    """About ``seconds`` of conversation between ``speakers`` (one speaker: a monologue with pauses).

    Turns go to another speaker than the last one, except with ``same_speaker_share`` (after a pause). Turns
    follow each other after a pause drawn from ``pause_range``, or with ``overlap_share`` start while the
    previous turn still runs (by ``overlap_range`` seconds, never more than half of either turn). ``gains``
    (default: all 1) scales each speaker's voice.
    """
    gains = list(gains) if gains is not None else [1.0] * len(speakers)
    placed: list[tuple[int, int, np.ndarray, list[ss.WordTiming]]] = []  # speaker, offset (samples), audio, words
    end = int(rng.uniform(0.2, 0.8) * ss.SAMPLE_RATE)  # lead silence
    target = int(seconds * ss.SAMPLE_RATE)
    speaker = int(rng.integers(len(speakers)))
    while end < target or not placed:
        if placed and len(speakers) > 1 and rng.random() >= same_speaker_share:
            speaker = int(rng.choice([i for i in range(len(speakers)) if i != speaker]))
        spk = speakers[speaker]
        words = ss.random_text(rng, _turn_words(rng))
        audio, timings = ss.make_utterance(
            words, spk.voice, spk.speed, spk.pitch, rng, gap_range=(0.03, 0.25), lead_range=(0.0, 0.0),
            tail_range=(0.0, 0.0), cache_dir=cache_dir,
        )  # fmt: skip
        audio = audio * gains[speaker]
        if placed and placed[-1][0] != speaker and rng.random() < overlap_share:
            prev_len = len(placed[-1][2])
            overlap = int(rng.uniform(*overlap_range) * ss.SAMPLE_RATE)
            start = end - min(overlap, prev_len // 2, len(audio) // 2)
        else:
            start = end + int(rng.uniform(*pause_range) * ss.SAMPLE_RATE) if placed else end
        placed.append((speaker, start, audio, timings))
        end = max(end, start + len(audio))
    total = end + int(rng.uniform(0.2, 0.8) * ss.SAMPLE_RATE)  # tail silence
    mix = np.zeros(total, dtype=np.float32)
    turns = []
    for speaker, start, audio, timings in placed:
        mix[start : start + len(audio)] += audio
        offset = start / ss.SAMPLE_RATE
        words = tuple(ss.WordTiming(w.word, w.start + offset, w.end + offset) for w in timings)
        turns.append(Turn(speaker, words[0].start, words[-1].end, words))
    return Conversation(np.clip(mix, -1.0, 1.0), tuple(turns), tuple(speakers))


def heldout_conversation(
    rng: np.random.Generator, n_speakers: int, seconds: float, cache_dir: Path | None = None, **kwargs
) -> Conversation:
    """A conversation of ``n_speakers`` (1..3) held-out voices at the held-out speed and pitch."""
    speakers = tuple(Speaker(v) for v in DIAR_HELDOUT_VOICES[:n_speakers])
    return make_conversation(rng, speakers, seconds, cache_dir=cache_dir, **kwargs)


def frame_targets(conv: Conversation, n_frames: int, frame_s: float = 0.08) -> np.ndarray:
    """``[n_frames, n_speakers]`` 0/1 activity per speaker (in order of first speech): a frame is active when
    the speaker's turns cover at least half of it."""
    order = conv.speaker_order()
    targets = np.zeros((n_frames, len(order)), dtype=np.float32)
    edges = np.arange(n_frames + 1) * frame_s
    for turn in conv.turns:
        col = order.index(turn.speaker)
        covered = np.clip(np.minimum(edges[1:], turn.end) - np.maximum(edges[:-1], turn.start), 0.0, None)
        targets[:, col] = np.maximum(targets[:, col], (covered >= frame_s / 2).astype(np.float32))
    return targets


def diarization_error_rate(
    convs: Sequence[Conversation],
    hypotheses: Sequence[Sequence[tuple[float, float, str]]],
    collar: float = 0.0,
    detailed: bool = False,
) -> float | dict[str, float]:
    """DER over all ``convs`` (``pyannote.metrics``: missed speech, false alarm and confusion over the reference's
    speech, overlaps scored, ``collar`` seconds forgiven around each reference boundary), given each
    conversation's (start, end, speaker) turns; speaker names are matched to the reference's at best.
    ``detailed``: the three parts too, as shares of the reference's speech."""
    from pyannote.core import Annotation
    from pyannote.core import Segment as Span
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    parts = {"missed detection": 0.0, "false alarm": 0.0, "confusion": 0.0, "total": 0.0}
    for conv, hyp in zip(convs, hypotheses, strict=True):
        ref, out = Annotation(), Annotation()
        for i, t in enumerate(conv.turns):
            ref[Span(t.start, t.end), i] = f"spk{t.speaker}"
        for i, (start, end, speaker) in enumerate(hyp):
            out[Span(start, end), i] = str(speaker)
        one = metric(ref, out, uem=Span(0.0, conv.duration), detailed=True)
        for key in parts:
            parts[key] += one[key]
    der = float(abs(metric))
    if not detailed:
        return der
    speech = max(parts["total"], 1e-9)
    return {"der": der, "missed": parts["missed detection"] / speech, "false_alarm": parts["false alarm"] / speech,
            "confusion": parts["confusion"] / speech}
