"""End-to-end checks with a tiny model that really recognises words (``tests/data/tiny_words_tdt.nemo``).

The model was trained by ``training/train_tiny_parakeet.py`` on espeak-ng speech (see ``training/README.md``).
Everything here goes through the app: the fixture is adopted into a models folder the way
``setup_local_models.py --from`` does it, and audio is transcribed with ``transcribe_audio`` /
``transcribe_file`` through a ``ModelStore``. Test speech uses the held-out voices and speed (never seen in
training), and every word's true onset is known, so wrong resampling, offsets, lost or doubled words at window seams and
shifted timestamps show up as failures.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import synth_speech as ss
from offline_transcribe import LongAudioPolicy, ModelStore

REPO = Path(__file__).resolve().parents[1]

FIXTURE = REPO / "tests/data/tiny_words_tdt.nemo"
FIGURES = REPO / "tests/data/tiny_words_tdt.json"

MAX_WER = 0.05  # held-out utterances, short path
MAX_ONSET_ERROR_S = 0.25  # |predicted word start - true onset|, every correctly recognised word
LONG_MINUTES = 10.0
# Lowered thresholds so a 10-minute file takes both long-audio measures: local attention and windows.
LONG_POLICY = {"local_attention_above_s": 60.0, "window_above_s": 120.0, "window_s": 100.0, "overlap_s": 10.0}

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


# ------------------------------------------------------------------------------------------ helpers


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread for a while: a tiny model gains nothing from more, and on shared cores
    OpenMP's waiting makes two threads up to 10x slower (10-minute file: 47 s vs 4 s)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation."""
    return re.findall(r"[a-z']+", text.lower())


def split_utterances(timings: list[ss.WordTiming], min_pause_s: float = 0.45) -> list[list[ss.WordTiming]]:
    """Group a long file's word timings into its utterances (pauses between utterances are >= 0.5 s,
    gaps inside one are <= 0.35 s)."""
    groups: list[list[ss.WordTiming]] = [[timings[0]]]
    for prev, cur in zip(timings, timings[1:], strict=False):
        if cur.start - prev.end >= min_pause_s:
            groups.append([])
        groups[-1].append(cur)
    return groups


def lost_or_added(ref: list[str], hyp: list[str]) -> int:
    """Deletions plus insertions in the word alignment of ``hyp`` to ``ref`` (substitutions not counted)."""
    return sum(r is None or h is None for r, h in ss.align_words(ref, hyp))


def onset_errors(truth: list[ss.WordTiming], words: list) -> list[float]:
    """|start - true onset| for every hypothesis word aligned to an identical reference word."""
    ref = [t.word for t in truth]
    hyp = [w.text.lower().strip(".,?!") for w in words]
    return [
        abs(words[h].start - truth[r].start)
        for r, h in ss.align_words(ref, hyp)
        if r is not None and h is not None and ref[r] == hyp[h]
    ]


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def figures() -> dict:
    """What ``train_tiny_parakeet.py`` recorded about the fixture."""
    return json.loads(FIGURES.read_text())


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory) -> Path:
    """Word clips synthesized once per session."""
    return tmp_path_factory.mktemp("word_clips")


@pytest.fixture(scope="session")
def words_store(tmp_path_factory):
    """A store over a models folder with the fixture adopted as ``parakeet`` (like ``setup_local_models.py --from``)."""
    from conftest import install_parakeet

    out = tmp_path_factory.mktemp("models")
    install_parakeet(out, FIXTURE)
    store = ModelStore(out)
    yield store
    store.close()


@pytest.fixture(scope="session")
def engine():
    """The app's transcriber (``transcribe_file``, ``transcribe_audio``) and its options."""
    import offline_transcribe.transcribe as transcribe_module

    return transcribe_module


@pytest.fixture(scope="session")
def heldout(clip_cache) -> list[tuple[np.ndarray, list[ss.WordTiming]]]:
    """40 held-out utterances: voices and speed not used in training, 1..10 words each."""
    rng = np.random.default_rng(20240601)
    out = []
    for i in range(40):
        words = ss.random_text(rng, int(rng.integers(1, 11)))
        voice = ss.HELDOUT_VOICES[i % len(ss.HELDOUT_VOICES)]
        out.append(ss.make_utterance(words, voice, ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, rng, cache_dir=clip_cache))
    return out


@pytest.fixture(scope="session")
def heldout_transcripts(engine, words_store, heldout) -> list:
    """The held-out utterances through ``engine.transcribe_audio`` (the short path)."""
    with one_torch_thread():
        return [engine.transcribe_audio(audio, "parakeet", store=words_store) for audio, _ in heldout]


