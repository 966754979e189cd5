"""Canary-Qwen's windows with word times from Parakeet: Parakeet transcribes the same audio, and each window's words
are aligned to the Parakeet words inside the window (``align``). The registry says which model lends its times
(``ModelSpec.word_times_from``); ``LongAudioPolicy.borrow_word_times`` switches it off (``--canary-word-times off``).
"""

from __future__ import annotations

import time

import numpy as np

from ..backends import get_backend
from ..backends.windows import words_to_segments
from ..config import LongAudioPolicy
from ..models.registry import ModelSpec, get_spec
from ..models.store import ModelStore
from ..types import Progress, Segment, Word
from .align import align_text

WINDOW_NOTE = "Timestamps are per window, not per word."  # what the window-only backend notes (salm.py)


def lender(spec: ModelSpec, store: ModelStore, policy: LongAudioPolicy | None) -> ModelSpec | None:
    """The model that lends ``spec`` its word times: named by the registry, switched on, and installed; else None."""
    if not spec.word_times_from or not (policy or LongAudioPolicy()).borrow_word_times:
        return None
    other = get_spec(spec.word_times_from)
    return other if other.key in store.installed() else None


def borrow(
    store: ModelStore, other: ModelSpec, audio: np.ndarray, windows: list[Segment], policy: LongAudioPolicy,
    progress: Progress, notes: list[str], model_name: str,
) -> list[Segment]:  # fmt: skip
    """``windows`` (segments without words) as word-timed segments, with ``other``'s transcription of ``audio``."""
    started = time.perf_counter()
    progress(0.95, f"Word times: {other.display_name} (first use: loading)" if not store.status(other.key).ready
             else f"Word times: {other.display_name}")  # fmt: skip
    if not store.status(other.key).ready:
        store.load(other.key)
    with store.use(other.key) as loaded:
        timed = [w for seg in get_backend(other.backend).transcribe(loaded.model, audio, policy, _quiet, []) for w in
                 seg.words]  # fmt: skip
    words: list[Word] = []
    matched = same = total = 0
    for window in windows:
        texts = window.text.split()
        inside = [w for w in timed if window.start <= (w.start + w.end) / 2 < window.end]
        aligned = align_text(texts, inside, window.start, window.end)
        words += aligned.words
        matched, same, total = matched + aligned.matched, same + aligned.same, total + len(texts)
    if WINDOW_NOTE in notes:
        notes.remove(WINDOW_NOTE)
    seconds = time.perf_counter() - started
    share = f"{100 * same / total:.0f} %" if total else "no words"
    notes.append(f"Word times from {other.display_name} (its pass took {seconds:.1f} s): {share} of {model_name}'s "
                 f"words are the same as its words, {matched - same} others aligned to its words, {total - matched} "
                 "placed between them.")  # fmt: skip
    return words_to_segments(words)


def _quiet(fraction: float, message: str) -> None:
    pass
