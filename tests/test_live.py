"""Live transcription with the tiny model trained here (``tests/data/tiny_words_tdt.nemo``): the streaming engine
through ``LiveSession`` against the offline transcript of the same audio, its memory over a long stream, silence,
the page's Live mode taking turns with the page's transcriptions in the server's job line,
``transcribe_ui.py --live -`` fed at real-time speed and ``--live FILE``.

Streaming decodes the audio by chunks with a few seconds of context instead of the whole utterance at once, so it
may hear a word differently; the bound for that is ``MAX_WER_INCREASE`` (measured: see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_trained_model import FIXTURE, one_torch_thread, words_of

import synth_speech as ss
from app_process import run_app_command
from offline_transcribe import ModelStore
from offline_transcribe.audio import write_wav
from offline_transcribe.backends import get_backend
from offline_transcribe.backends.windows import words_to_segments
from offline_transcribe.config import LiveOptions
from offline_transcribe.live.session import LiveSession, can_stream, streaming_models

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
]

PIECES_S = (0.1, 0.25, 0.7, 2.0)  # how much audio arrives at a time
MAX_WER_INCREASE = 0.05  # streaming WER minus offline WER, held-out utterances (measured: 0.9 % and 1.4 %)
MAX_TIME_DIFFERENCE_S = 0.17  # a word's start and end, streaming vs offline (two encoder frames)
LINE = re.compile(r"^\[(\d+):(\d\d):(\d\d\.\d\d) → (\d+):(\d\d):(\d\d\.\d\d)\] (.+)$")
JOB_LINE = re.compile(r"job (\d+) (start|end) t=([\d.]+)(?: files=\d+ model=\S+ via=(\w+))?")
SHORT = LiveOptions(0.8, 1.6, 0.8)  # a short context: many cheap steps, 1.6 s of latency


@pytest.fixture(scope="module")
def live_store(tmp_path_factory):
    """A store whose Parakeet is the trained tiny model (installed as a user adopts a copy)."""
    from conftest import install_parakeet

    models_dir = tmp_path_factory.mktemp("live_models") / "local_models"
    install_parakeet(models_dir, FIXTURE)
    store = ModelStore(models_dir)
    yield store
    store.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("live_clips")


@pytest.fixture(scope="module")
def utterances(clips) -> list[tuple[np.ndarray, list[ss.WordTiming]]]:
    """16 held-out utterances (voices and speed never heard in training), 1..10 words."""
    rng = np.random.default_rng(1606)
    return [
        ss.make_utterance(ss.random_text(rng, int(rng.integers(1, 11))), ss.HELDOUT_VOICES[i % 2], ss.HELDOUT_SPEED,
                          ss.HELDOUT_PITCH, rng, cache_dir=clips)
        for i in range(16)
    ]  # fmt: skip


def device_context(device: str) -> LiveOptions:
    """The default live context of ``device`` as options (both run here on the CPU: a context is only numbers)."""
    c = get_backend("nemo_tdt").stream_context(device)
    return LiveOptions(c.chunk_s, c.left_s, c.right_s)


def stream(store: ModelStore, audio: np.ndarray, piece_s: float, options: LiveOptions | None = None):
    """``audio`` through a ``LiveSession``, ``piece_s`` at a time; the final view."""
    session = LiveSession(store, "parakeet", options)
    step = max(1, int(piece_s * ss.SAMPLE_RATE))
    for i in range(0, len(audio), step):
        session.feed(audio[i : i + step])
    return session.close()


def test_pieces_of_any_size_give_the_same_words(live_store, utterances):
    """The audio may arrive 0.1 s … 2 s at a time: the committed words and their times do not depend on it
    (short chunks and contexts: many steps per utterance, each cheap)."""
    with one_torch_thread():
        for audio, _ in utterances[:2]:
            views = [stream(live_store, audio, piece, SHORT) for piece in PIECES_S]
            assert views[0].segments, "no words"
            for view in views:
                assert not view.error and view.finished and not view.open_words and not view.tentative
                assert view.segments == views[0].segments, f"piece sizes disagree: {views[0].committed_text!r}"


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_streaming_reads_like_the_offline_transcript(live_store, utterances, device):
    """Held-out utterances with each device's default context: streaming WER at most ``MAX_WER_INCREASE`` above
    offline; where the words agree, their times agree within two encoder frames and they form the same segments."""
    from offline_transcribe.transcribe import transcribe_audio

    refs, offline_hyps, live_hyps = [], [], []
    with one_torch_thread():
        for audio, timings in utterances:
            offline = transcribe_audio(audio, "parakeet", store=live_store)
            view = stream(live_store, audio, 0.25, device_context(device))
            assert not view.error
            refs.append(" ".join(t.word for t in timings))
            offline_hyps.append(" ".join(words_of(offline.text)))
            live_hyps.append(" ".join(words_of(view.committed_text)))
            live_words = [w for s in view.segments for w in s.words]
            if [w.text for w in live_words] != [w.text for w in offline.words]:
                continue
            for mine, theirs in zip(live_words, offline.words, strict=True):
                assert abs(mine.start - theirs.start) <= MAX_TIME_DIFFERENCE_S, (mine, theirs)
                assert abs(mine.end - theirs.end) <= MAX_TIME_DIFFERENCE_S, (mine, theirs)
            assert [s.text for s in view.segments] == [s.text for s in words_to_segments(offline.words)]
    offline_wer, live_wer = ss.word_error_rate(refs, offline_hyps), ss.word_error_rate(refs, live_hyps)
    differ = [(a, b) for a, b in zip(live_hyps, offline_hyps, strict=True) if a != b]
    assert live_wer <= offline_wer + MAX_WER_INCREASE, (live_wer, offline_wer, differ)
    assert len(differ) <= 0.2 * len(utterances), differ


def test_a_file_transcription_between_two_streams_changes_nothing(live_store, utterances):
    """NeMo's ``transcribe()`` leaves the encoder, decoder and joint in training mode (dropout on, batch norm
    learning): a stream after a file transcription gives the same words as before it, and leaves the model's
    batch-norm statistics as they were."""
    import torch

    from offline_transcribe.transcribe import transcribe_audio

    audio = utterances[1][0]
    model = live_store.load("parakeet").model
    with one_torch_thread():
        before = stream(live_store, audio, 0.5, SHORT)
        transcribe_audio(audio, "parakeet", store=live_store)
        stats = {name: b.clone() for name, b in model.named_buffers() if "running_" in name}
        after = stream(live_store, audio, 0.5, SHORT)
    assert stats and after.segments == before.segments
    buffers = dict(model.named_buffers())
    assert all(torch.equal(value, buffers[name]) for name, value in stats.items()), "batch norm statistics changed"


def test_the_parakeet_models_stream_and_canary_does_not():
    """Parakeet v2 and v3 (one backend) can stream; Canary cannot (its backend says so)."""
    assert streaming_models(["parakeet", "canary", "parakeet-v3"]) == ["parakeet", "parakeet-v3"]
    assert can_stream("parakeet-v3") and not can_stream("canary")


def test_silence_gives_no_words_and_no_error(live_store):
    with one_torch_thread():
        view = stream(live_store, np.zeros(8 * ss.SAMPLE_RATE, np.float32), 0.5)
    assert view.finished and not view.error
    assert view.segments == () and view.committed_text == "" and view.received_s == pytest.approx(8.0)


def test_memory_stays_flat_over_a_30_minute_stream(live_store, utterances):
    """30 minutes of speech through one session: what it keeps is bounded by its context, not by the time.

    RSS (which also counts torch's allocator) may grow by at most 40 MB between minute 5 and minute 30; the words
    of 30 minutes take well under 1 MB. Large chunks keep the test short: the stream's own buffers and state are
    bounded the same way for any chunk size.
    """
    import psutil

    speech = np.concatenate([audio for audio, _ in utterances])  # about a minute of speech, looped
    minute = np.tile(speech, int(np.ceil(60 * ss.SAMPLE_RATE / len(speech))))[: 60 * ss.SAMPLE_RATE]
    piece = 4 * ss.SAMPLE_RATE
    process = psutil.Process()
    rss: dict[int, int] = {}
    with one_torch_thread():
        session = LiveSession(live_store, "parakeet", LiveOptions(chunk_s=20.0, left_s=1.6, right_s=0.8))
        for m in range(1, 31):
            for i in range(0, len(minute), piece):
                session.feed(minute[i : i + piece])
            while session.view().decoded_s < m * 60 - 20:  # let the worker keep up, so its inbox stays small
                time.sleep(0.02)
            rss[m] = process.memory_info().rss
        view = session.close()
    assert not view.error and view.received_s == pytest.approx(1800)
    assert view.decoded_s == pytest.approx(1800)
    growth = (rss[30] - rss[5]) / 2**20
    assert growth < 40, f"RSS grew by {growth:.0f} MB from minute 5 to 30: {[round(r / 2**20) for r in rss.values()]}"


class _Lines(io.TextIOBase):
    """Standard output for ``run_live``: each line, and whether the writer had sent all its audio by then."""

    def __init__(self, writer_done: threading.Event):
        self.writer_done, self.lines = writer_done, []

    def write(self, text: str) -> int:
        self.lines += [(line, self.writer_done.is_set()) for line in text.splitlines() if line]
        return len(text)


def test_live_stdin_prints_final_lines_while_audio_still_arrives(live_store, clips):
    """``--live -`` (``run_live`` in this process, its standard input a real pipe) with 16 kHz s16le written at
    real-time speed: the first line is printed while the writer still has audio to send; every line is
    ``[start → end] text``, in order; the words are those spoken. A short context (1.6 s of latency) keeps the
    audio short; the time from the end of the input to the last line is measured by ``bench/bench_live.py``
    ("wait after the last audio"). ``test_live_says_what_is_wrong`` runs the command itself."""
    from offline_transcribe.live.headless import run_live

    rng = np.random.default_rng(16)
    first, timings = ss.make_utterance(["hello", "seven", "two"], ss.HELDOUT_VOICES[0], ss.HELDOUT_SPEED,
                                       ss.HELDOUT_PITCH, rng, tail_range=(1.5, 1.6), cache_dir=clips)  # fmt: skip
    rest, rest_timings = ss.make_long_file(rng, minutes=0.05, cache_dir=clips)
    audio = np.concatenate([first, rest])  # a short first segment, then about 4 s more
    spoken = " ".join(t.word for t in [*timings, *rest_timings])
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    read_fd, write_fd = os.pipe()
    writer_done = threading.Event()
    out, err = _Lines(writer_done), io.StringIO()

    def write() -> None:
        block, started = int(0.1 * ss.SAMPLE_RATE) * 2, time.monotonic()
        with open(write_fd, "wb", buffering=0) as pipe:
            for i, at in enumerate(range(0, len(pcm), block)):
                time.sleep(max(0.0, started + i * 0.1 - time.monotonic()))
                pipe.write(pcm[at : at + block])
            writer_done.set()

    writer = threading.Thread(target=write, daemon=True)
    with one_torch_thread(), open(read_fd, "rb") as stdin:
        live_store.load("parakeet")  # loaded: the audio is spoken to a ready model
        writer.start()
        assert run_live(live_store, "-", "parakeet", SHORT, stdin=stdin, out=out, err=err) == 0, err.getvalue()
    writer.join(10)
    assert "Listening: 16 kHz mono s16le" in err.getvalue()
    lines = out.lines
    assert lines and not lines[0][1], f"the first line came only after all {len(audio) / ss.SAMPLE_RATE:.1f} s"
    parsed = [LINE.match(line) for line, _ in lines]
    assert all(parsed), lines
    text = " ".join(m.group(7) for m in parsed)
    assert ss.word_error_rate([spoken], [" ".join(words_of(text))]) <= MAX_WER_INCREASE * 2, (spoken, text)
    ends = [int(m.group(4)) * 3600 + int(m.group(5)) * 60 + float(m.group(6)) for m in parsed]
    assert ends == sorted(ends) and ends[-1] <= len(audio) / ss.SAMPLE_RATE + 0.1


def test_the_live_options_reach_the_settings():
    from offline_transcribe.cli import parse_args, settings_from_args

    args = parse_args(["--live", "-", "--live-chunk", "1.6", "--live-right", "0"])
    assert args.live == "-" and settings_from_args(args).live == LiveOptions(chunk_s=1.6, left_s=None, right_s=0.0)


def test_live_says_what_is_wrong(live_store, tmp_path):
    """A file that is not there, a model that cannot stream, a chunk of 0 s: a message and a non-zero status."""
    models = ["--models-dir", str(live_store.models_dir)]
    missing = run_app_command([*models, "--live", str(tmp_path / "nope.wav")], tmp_path)
    assert missing.returncode == 1 and "'nope.wav' was not found" in missing.stderr, missing.stderr
    canary = run_app_command([*models, "--model", "canary", "--live", "-"], tmp_path)
    assert canary.returncode == 1 and "Canary-Qwen-2.5B cannot transcribe live" in canary.stderr, canary.stderr
    zero = run_app_command([*models, "--live", "-", "--live-chunk", "0"], tmp_path)
    assert zero.returncode == 2 and "--live-chunk: give a number of seconds above 0" in zero.stderr


def test_live_steps_and_page_transcriptions_take_turns(live_store, utterances, tmp_path, caplog):
    """The page's Live socket and its transcriptions share the server's job line: while a tab streams, two
    recordings are transcribed through the page's handler, and no job (a live step, its load, a transcription) ever
    runs during another. The tab's recording holds every sample it was sent."""
    import base64

    import soundfile
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from offline_transcribe.server import live
    from offline_transcribe.server.jobs import JobQueue
    from offline_transcribe.server.page import TranscribeHandler

    caplog.set_level(logging.DEBUG, logger="transcribe.jobs")
    jobs = JobQueue()
    handler = TranscribeHandler(live_store, tmp_path / "exports", jobs=jobs)
    mode = live.LiveMode(live_store, SHORT, tmp_path, jobs)
    app = FastAPI()
    live.install(app, jobs, "parakeet")
    speech = np.concatenate([audio for audio, _ in utterances[:2]])
    upload = write_wav(tmp_path / "upload.wav", utterances[3][0])
    results: list[str] = []
    uploads = threading.Thread(target=lambda: results.extend(handler(None, str(upload), "parakeet")[0]
                                                             for _ in range(2)))  # fmt: skip
    piece = ss.SAMPLE_RATE // 2
    with one_torch_thread(), TestClient(app) as client, client.websocket_connect(live.PATH) as ws:
        assert ws.receive_json()["type"] == "session.created"
        ws.send_json({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000}, "transcription": {"model": "parakeet"}}}}})  # fmt: skip
        for i, at in enumerate(range(0, len(speech), piece)):
            pcm = (speech[at : at + piece] * 32767).astype("<i2").tobytes()
            ws.send_json({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})
            if i == 2:
                uploads.start()
            time.sleep(0.05)
        ws.send_json({"type": "input_audio_buffer.commit"})
        events = []
        while (event := ws.receive_json())["type"] != "live.recording":
            events.append(event)
        uploads.join(120)
    views = [e for e in events if e["type"] == "live.view"]
    assert views and "live-committed" in views[-1]["text"] and "Live with" in views[-1]["status"], views[-1:]
    taken = mode.take(event["token"])
    assert taken is not None and "Recorded" in event["status"]
    recording, shown = taken  # the recording, and the live text shown for it (kept if the final pass finds nothing)
    assert "live-committed" in shown
    assert len(results) == 2 and results[0] == results[1] and results[0].strip()
    assert soundfile.info(recording).frames == len(speech)
    spans: dict[int, list] = {}
    for job, what, t, via in JOB_LINE.findall(caplog.text):
        span = spans.setdefault(int(job), [0.0, 0.0, ""])
        span[what == "end"] = float(t)
        span[2] = via or span[2]
    assert {via for _, _, via in spans.values()} == {"live", "page"}, spans
    ordered = sorted(spans.values())
    assert all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:], strict=False)), f"two jobs overlapped: {ordered}"