@pytest.fixture(scope="session")
def long_file(clip_cache) -> tuple[np.ndarray, list[ss.WordTiming]]:
    """Ten minutes of held-out speech: many utterances with pauses, every word's onset known."""
    return ss.make_long_file(np.random.default_rng(777), minutes=LONG_MINUTES, cache_dir=clip_cache)


# ------------------------------------------------------------------------------------------ tests


def test_fixture_is_the_recorded_one(figures):
    """The committed ``.nemo`` is byte-identical to the one the training run measured."""
    digest = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert digest == figures["sha256"]
    assert FIXTURE.stat().st_size <= 10 * 1024 * 1024
    assert figures["heldout_speed"] == ss.HELDOUT_SPEED and figures["heldout_voices"] == list(ss.HELDOUT_VOICES)
    assert not set(figures["heldout_voices"]) & set(figures["train_voices"])
    assert figures["heldout_speed"] not in figures["train_speeds"]


@needs_espeak
def test_heldout_wer(heldout, heldout_transcripts):
    """Held-out voices at a held-out speed: WER <= 5 %."""
    refs = [" ".join(t.word for t in timings) for _, timings in heldout]
    hyps = [" ".join(words_of(tr.text)) for tr in heldout_transcripts]
    wer = ss.word_error_rate(refs, hyps)
    bad = [(r, h) for r, h in zip(refs, hyps, strict=True) if r != h]
    assert wer <= MAX_WER, f"WER {wer:.3f}; mismatches: {bad}"
    for (audio, _), tr in zip(heldout, heldout_transcripts, strict=True):
        assert tr.audio_duration == pytest.approx(len(audio) / ss.SAMPLE_RATE, abs=0.05)
        assert [w.text.lower() for w in tr.words] == words_of(tr.text)


@needs_espeak
def test_heldout_word_onsets(heldout, heldout_transcripts):
    """Every correctly recognised word starts within 0.25 s of its true onset."""
    errors = []
    for (_, timings), tr in zip(heldout, heldout_transcripts, strict=True):
        errors += onset_errors(timings, tr.words)
    assert len(errors) >= 0.9 * sum(len(t) for _, t in heldout)
    assert max(errors) <= MAX_ONSET_ERROR_S, f"mean {np.mean(errors):.3f} s, max {max(errors):.3f} s"


@needs_espeak
def test_a_long_pause_starts_a_new_paragraph(engine, words_store, heldout, heldout_transcripts):
    """Two utterances 3 s apart read as two paragraphs in the transcript (and so in the TXT download)."""
    recognised = [(audio, t) for (audio, truth), t in zip(heldout, heldout_transcripts, strict=True)
                  if len(truth) >= 3 and words_of(t.text) == [w.word for w in truth]]
    (first, t1), (second, t2) = recognised[:2]
    audio = np.concatenate([first, np.zeros(3 * 16000, np.float32), second])
    with one_torch_thread():
        transcript = engine.transcribe_audio(audio, "parakeet", store=words_store)
    paragraphs = transcript.text.split("\n\n")
    assert [words_of(p) for p in paragraphs] == [words_of(t1.text), words_of(t2.text)], transcript.text


