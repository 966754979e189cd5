"""Synthetic speech with exactly known word times, made with espeak-ng.

Every utterance is built from single-word clips: each word is spoken on its own by ``espeak-ng``
(``-v VOICE -s SPEED -p PITCH``), resampled to 16 kHz with ``soxr``, trimmed of its leading and
trailing silence, and placed at a chosen sample offset with silence between words. The onset and end
of every word in the result are therefore known to the sample.

Used by ``train_tiny_parakeet.py`` (training and held-out data) and by the tests (held-out utterances,
long files). Word clips are cached in memory and, when a ``cache_dir`` is given, on disk as ``.npy``.
"""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000

DIGITS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""Spoken digits (``two``, ``four``, ``eight`` have no homophones among the words)."""

WORDS: tuple[str, ...] = (
    "yes", "no", "hello", "please", "thank", "you", "good", "morning", "night", "today",
    "open", "close", "start", "stop", "play", "next", "back", "left", "right", "up",
    "down", "red", "green", "blue", "black", "white", "house", "water", "music", "call",
    "home", "help", "light", "door", "time", "the", "and", "is", "big", "small",
)  # fmt: skip
"""Common words; chosen so that no two sound alike (no ``to``/``too``, ``for``, ``know``, ``write``...)."""

VOCAB: tuple[str, ...] = DIGITS + WORDS

# Voices are ``language+variant`` (``espeak-ng --voices=en`` and ``espeak-ng-data/voices/!v``).
TRAIN_VOICES: tuple[str, ...] = (
    "en-us", "en", "en+m1", "en-us+m2", "en-gb-x-rp+m3", "en-us+m4", "en-gb-scotland+m5", "en-029+m7",
    "en-us-nyc+m8", "en+f1", "en-us+f2", "en-gb-x-rp+f3", "en-us+f5", "en+f2", "en-us+f1", "en-029+f3",
    "en+klatt", "en-us+klatt2", "en-gb-scotland+klatt3", "en-us+croak", "en-gb-x-gbclan", "en-us-nyc+f5",
)  # fmt: skip
"""Voices used for training. The variants ``f4`` and ``m6`` are never used in training."""

HELDOUT_VOICES: tuple[str, ...] = ("en-us+f4", "en+m6")
"""Held-out voices: their variants (female 4, male 6) occur in no training voice."""

TRAIN_SPEEDS: tuple[int, ...] = (130, 150, 175, 200)
HELDOUT_SPEED = 160
"""Words per minute (espeak-ng's default is 175). The held-out speed is not a training speed."""

TRAIN_PITCHES: tuple[int, ...] = (35, 65)
HELDOUT_PITCH = 50
"""espeak-ng pitch, 0..99 (default 50)."""


class WordTiming(NamedTuple):
    """A word placed in an utterance: its onset and end in seconds from the start of the audio."""

    word: str
    start: float
    end: float


def _clip_name(word: str, voice: str, speed: int, pitch: int) -> str:
    """File name for a cached clip (voices contain ``+`` and ``-``, both safe in file names)."""
    safe_voice = re.sub(r"[^A-Za-z0-9+_-]", "_", voice)
    return f"{safe_voice}_s{speed}_p{pitch}_{word}.npy"


def trim_silence(audio: np.ndarray, rel_threshold_db: float = -50.0) -> np.ndarray:
    """Cut leading and trailing samples quieter than ``rel_threshold_db`` below the clip's peak."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0.0:
        return audio[:0]
    loud = np.nonzero(np.abs(audio) > peak * 10 ** (rel_threshold_db / 20))[0]
    return audio[loud[0] : loud[-1] + 1]


def run_espeak(text: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng; returns (float32 mono samples, sample rate)."""
    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text]
    wav = subprocess.run(cmd, capture_output=True, check=True).stdout
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    return audio, int(sr)


_MEMORY_CACHE: dict[str, np.ndarray] = {}


def synth_word(
    word: str, voice: str = "en-us", speed: int = 175, pitch: int = 50, cache_dir: Path | None = None
) -> np.ndarray:
    """One word spoken by espeak-ng: 16 kHz mono float32, leading/trailing silence trimmed.

    The result is cached in memory and, if ``cache_dir`` is given, as a ``.npy`` file there, so a
    second call (in this or another process) does not run espeak-ng again.
    """
    name = _clip_name(word, voice, speed, pitch)
    if name in _MEMORY_CACHE:
        return _MEMORY_CACHE[name]
    path = Path(cache_dir) / name if cache_dir is not None else None
    if path is not None and path.exists():
        clip = np.load(path)
    else:
        audio, sr = run_espeak(word, voice, speed, pitch)
        if sr != SAMPLE_RATE:
            audio = soxr.resample(audio, sr, SAMPLE_RATE, quality="HQ")
        clip = trim_silence(audio.astype(np.float32))
        if clip.size == 0:
            raise RuntimeError(f"espeak-ng gave silence for {word!r} ({voice}, {speed}, {pitch})")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{id(clip)}.npy")
            np.save(tmp, clip)
            tmp.replace(path)  # atomic: parallel writers never leave a half-written clip
    _MEMORY_CACHE[name] = clip
    return clip


