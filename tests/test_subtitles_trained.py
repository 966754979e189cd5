"""Subtitles, bounded segments and documents end to end with the tiny model trained here
(``tests/data/tiny_words_tdt.nemo``): a minute of continuous speech without punctuation through ``--transcribe``
(every format, read back by pysubs2, webvtt-py and pandoc) and through a live session."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from subtitle_check import check_cues, read_srt, read_vtt
from test_trained_model import FIXTURE, one_torch_thread, words_of

import synth_speech as ss
from offline_transcribe import ModelStore
from offline_transcribe.audio import write_wav
from offline_transcribe.backends.windows import SEGMENT_MAX_S, SEGMENT_MAX_WORDS
from offline_transcribe.config import LiveOptions
from offline_transcribe.subtitles import subtitle_options

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
]


@pytest.fixture(scope="module")
def words_models(tmp_path_factory):
    """A models folder whose Parakeet is the trained tiny model."""
    from conftest import install_parakeet

    models_dir = tmp_path_factory.mktemp("sub_models") / "local_models"
    install_parakeet(models_dir, FIXTURE)
    return models_dir


@pytest.fixture(scope="module")
def minute(tmp_path_factory) -> tuple[np.ndarray, list[ss.WordTiming]]:
    """About 60 s of held-out speech with short gaps only (no pause a segment would end at, no punctuation)."""
    rng = np.random.default_rng(2727)
    words: list[str] = []
    while len(words) < 120:
        words += ss.random_text(rng, 10)
    return ss.make_utterance(words, ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, rng,
                             gap_range=(0.05, 0.3), cache_dir=tmp_path_factory.mktemp("sub_clips"))  # fmt: skip


def pandoc_text(path) -> str:
    return subprocess.run(["pandoc", str(path), "-t", "plain", "--wrap=none"], capture_output=True, text=True,
                          check=True, timeout=60).stdout  # fmt: skip


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc not installed (scripts/system_deps.sh)")
def test_a_minute_without_punctuation_through_transcribe(words_models, minute, tmp_path, capsys):
    """``--transcribe --format all --subtitle-preset "one line"``: segments of at most 15 s and 40 words; SRT and VTT
    within the preset's limits holding every word; DOCX and Markdown read by pandoc."""
    import transcribe_ui

    audio, timings = minute
    assert len(audio) / ss.SAMPLE_RATE > 55
    assert all(b.start - a.end < 0.5 for a, b in zip(timings, timings[1:], strict=False))
    wav = write_wav(tmp_path / "long talk.wav", audio)
    out = tmp_path / "out"
    args = ["--models-dir", str(words_models), "--only", "parakeet", "--output-dir", str(out), "--format", "all",
            "--subtitle-preset", "one line", "--max-cps", "20", "--transcribe", str(wav)]  # fmt: skip
    with one_torch_thread():
        status = transcribe_ui.main(args)
    assert status == 0, capsys.readouterr()
    data = json.loads((out / "long talk.json").read_text())
    segments = data["segments"]
    assert len(segments) >= 4
    for seg in segments:
        assert seg["end"] - seg["start"] <= SEGMENT_MAX_S and len(seg["words"]) <= SEGMENT_MAX_WORDS, seg
    words = [w["text"] for seg in segments for w in seg["words"]]
    heard = " ".join(words_of(" ".join(words)))
    assert ss.word_error_rate([" ".join(t.word for t in timings)], [heard]) < 0.15
    options = subtitle_options("one line", max_cps=20)
    until = data["audio_duration"]
    check_cues(read_srt((out / "long talk.srt").read_text()), options, words, until)
    check_cues(read_vtt((out / "long talk.vtt").read_text()), options, words, until)
    for fmt in ("docx", "md"):
        text = pandoc_text(out / f"long talk.{fmt}")
        assert "long talk.wav" in text and "Parakeet" in text and "[00:00]" in text, fmt
        assert " ".join(words_of(text)).count(" ".join(words_of(" ".join(words[:8])))) == 1, fmt


def test_a_live_minute_without_pauses_gives_a_line_every_15_s(words_models, minute):
    """A live session over the same minute: segments close at most 15 s apart while the audio still arrives."""
    from offline_transcribe.live.session import LiveSession

    audio, _ = minute
    duration = len(audio) / ss.SAMPLE_RATE
    store = ModelStore(words_models)
    closed: list[tuple[float, float]] = []  # (segment end, audio decoded when it was closed)
    try:
        with one_torch_thread():
            session = LiveSession(
                store, "parakeet", LiveOptions(1.6, 3.2, 0.8),
                on_segment=lambda seg: closed.append((seg.end, session.view().decoded_s)),
            )  # fmt: skip
            step = int(0.5 * ss.SAMPLE_RATE)
            for i in range(0, len(audio), step):
                session.feed(audio[i : i + step])
            view = session.close()
    finally:
        store.close()
    assert not view.error and len(view.segments) >= 4
    for seg in view.segments:
        assert seg.end - seg.start <= SEGMENT_MAX_S and len(seg.words) <= SEGMENT_MAX_WORDS
    assert closed[0][1] < SEGMENT_MAX_S + 5 < duration  # the first line is out long before the input ends
    decided = [at for _, at in closed]
    assert all(b - a <= SEGMENT_MAX_S + 5 for a, b in zip([0.0, *decided], decided, strict=False))