def test_long_file_windows_and_local_attention(engine, words_store, long_file):
    """A 10-minute file through local attention + overlapping windows reads like its utterances read alone.

    * WER of the whole file is within 1 point of the WER of its utterances transcribed one by one;
    * no word is lost or doubled at a seam: no utterance near a window seam has more deleted or inserted
      words than when transcribed alone, and no word is repeated at (almost) the same time;
    * word times never go backwards and every correctly recognised word is within 0.25 s of its onset.
    """
    audio, timings = long_file
    duration = len(audio) / ss.SAMPLE_RATE
    assert duration >= LONG_MINUTES * 60
    policy = LongAudioPolicy(**LONG_POLICY)
    with one_torch_thread():
        tr = engine.transcribe_audio(audio, "parakeet", store=words_store, policy=policy)
    assert tr.audio_duration == pytest.approx(duration, abs=0.1)
    notes = " ".join(tr.notes).lower()
    assert "local" in notes and "window" in notes, tr.notes

    # the same utterances one by one through the short path
    utterances = split_utterances(timings)
    short_hyps: list[list[str]] = []
    with one_torch_thread():
        for utt in utterances:
            a = max(0, int((utt[0].start - 0.3) * ss.SAMPLE_RATE))
            b = min(len(audio), int((utt[-1].end + 0.3) * ss.SAMPLE_RATE))
            short = engine.transcribe_audio(audio[a:b], "parakeet", store=words_store)
            short_hyps.append(words_of(short.text))
    refs = [[t.word for t in utt] for utt in utterances]
    short_wer = ss.word_error_rate([" ".join(r) for r in refs], [" ".join(h) for h in short_hyps])

    words = tr.words
    hyp = [w.text.lower().strip(".,?!") for w in words]
    long_wer = ss.edit_distance([t.word for t in timings], hyp) / len(timings)
    assert long_wer <= short_wer + 0.01, f"long-file WER {long_wer:.3f} vs utterance-by-utterance {short_wer:.3f}"
    assert long_wer <= MAX_WER

    # seams: window k starts at k * stride; the zone around each overlap, widened by 1 s either side
    stride = LONG_POLICY["window_s"] - LONG_POLICY["overlap_s"]
    zones = [
        (k * stride - 1.0, k * stride + LONG_POLICY["overlap_s"] + 1.0) for k in range(1, int(duration // stride) + 1)
    ]
    checked = 0
    for utt, ref, short in zip(utterances, refs, short_hyps, strict=True):
        lo, hi = utt[0].start - 0.3, utt[-1].end + 0.3
        if not any(lo < z1 and hi > z0 for z0, z1 in zones):
            continue
        got = [h for h, w in zip(hyp, words, strict=True) if lo <= w.start < hi]
        # a substitution is the model's own doing; a word more or less than alone would be the seam's
        assert lost_or_added(ref, got) <= lost_or_added(ref, short), (
            f"utterance at {utt[0].start:.1f}s near a seam: {got} (alone: {short}, truth: {ref})"
        )
        checked += 1
    assert checked >= len(zones)
    for i in range(1, len(words)):
        doubled = hyp[i] == hyp[i - 1] and words[i].start - words[i - 1].start < 0.2
        assert not doubled, f"doubled word {hyp[i]!r} at {words[i].start:.2f}s"

    starts = [w.start for w in words]
    assert starts == sorted(starts), "word times go backwards"
    assert all(0.0 <= w.start <= w.end <= duration + 0.1 for w in words)
    errors = onset_errors(timings, words)
    assert len(errors) >= 0.9 * len(timings)
    assert max(errors) <= MAX_ONSET_ERROR_S, f"mean {np.mean(errors):.3f} s, max {max(errors):.3f} s"


FORMATS = {
    "wav": ["-c:a", "pcm_s16le"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "m4a": ["-c:a", "aac", "-b:a", "64k"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4"],
    "stereo44k.wav": ["-ac", "2", "-ar", "44100", "-c:a", "pcm_s16le"],
    "8k.wav": ["-ar", "8000", "-c:a", "pcm_s16le"],
}


@pytest.fixture(scope="session")
def format_files(tmp_path_factory, clip_cache) -> tuple[dict[str, Path], list[ss.WordTiming], float]:
    """One held-out utterance written as wav, mp3, m4a, ogg, stereo 44.1 kHz wav and 8 kHz wav by ffmpeg."""
    words = ["four", "two", "seven", "hello", "green", "door", "nine", "open"]
    audio, timings = ss.make_utterance(
        words, ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, np.random.default_rng(5), cache_dir=clip_cache
    )
    out = tmp_path_factory.mktemp("formats")
    src = out / "source.wav"
    sf.write(src, audio, ss.SAMPLE_RATE, subtype="PCM_16")
    files = {}
    for name, codec in FORMATS.items():
        dst = out / f"utterance.{name}"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *codec, str(dst)], check=True)
        files[name] = dst
    return files, timings, len(audio) / ss.SAMPLE_RATE


@needs_espeak
@needs_ffmpeg
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_formats_give_the_same_words(engine, words_store, format_files, fmt):
    """Container, codec, channel count and sample rate change neither the words nor their times."""
    files, timings, duration = format_files
    with one_torch_thread():
        tr = engine.transcribe_file(files[fmt], "parakeet", store=words_store)
    assert words_of(tr.text) == [t.word for t in timings]
    assert tr.audio_duration == pytest.approx(duration, abs=0.1)
    errors = onset_errors(timings, tr.words)
    assert len(errors) == len(timings)
    assert max(errors) <= MAX_ONSET_ERROR_S, f"{fmt}: onset errors {np.round(errors, 3)}"