def synth_words(
    words: Iterable[str], voices: Iterable[str], speeds: Iterable[int], pitches: Iterable[int],
    cache_dir: Path | None = None, workers: int = 2,
) -> None:  # fmt: skip
    """Synthesize (and cache) every word x voice x speed x pitch, ``workers`` espeak-ng processes at a time."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(w, v, s, p) for v in voices for s in speeds for p in pitches for w in words]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(lambda job: synth_word(*job, cache_dir=cache_dir), jobs))


def random_text(rng: np.random.Generator, n_words: int, digit_share: float = 0.4) -> list[str]:
    """A random word sequence: a digit string with probability ``digit_share``, else vocabulary words.

    Word sequences are drawn from the whole vocabulary (digits included) without immediate repeats.
    """
    pool = DIGITS if rng.random() < digit_share else VOCAB
    words: list[str] = []
    while len(words) < n_words:
        w = pool[int(rng.integers(len(pool)))]
        if not words or w != words[-1] or pool is DIGITS:
            words.append(w)
    return words


def make_utterance(
    words: Sequence[str],
    voice: str,
    speed: int,
    pitch: int,
    rng: np.random.Generator,
    gap_range: tuple[float, float] = (0.03, 0.35),
    lead_range: tuple[float, float] = (0.1, 0.5),
    tail_range: tuple[float, float] = (0.1, 0.5),
    cache_dir: Path | None = None,
) -> tuple[np.ndarray, list[WordTiming]]:
    """Concatenate single-word clips with random silences; returns (16 kHz float32 audio, word timings).

    Silence before the first word is drawn from ``lead_range``, between words from ``gap_range`` and
    after the last word from ``tail_range`` (seconds, uniform). Each onset is the sample where its
    trimmed clip starts, each end where it stops.
    """
    pieces: list[np.ndarray] = []
    timings: list[WordTiming] = []
    pos = int(round(rng.uniform(*lead_range) * SAMPLE_RATE))
    pieces.append(np.zeros(pos, dtype=np.float32))
    for i, word in enumerate(words):
        if i > 0:
            gap = int(round(rng.uniform(*gap_range) * SAMPLE_RATE))
            pieces.append(np.zeros(gap, dtype=np.float32))
            pos += gap
        clip = synth_word(word, voice, speed, pitch, cache_dir=cache_dir)
        pieces.append(clip)
        timings.append(WordTiming(word, pos / SAMPLE_RATE, (pos + len(clip)) / SAMPLE_RATE))
        pos += len(clip)
    pieces.append(np.zeros(int(round(rng.uniform(*tail_range) * SAMPLE_RATE)), dtype=np.float32))
    return np.concatenate(pieces), timings


def make_long_file(
    rng: np.random.Generator,
    minutes: float = 10.0,
    voices: Sequence[str] = HELDOUT_VOICES,
    speed: int = HELDOUT_SPEED,
    pitch: int = HELDOUT_PITCH,
    words_range: tuple[int, int] = (4, 12),
    pause_range: tuple[float, float] = (0.4, 1.5),
    cache_dir: Path | None = None,
) -> tuple[np.ndarray, list[WordTiming]]:
    """At least ``minutes`` of speech: random utterances one after another, with their word timings.

    Utterances take turns among ``voices``; each has ``words_range`` words (inclusive) and is followed
    by a pause drawn from ``pause_range`` seconds (on top of its own short lead and tail silence).
    """
    target = int(minutes * 60 * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    timings: list[WordTiming] = []
    pos = 0
    i = 0
    while pos < target:
        words = random_text(rng, int(rng.integers(words_range[0], words_range[1] + 1)))
        audio, utt_timings = make_utterance(
            words, voices[i % len(voices)], speed, pitch, rng, lead_range=(0.05, 0.2), tail_range=(0.05, 0.2),
            cache_dir=cache_dir,
        )  # fmt: skip
        pause = np.zeros(int(round(rng.uniform(*pause_range) * SAMPLE_RATE)), dtype=np.float32)
        offset = pos / SAMPLE_RATE
        timings.extend(WordTiming(t.word, t.start + offset, t.end + offset) for t in utt_timings)
        pieces.extend([audio, pause])
        pos += len(audio) + len(pause)
        i += 1
    return np.concatenate(pieces), timings


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: word-level edit distance summed over pairs, divided by the number of reference words."""
    errors = 0
    total = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        r, h = ref.split(), hyp.split()
        errors += edit_distance(r, h)
        total += len(r)
    return errors / max(total, 1)


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def align_words(reference: Sequence[str], hypothesis: Sequence[str]) -> list[tuple[int | None, int | None]]:
    """Levenshtein alignment as (ref index or None, hyp index or None) pairs; matches and substitutions pair up."""
    n, m = len(reference), len(hypothesis)
    d = np.zeros((n + 1, m + 1), dtype=np.int32)
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]))
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and d[i, j] == d[i - 1, j] + 1:
            pairs.append((i - 1, None))
            i -= 1
        else:
            pairs.append((None, j - 1))
            j -= 1
    return pairs[::-1]
