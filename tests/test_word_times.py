"""Canary-Qwen with Parakeet's word times: the alignment by edit distance (unit), and end to end with the tiny SALM
and the trained tiny TDT (``tests/data/tiny_words_tdt.nemo``) in one models folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from subtitle_check import check_cues, read_srt
from test_trained_model import FIXTURE, one_torch_thread

import synth_speech as ss
from offline_transcribe import LongAudioPolicy, ModelStore
from offline_transcribe.exports import to_json, to_srt
from offline_transcribe.subtitles import PRESETS
from offline_transcribe.types import Word
from offline_transcribe.wordtimes.align import align_text, normalise

pytestmark = pytest.mark.timeout(300)


def timed(text: str, start: float = 1.0, step: float = 0.5) -> list[Word]:
    return [Word(w, start + i * step, start + i * step + 0.3) for i, w in enumerate(text.split())]


def test_alignment_with_insertions_deletions_and_substitutions() -> None:
    parakeet = timed("so the budget is late and we know it")
    canary = ["So,", "the", "big", "budget", "was", "late,", "we", "know", "it!", "Yes"]
    aligned = align_text(canary, parakeet, 0.0, 6.0)
    words = aligned.words
    assert [w.text for w in words] == canary
    by = {w.text: w for w in words}
    assert (by["So,"].start, by["budget"].start, by["late,"].start) == (1.0, 2.0, 3.0)  # same words: their times
    assert by["was"].start == 2.5  # substitute for "is": its time
    assert by["the"].end <= by["big"].start <= by["big"].end <= by["budget"].start  # inserted: between neighbours
    assert by["Yes"].start >= by["it!"].end and by["Yes"].end <= 6.0  # after the last match: up to the window's end
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(w.start <= w.end for w in words)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(words, words[1:], strict=False))
    assert (aligned.matched, aligned.same) == (8, 7)  # "and" deleted; "big" and "Yes" inserted
    assert normalise("It's,") == "it's"


def test_alignment_without_any_timed_words_spreads_the_window() -> None:
    words = align_text(["one", "three"], [], 10.0, 14.0).words
    assert words[0].start == 10.0 and words[-1].end == pytest.approx(14.0)
    assert words[0].end == pytest.approx(10.0 + 4.0 * 4 / 10)  # by length: "one " 4 of 10 characters


@pytest.fixture(scope="module")
def both_models(tmp_path_factory, tiny_sources):
    """A tiny Canary that says something (its LoRA weights non-zero: without them the tiny SALM answers nothing)
    and, as Parakeet, the trained tiny TDT."""
    from conftest import install_model, install_parakeet
    from tiny_models import build_tiny_canary

    root = tmp_path_factory.mktemp("wt_models")
    build_tiny_canary(root / "talking_canary", tiny_sources["parakeet"], lora=True)
    models_dir = root / "local_models"
    install_model(models_dir, "canary", root / "talking_canary")
    install_parakeet(models_dir, FIXTURE)
    store = ModelStore(models_dir)
    yield store
    store.close()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_canary_gets_parakeet_word_times(both_models, tmp_path):
    from offline_transcribe.transcribe import transcribe_audio

    rng = np.random.default_rng(27)
    audio, _ = ss.make_utterance(ss.random_text(rng, 12, digit_share=0.0), ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED,
                                 ss.HELDOUT_PITCH, rng, cache_dir=tmp_path)  # fmt: skip
    duration = len(audio) / ss.SAMPLE_RATE
    with one_torch_thread():
        t = transcribe_audio(audio, "canary", store=both_models)
        off = transcribe_audio(audio, "canary", store=both_models, policy=LongAudioPolicy(borrow_word_times=False))
    assert t.timestamp_level == "word" and off.timestamp_level == "window" and not off.words
    assert any("Word times from Parakeet" in n for n in t.notes), t.notes
    assert t.text.split() == off.text.split() != []  # the same words as Canary without them
    words = t.words
    assert words and [w.text for w in words] == t.text.split()
    assert all(0 <= w.start <= w.end <= duration + 0.01 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    data = json.loads(to_json(t))
    assert data["timestamp_level"] == "word" and data["segments"][0]["words"]
    check_cues(read_srt(to_srt(t)), PRESETS["standard"], t.text.split(), until=t.audio_duration)
    # speakers per word, as for Parakeet
    from offline_transcribe.diarize.attribute import speaker_of, words_to_speakers
    from offline_transcribe.diarize.turns import Diarization
    from offline_transcribe.types import SpeakerTurn

    middle = words[len(words) // 2].start
    turns = [SpeakerTurn(0.0, middle, "Speaker 1"), SpeakerTurn(middle, duration, "Speaker 2")]
    spoken = words_to_speakers(t.segments, Diarization(turns, ["Speaker 1", "Speaker 2"]))
    assert all(w.speaker == speaker_of(w.start, w.end, turns) for s in spoken for w in s.words)
    assert [w.text for s in spoken for w in s.words] == [w.text for w in words]
    assert all(len({w.speaker for w in s.words}) == 1 for s in spoken)