def test_live_file_is_played_at_real_time_speed(live_store, utterances, tmp_path, capsys):
    """``--live FILE`` (in this process): the file goes through the same session at the pace it was spoken;
    standard output holds only the lines, the words of the offline transcript (one may differ: see
    ``MAX_WER_INCREASE``). The shortest utterance of three words or more keeps it short."""
    from offline_transcribe.live.headless import run_live
    from offline_transcribe.transcribe import transcribe_audio

    audio = min((audio for audio, timings in utterances if len(timings) >= 3), key=len)
    wav = write_wav(tmp_path / "talk.wav", audio)
    with one_torch_thread():
        offline = transcribe_audio(audio, "parakeet", store=live_store)
        capsys.readouterr()
        started = time.monotonic()
        status = run_live(live_store, str(wav), "parakeet", SHORT)
        took = time.monotonic() - started
    out, err = capsys.readouterr()
    assert status == 0, err
    assert took >= len(audio) / ss.SAMPLE_RATE - 0.05, "not played at the pace it was spoken"  # sleeps: a floor
    assert "Live with Parakeet-TDT-0.6B-v2 on CPU (chunk 0.8 s, left 1.6 s, right 0.8 s)" in err
    lines = out.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert lines and all(parsed), lines
    expected, heard = words_of(offline.text), words_of(" ".join(m.group(7) for m in parsed))
    assert ss.word_error_rate([" ".join(expected)], [" ".join(heard)]) * len(expected) <= 1, (expected, heard)
