"""Held-out clips for measuring phrase boosting on the trained tiny TDT, and key-phrase scores.

Each clip is one utterance of held-out voices at the held-out speed (``synth_speech``), with one target word among
three other words, under white noise at ``SNR_DB`` over the whole clip: words the model knows (its tokenizer has
their pieces) but gets wrong at that noise. Scores follow NeMo's ``compute_key_words_fscore``
(``context_biasing_utils.compute_fscore``): on the word alignment of reference and hypothesis, a target in the
reference is a hit when the aligned hypothesis word is the same; a target in the hypothesis aligned to another
reference word (or inserted) is a false positive. The other words' WER counts, over the reference's other words,
those substituted or deleted (a target written over one included) and the inserted words that are not targets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import synth_speech as ss

SNR_DB = 3.0
# The words the model got right least often at SNR_DB (at most half the time, on 4 clips of every word made with
# seed 7); the measurements use clips of other seeds.
TARGETS: tuple[str, ...] = ("stop", "thank", "home", "left", "small", "water")


def noisy(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``audio`` with white noise at ``snr_db`` dB below its power."""
    power = float(np.mean(audio.astype(np.float64) ** 2))
    noise = rng.standard_normal(len(audio)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)


def make_clips(
    seed: int, per_target: int, targets: Sequence[str] = TARGETS, snr_db: float = SNR_DB,
    cache_dir: Path | None = None,
) -> list[tuple[list[str], np.ndarray]]:  # fmt: skip
    """``per_target`` clips per target: (reference words, 16 kHz audio)."""
    rng = np.random.default_rng(seed)
    others = [w for w in ss.VOCAB if w not in targets]
    clips = []
    for i in range(per_target):
        for j, target in enumerate(targets):
            words = [others[int(k)] for k in rng.choice(len(others), 3, replace=False)]
            words.insert(int(rng.integers(4)), target)
            voice = ss.HELDOUT_VOICES[(i + j) % len(ss.HELDOUT_VOICES)]
            audio, _ = ss.make_utterance(words, voice, ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, rng, cache_dir=cache_dir)
            clips.append((words, noisy(audio, snr_db, rng)))
    return clips


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


@dataclass(frozen=True)
class Scores:
    """Key-phrase precision and recall, and the other words' WER, over a set of clips."""

    hits: int
    targets: int  # target words in the references
    false_positives: int
    other_errors: int
    other_words: int

    @property
    def recall(self) -> float:
        return self.hits / self.targets if self.targets else 0.0

    @property
    def precision(self) -> float:
        found = self.hits + self.false_positives
        return self.hits / found if found else 0.0

    @property
    def other_wer(self) -> float:
        return self.other_errors / self.other_words if self.other_words else 0.0


def score(references: Sequence[Sequence[str]], hypotheses: Sequence[str], targets: Sequence[str] = TARGETS) -> Scores:
    """``Scores`` of ``hypotheses`` (texts) against ``references`` (word lists)."""
    keys = set(targets)
    hits = total = fp = errors = others = 0
    for ref, text in zip(references, hypotheses, strict=True):
        hyp = words_of(text)
        for r, h in ss.align_words(ref, hyp):
            if r is not None and ref[r] in keys:  # a target: a hit or a miss, never another word's error
                total += 1
                hits += h is not None and hyp[h] == ref[r]
                continue
            if h is not None and hyp[h] in keys:
                fp += 1
            if r is not None:
                others += 1
                errors += h is None or hyp[h] != ref[r]
            elif hyp[h] not in keys:  # an inserted word (an inserted target is a false positive)
                errors += 1
    return Scores(hits, total, fp, errors, others)
