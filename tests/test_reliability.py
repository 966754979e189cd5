"""Reliability of the real server (issue 6, sections 3-5): bad audio, a burst of clients, what the server exposes.

One app process (started *without* ``--host``, so on the default address) serves the module: a table of bad and
unusual inputs sent through ``gradio_client`` (each followed by a normal request), 8 concurrent clients (results
matched to their requests, jobs never overlapping in the server log, memory back to its baseline), and the
exposure checks (loopback only, no share link, Gradio's file routes refuse private files, upload names cannot
escape Gradio's temp folder). A second, short-lived app with ``TRANSCRIBE_UI_CACHE_TTL_S`` shows uploads and
results being deleted after that age and when the server stops cleanly.

The bad-audio outcomes are printed as a table at the end of the module and written to
``$TEST_ARTIFACTS_DIR/bad_audio.json`` when that variable is set.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile
from gradio_client import Client, handle_file
from gradio_client.utils import Status

from app_process import HOST, PROJECT_DIR, SCRIPT, AppProcess, app_env, free_port, run_app_command, speech_wav

pytestmark = pytest.mark.timeout(300)

REFERENCE_TEXT = "hello world this is a test"
FAILED_MESSAGE = "✗ Transcribed 0 of 1 file"
SILENT_NOTE = "No speech found: the audio is silent."
RSS_MARGIN_MB = 150
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


# ---------------------------------------------------------------------------------------------------------------
# The app on its default address, and helpers


def start_default_app(models_dir: Path, tmp_dir: Path, env: dict[str, str] | None = None,
                      timeout: float = 180) -> AppProcess:
    """Like ``app_process.start_app`` but without ``--host``: the address is the app's own default."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path, netguard_log = tmp_dir / f"app-{port}.log", tmp_dir / f"netguard-{port}.log"
    cmd = [sys.executable, str(SCRIPT), "--models-dir", str(models_dir), "--port", str(port)]
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=PROJECT_DIR, env={**app_env(tmp_dir, netguard_log), **(env or {})}, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    app = AppProcess(proc, port, log_path, netguard_log, tmp_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with status {proc.returncode}:\n{app.log()[-4000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{app.url}config", timeout=2) as response:
            if response.status == 200:
                return app
        time.sleep(0.3)
    app.stop()
    raise TimeoutError(f"the app did not answer within {timeout:.0f} s:\n{app.log()[-4000:]}")


@pytest.fixture(scope="module")
def app_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reliability_app")


@pytest.fixture(scope="module")
def app(app_tmp, tiny_models_dir):
    """The module's app, started without --host."""
    running = start_default_app(tiny_models_dir, app_tmp)
    try:
        yield running
    finally:
        running.stop()
    assert not running.network_attempts(), "the app tried to reach another machine"
    assert running.proc.returncode == 0, running.log()[-2000:]
    assert not list(app_tmp.glob("offline-transcribe-*/server-*")), "uploads or results outlived the server (Ctrl-C)"


def new_client(app: AppProcess, tmp_path: Path) -> Client:
    return Client(app.url, verbose=False, download_files=str(tmp_path / "downloads"), analytics_enabled=False)


def transcribe(client: Client, files: list[Path], model: str = "parakeet") -> dict:
    """Call ``/transcribe`` and name its five outputs."""
    return named(client.predict([handle_file(str(f)) for f in files], None, model, api_name="/transcribe"))


def named(outputs: tuple) -> dict:
    text, segments, downloads, stats, messages = outputs
    return {"text": text, "segments": segments, "downloads": [Path(p) for p in downloads or []],
            "stats": stats, "messages": messages}


def singles(result: dict) -> list[Path]:
    """The downloads without the ZIP that holds them all."""
    return [p for p in result["downloads"] if p.suffix != ".zip"]


def stats_by_file(result: dict) -> dict[str, dict]:
    headers = result["stats"]["headers"]
    return {row[0]: dict(zip(headers, row, strict=True)) for row in result["stats"]["data"]}


def seconds(cell: str) -> float:
    """The statistics table's audio length ('2.8 s', '4:00.9', '3:00:01.5') in seconds."""
    if ":" in cell:
        *hours_minutes, secs = cell.split(":")
        return sum(int(v) * 60 ** (len(hours_minutes) - i) for i, v in enumerate(hours_minutes)) + float(secs)
    return float(cell.split()[0])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The normal request: a short spoken clip (16-bit WAV, 22.05 kHz)."""
    return speech_wav(tmp_path_factory.mktemp("reference") / "reference.wav", REFERENCE_TEXT)


@pytest.fixture(scope="module")
def reference_text(app, reference, tmp_path_factory) -> str:
    """What the tiny model says for the reference clip (gibberish, but the same every time)."""
    result = transcribe(new_client(app, tmp_path_factory.mktemp("ref_client")), [reference])
    assert stats_by_file(result)["reference.wav"]["Result"] == "✓ done", result["messages"]
    return result["text"]


def assert_normal_request_works(client: Client, reference: Path, reference_text: str) -> None:
    result = transcribe(client, [reference])
    assert stats_by_file(result)["reference.wav"]["Result"] == "✓ done", result["messages"]
    assert result["text"] == reference_text


# ---------------------------------------------------------------------------------------------------------------
# 3. Bad audio


def _speech(reference: Path) -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(reference, dtype="int16")
    return samples, rate


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True)


def make_empty(d: Path, ref: Path) -> Path:
    (p := d / "empty.wav").write_bytes(b"")
    return p


def make_random(d: Path, ref: Path) -> Path:
    (p := d / "random bytes.mp3").write_bytes(np.random.default_rng(6).bytes(50_000))
    return p


def _mp3(d: Path, ref: Path) -> bytes:
    full = d / "full.mp3"
    if not full.exists():
        _ffmpeg("-i", str(ref), "-c:a", "libmp3lame", "-b:a", "32k", str(full))
    return full.read_bytes()


def make_truncated_mp3(d: Path, ref: Path) -> Path:
    data = _mp3(d, ref)
    (p := d / "truncated.mp3").write_bytes(data[: len(data) // 2])
    return p


def make_truncated_mp3_header(d: Path, ref: Path) -> Path:
    (p := d / "cut after 300 bytes.mp3").write_bytes(_mp3(d, ref)[:300])
    return p


def make_pdf(d: Path, ref: Path) -> Path:
    """A small but well-formed one-page PDF (objects, xref table, trailer), named .wav."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R >>",
        b"<< /Length 35 >>\nstream\nBT /F1 12 Tf 10 50 Td (hi) Tj ET\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    (p := d / "minutes.pdf.wav").write_bytes(bytes(out))
    return p


def make_header_only(d: Path, ref: Path) -> Path:
    soundfile.write(p := d / "header only.wav", np.zeros(0, np.int16), 16000, subtype="PCM_16")
    return p


def make_blip(d: Path, ref: Path) -> Path:
    samples, rate = _speech(ref)
    start = int(np.argmax(np.abs(samples) > 3000))  # 0.1 s from the first loud sample
    soundfile.write(p := d / "blip.wav", samples[start : start + rate // 10], rate, subtype="PCM_16")
    return p


def make_silence_3h(d: Path, ref: Path) -> Path:
    """3 hours of digital silence as a 16 kHz, 8 kbit/s MP3 (10.8 MB): 10 minutes encoded, its frames repeated."""
    ten = d / "ten-minutes.mp3"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "600", "-c:a", "libmp3lame", "-b:a", "8k",
            "-write_xing", "0", "-id3v2_version", "0", str(ten))
    (p := d / "silence 3h.mp3").write_bytes(ten.read_bytes() * 18)
    return p


def make_silence_1s(d: Path, ref: Path) -> Path:
    soundfile.write(p := d / "one second of silence.wav", np.zeros(16000, np.int16), 16000, subtype="PCM_16")
    return p


def make_8_channels(d: Path, ref: Path) -> Path:
    samples, rate = _speech(ref)
    soundfile.write(p := d / "eight channels.wav", np.repeat(samples[:, None], 8, axis=1), rate, subtype="PCM_16")
    return p


def make_8khz(d: Path, ref: Path) -> Path:
    _ffmpeg("-i", str(ref), "-ar", "8000", "-c:a", "pcm_s16le", str(p := d / "telephone 8kHz.wav"))
    return p


def make_192khz(d: Path, ref: Path) -> Path:
    _ffmpeg("-i", str(ref), "-ar", "192000", "-c:a", "pcm_s24le", str(p := d / "studio 192kHz.wav"))
    return p


def make_pcm24(d: Path, ref: Path) -> Path:
    samples, rate = _speech(ref)
    soundfile.write(p := d / "pcm 24-bit.wav", samples.astype(np.int32) << 16, rate, subtype="PCM_24")
    return p


def make_float(d: Path, ref: Path) -> Path:
    samples, rate = _speech(ref)
    soundfile.write(p := d / "float32.wav", samples.astype(np.float32) / 32768, rate, subtype="FLOAT")
    return p


def make_nan_inf(d: Path, ref: Path) -> Path:
    samples, rate = _speech(ref)
    audio = samples.astype(np.float32) / 32768
    audio[100::997], audio[300::1999], audio[700::2999] = np.nan, np.inf, -np.inf
    soundfile.write(p := d / "nan and inf.wav", audio, rate, subtype="FLOAT")
    return p


def make_video_no_audio(d: Path, ref: Path) -> Path:
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            str(p := d / "screen recording.mp4"))
    return p


def make_opus_named_mp3(d: Path, ref: Path) -> Path:
    opus = d / "speech.ogg"
    _ffmpeg("-i", str(ref), "-c:a", "libopus", "-b:a", "24k", str(opus))
    return opus.rename(d / "actually opus.mp3")


def make_non_ascii_name(d: Path, ref: Path) -> Path:
    return Path(shutil.copy(ref, d / "réunion d'équipe 東京.wav"))


@dataclass(frozen=True)
class Case:
    """One bad or unusual input and the outcome it must have.

    ``expect``: "error" (the message names the file and says ``phrase``), "silent" (no speech, the silent note),
    "text" (transcribed, non-empty), "same" (transcribed exactly like the reference clip: the same samples),
    "short" (transcribed or "no speech", never an error: 0.1 s may hold no word).
    """

    id: str
    make: Callable[[Path, Path], Path]
    expect: str
    phrase: str = ""
    seconds: float | Callable[[float], float] | None = None  # audio length (or f(reference's)); None: reference's
    tolerance: float = 0.1


BAD_AUDIO = [
    Case("zero-bytes", make_empty, "error", "is empty (0 bytes)"),
    Case("random-bytes", make_random, "error", "could not be read as audio or video"),
    Case("truncated-mp3", make_truncated_mp3, "text", seconds=lambda whole: whole / 2, tolerance=0.3),
    Case("mp3-cut-in-header", make_truncated_mp3_header, "error", "could not be read as audio or video"),
    Case("pdf-named-wav", make_pdf, "error", "could not be read as audio or video"),
    Case("wav-header-only", make_header_only, "error", "contains no audio samples"),
    Case("0.1-seconds", make_blip, "short", seconds=0.1, tolerance=0.02),
    Case("3-hours-silence", make_silence_3h, "silent", SILENT_NOTE, seconds=10800, tolerance=5),
    Case("1-second-silence", make_silence_1s, "silent", SILENT_NOTE, seconds=1.0),
    Case("8-channels", make_8_channels, "same"),
    Case("8-kHz", make_8khz, "text"),
    Case("192-kHz", make_192khz, "text"),
    Case("24-bit-wav", make_pcm24, "same"),
    Case("float-wav", make_float, "same"),
    Case("nan-inf-float-wav", make_nan_inf, "text"),
    Case("video-without-audio", make_video_no_audio, "error", "is not an audio file (no audio stream found)"),
    Case("opus-named-mp3", make_opus_named_mp3, "text"),
    Case("non-ascii-name", make_non_ascii_name, "same"),
]
SLOW_CASES = {"3-hours-silence"}


@pytest.fixture(scope="module")
def bad_audio_report(request):
    """Collects each case's outcome; prints the table and writes the JSON when the module ends."""
    rows: list[dict] = []
    yield rows
    if not rows:
        return
    lines = ["", "Bad audio through the running app (case | outcome | seconds | message or transcript):"]
    width = max(len(r["case"]) for r in rows)
    for r in rows:
        lines.append(f"  {r['case']:<{width}} | {r['outcome']:<9} | {r['request_s']:6.1f} s | {r['detail']}")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n".join(lines), flush=True)
    if artifacts := os.environ.get("TEST_ARTIFACTS_DIR"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        (Path(artifacts) / "bad_audio.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


def _first_line_of_error(messages: str) -> str:
    block = re.search(r"```\n(.*?)\n```", messages, flags=re.DOTALL)
    return " ".join((block.group(1) if block else messages).split())


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.id in SLOW_CASES else []) for c in BAD_AUDIO]
)
def test_bad_audio(case, app, reference, reference_text, tmp_path, bad_audio_report):
    source = case.make(tmp_path, reference)
    name = source.name
    client = new_client(app, tmp_path)
    started = time.monotonic()
    result = transcribe(client, [source])
    took = time.monotonic() - started
    row = stats_by_file(result)[name]  # the statistics row carries the file's own name (non-ASCII included)
    messages = result["messages"]
    assert "Traceback" not in messages

    if case.expect == "error":
        assert messages.startswith(FAILED_MESSAGE), messages
        assert f"'{name}' {case.phrase}" in messages, messages
        assert f"**✗ {name}**" in messages
        assert row["Result"] == "✗ failed" and result["text"] == "" and result["downloads"] == []
        outcome, detail = "message", _first_line_of_error(messages)
    else:
        expected_seconds = soundfile.info(reference).duration
        if case.seconds is not None:
            expected_seconds = case.seconds(expected_seconds) if callable(case.seconds) else case.seconds
        assert seconds(row["Audio"]) == pytest.approx(expected_seconds, abs=case.tolerance), row
        spoke = row["Result"] == "✓ done"
        if spoke:  # a transcript: every format, and their ZIP
            assert messages.startswith("✓ Transcribed 1 of 1 file"), messages
            assert len(singles(result)) == 7 and len(result["downloads"]) == 8  # TXT SRT VTT JSON CSV DOCX MD, ZIP
        else:  # no speech recognised: its own outcome, with nothing to download
            assert row["Result"] == "⚠ no speech" and result["text"] == "" and result["downloads"] == [], row
            assert messages.startswith("⚠ Transcribed 0 of 1 file") and "No speech recognised in 1." in messages
        if case.expect == "silent":
            assert not spoke and f"No speech recognised in '{name}'" in messages and SILENT_NOTE in messages
            outcome, detail = "silent", f"{SILENT_NOTE} (audio {row['Audio']})"
        elif case.expect == "short":
            assert bool(result["text"].strip()) == spoke
            outcome, detail = "text" if result["text"] else "no speech", f"{result['text']!r} (audio {row['Audio']})"
        else:
            assert spoke and result["text"].strip(), (row, messages)
            assert {r[0] for r in result["segments"]["data"]} == {name}
            if case.expect == "same":
                assert result["text"] == reference_text
            outcome, detail = "text", f"{result['text'][:60]!r} (audio {row['Audio']})"
    if case.id in SLOW_CASES:
        assert took < 120, f"{case.id} took {took:.0f} s"
    bad_audio_report.append({"case": case.id, "file": name, "outcome": outcome, "result": row["Result"],
                             "audio": row["Audio"], "request_s": round(took, 2), "detail": detail})

    assert_normal_request_works(client, reference, reference_text)  # the server goes on serving
    assert app.proc.poll() is None


@pytest.mark.slow
def test_missing_path_in_the_headless_command(tiny_models_dir, reference, tmp_path, bad_audio_report):
    """gradio_client uploads what it is given, so a path that no longer exists goes through ``--transcribe``."""
    gone = tmp_path / "deleted meanwhile.wav"
    shutil.copy(reference, gone)
    gone.unlink()
    started = time.monotonic()
    done = run_app_command(
        ["--models-dir", str(tiny_models_dir), "--output-dir", str(tmp_path / "out"), "--transcribe", str(gone),
         str(reference)],
        tmp_path, timeout=240,
    )
    took = time.monotonic() - started
    lines = done.stdout.splitlines()  # the result lines only: the libraries' log lines stay out of the terminal
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[NeMo" not in done.stderr and "Lightning" not in done.stderr and len(lines) == 2, done.stderr
    assert lines[0] == f"FAILED {gone}: '{gone.name}' was not found: {gone}", lines
    assert lines[1].startswith(f"OK     {reference} -> "), lines  # the batch goes on with the next file
    assert "Traceback" not in done.stdout + done.stderr
    bad_audio_report.append({"case": "path-no-longer-exists (CLI)", "file": gone.name, "outcome": "message",
                             "result": "FAILED", "audio": "—", "request_s": round(took, 2),
                             "detail": lines[0].split(": ", 1)[1]})


# ---------------------------------------------------------------------------------------------------------------
# 4. Load: 8 concurrent clients

LOAD_TEXTS = [  # 2.5 to 7 s: different lengths and words, so different (gibberish) transcripts
    "please call me back tomorrow afternoon",
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore every summer",
    "please transcribe this audio file offline right now and quickly",
    "zero one two three four five six seven eight nine ten eleven twelve",
    "hello world this is a small speech model for tests and it keeps going for a while",
    "a burst of eight clients sends eight different files at the same moment to one server",
    "every result must come back to the client that asked for it and never to another one at all",
]
JOB_LINE = re.compile(r"job (\d+) (start|end) t=([0-9.]+)")


def job_intervals(log: str) -> dict[int, list[float]]:
    """{job id: [start, end]} from the handler's log lines (monotonic clock)."""
    jobs: dict[int, list[float]] = {}
    for job, what, t in JOB_LINE.findall(log):
        jobs.setdefault(int(job), [float("nan"), float("nan")])[what == "end"] = float(t)
    return jobs


@dataclass
class Burst:
    """What one burst of clients saw: seconds in all, the jobs' spans (server clock), the most requests ahead of
    each request as the queue told its client, and the server's RSS before, at its peak and after."""

    seconds: float
    spans: list[list[float]]
    queue_ranks: dict[str, int]
    rss: tuple[int, int, int]

    def describe(self, started: float) -> str:
        mb = 2**20
        before, peak, after = (r / mb for r in self.rss)
        gaps = [b[0] - a[1] for a, b in zip(self.spans, self.spans[1:], strict=False)]
        return (f"{self.seconds:.1f} s; jobs (s after the threads started): "
                + ", ".join(f"{s - started:.2f}-{e - started:.2f}" for s, e in self.spans)
                + f"; smallest gap between jobs {min(gaps) * 1000:.1f} ms; most requests ahead of one, as the queue "
                f"reported: {sorted(self.queue_ranks.values())}; server RSS: before {before:.0f} MB, peak "
                f"{peak:.0f} MB, after {after:.0f} MB")


def burst(app: AppProcess, tmp_path: Path, files: list[Path], durations: dict[str, float],
          expected: dict[str, str]) -> tuple[Burst, float]:
    """One client per file, all released at once; each result checked against ``expected``. Returns what the
    burst saw and the time (``time.monotonic``) its threads started."""
    server = psutil.Process(app.proc.pid)
    time.sleep(1.0)
    before = server.memory_info().rss
    last_job = max(job_intervals(app.log()), default=0)
    peak, stop = [before], threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            with contextlib.suppress(psutil.Error):
                peak.append(server.memory_info().rss)

    results: dict[str, dict] = {}
    queue_ranks: dict[str, int] = {}  # the most requests ahead of each one, as the queue told its client
    errors: list[BaseException] = []
    clients = [new_client(app, tmp_path / f"client-{i}") for i in range(len(files))]  # sessions made up front
    barrier = threading.Barrier(len(files))

    def run(client: Client, f: Path) -> None:
        try:
            barrier.wait(30)
            job = client.submit([handle_file(str(f))], None, "parakeet", api_name="/transcribe")
            queue_ranks[f.name] = 0
            while not job.done():
                status = job.status()
                if status.code == Status.IN_QUEUE and status.rank is not None:
                    queue_ranks[f.name] = max(queue_ranks[f.name], status.rank)
                time.sleep(0.05)
            results[f.name] = named(job.result())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=run, args=(c, f)) for c, f in zip(clients, files, strict=True)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    took = time.monotonic() - started
    time.sleep(3.0)  # settle
    stop.set()
    watcher.join()
    after = server.memory_info().rss
    assert not errors, errors

    for f in files:
        res = results[f.name]
        assert list(stats_by_file(res)) == [f.name]
        row = stats_by_file(res)[f.name]
        assert row["Result"] == "✓ done"
        assert seconds(row["Audio"]) == pytest.approx(durations[f.name], abs=0.1)
        assert res["text"] == expected[f.name], f.name
        assert {r[0] for r in res["segments"]["data"]} == {f.name}
        assert {p.stem for p in singles(res)} == {f.stem}

    jobs = {k: v for k, v in job_intervals(app.log()).items() if k > last_job}
    assert len(jobs) == len(files), jobs
    spans = sorted(jobs.values())
    assert all(not np.isnan(t) for span in spans for t in span), spans
    return Burst(took, spans, queue_ranks, (before, max(peak), after)), started


@pytest.mark.slow
def test_burst_of_8_clients(app, tmp_path):
    """Eight clients at once, twice: each gets its own file's result, the jobs run one after another while the
    others wait in the queue, and neither burst grows the server's memory by more than ``RSS_MARGIN_MB`` (nothing
    is kept per request; with glibc's default of a heap per thread RSS stepped up by 19-130 MB a burst, which
    ``native_memory.limit_malloc_arenas`` stops)."""
    # Each text 12 times (30-90 s of speech): a job (0.3-0.8 s with the tiny model) outlasts the spread of the eight
    # clients' joins on a loaded 2-core machine (about 1.3 s in all), so requests pile up in the queue. With 4 times
    # (0.1-0.2 s a job) each join could find the one before it already running, and no client ever saw a rank.
    files = [speech_wav(tmp_path / f"load-{i}.wav", " ".join([text] * 12)) for i, text in enumerate(LOAD_TEXTS)]
    durations = {f.name: soundfile.info(f).duration for f in files}
    assert len(set(round(d, 2) for d in durations.values())) == len(files)

    # Expected texts: one request with all 8 files (also the warm-up).
    warm = transcribe(new_client(app, tmp_path / "warm"), files)
    blocks = dict(re.findall(r"── (.+?) ──\n(.*?)(?=\n\n── |\Z)", warm["text"], flags=re.DOTALL))
    expected = {f.name: blocks[f.name] for f in files}
    assert all(text != "(no speech found)" for text in expected.values()), expected
    # Each request is also told apart by its statistics row: file name and (distinct) audio length.
    assert len(set(expected.values())) >= len(files) - 1, expected

    bursts = []
    for n in (1, 2):
        seen, started = burst(app, tmp_path / f"burst-{n}", files, durations, expected)
        # time.monotonic() is the machine's CLOCK_MONOTONIC: the server's times and ours share their origin
        print(f"\nburst {n} of {len(files)} clients: {seen.describe(started)}")
        overlaps = [(a, b) for a, b in zip(seen.spans, seen.spans[1:], strict=False) if b[0] < a[1]]
        assert not overlaps, f"two jobs ran at once: {overlaps}"
        assert max(seen.queue_ranks.values()) >= 2, seen.queue_ranks  # the requests really waited for one another
        bursts.append(seen)
    mb = 2**20
    for n, seen in enumerate(bursts, 1):
        before, _, after = (r / mb for r in seen.rss)
        assert after - before <= RSS_MARGIN_MB, f"burst {n}: RSS grew from {before:.0f} MB to {after:.0f} MB"


# ---------------------------------------------------------------------------------------------------------------
# 5. Exposure


def non_loopback_ipv4() -> list[str]:
    """This machine's IPv4 addresses other than loopback (from ``ip``, else the host name and a UDP route)."""
    found: set[str] = set()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=10).stdout
        found.update(re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", out))
    with contextlib.suppress(OSError):
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # no packet is sent: this only asks the kernel for a route's source address
        found.add(s.getsockname()[0])
    return sorted(a for a in found if not a.startswith("127.") and a != "0.0.0.0")


def test_listens_on_loopback_only_and_shares_nothing(app):
    listening = [c.laddr for c in psutil.Process(app.proc.pid).net_connections("inet") if c.status == "LISTEN"]
    assert listening and {a.ip for a in listening} <= LOOPBACK, listening
    assert {a.port for a in listening} == {app.port}

    addresses = non_loopback_ipv4()
    if not addresses:
        pytest.skip("this machine has no address but loopback")
    for address in addresses:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            assert s.connect_ex((address, app.port)) != 0, f"the page is reachable on {address}:{app.port}"

    log = app.log()
    assert f"http://127.0.0.1:{app.port}" in log, log[-2000:]
    assert "gradio.live" not in log and "public URL" not in log
    with urllib.request.urlopen(f"{app.url}config", timeout=10) as response:
        config = json.load(response)
    assert not config.get("share_url"), config.get("share_url")
    print(f"\nlistening on {sorted({f'{a.ip}:{a.port}' for a in listening})}; refused on {addresses}; no share link")


def http_get(app: AppProcess, raw_path: str) -> tuple[int, bytes]:
    """GET exactly ``raw_path`` (no normalisation by the client)."""
    conn = http.client.HTTPConnection(HOST, app.port, timeout=30)
    try:
        conn.request("GET", raw_path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def upload(app: AppProcess, files: list[tuple[str, bytes]]) -> tuple[int, bytes]:
    """A raw multipart POST to ``/gradio_api/upload`` with the file names exactly as given."""
    boundary = uuid.uuid4().hex
    body = bytearray()
    for name, data in files:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{quoted}"\r\n'
                 "Content-Type: audio/wav\r\n\r\n").encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection(HOST, app.port, timeout=30)
    try:
        conn.request("POST", "/gradio_api/upload", body=bytes(body),
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_file_routes_serve_no_private_file(app, app_tmp, tiny_models_dir):
    # The route works for what it is for: a file uploaded to the server.
    marker = b"uploaded-" + uuid.uuid4().hex.encode()
    status, body = upload(app, [("mine.wav", marker)])
    assert status == 200, body
    (uploaded,) = json.loads(body)
    assert http_get(app, "/gradio_api/file=" + urllib.parse.quote(uploaded)) == (200, marker)

    gradio_tmp = app.gradio_dir
    secrets = {
        "model": tiny_models_dir / "parakeet.nemo",
        "manifest": tiny_models_dir / "manifest.json",
        "source": PROJECT_DIR / "transcribe_ui.py",
        "store": PROJECT_DIR / "model_store.py",
        "package": PROJECT_DIR / "offline_transcribe" / "models" / "store.py",
        "passwd": Path("/etc/passwd"),
    }
    up = "../" * (len(Path(uploaded).parts) + 2)  # far enough from the upload folder to reach /
    attempts: list[str] = []
    for key, path in secrets.items():
        if not path.exists():
            continue
        absolute, relative = str(path), os.path.relpath(path, PROJECT_DIR)
        via_upload_dir = f"{Path(uploaded).parent}/{up}{absolute.lstrip('/')}"
        candidates = [
            f"/gradio_api/file={absolute}",
            f"/file={absolute}",
            f"/gradio_api/file={urllib.parse.quote(absolute)}",
            f"/gradio_api/file={relative}",
            f"/file={relative}",
            f"/gradio_api/file={via_upload_dir}",
            f"/gradio_api/file={urllib.parse.quote(via_upload_dir, safe='')}",
            f"/gradio_api/file={gradio_tmp}/{up.replace('/', '%2F')}{absolute.lstrip('/')}",
            f"/gradio_api/file=..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F{absolute.lstrip('/')}",
            f"/gradio_api/file=%2E%2E/%2E%2E/%2E%2E/%2E%2E/%2E%2E/%2E%2E/%2E%2E/{absolute.lstrip('/')}",
            f"/gradio_api/file={absolute}".replace("/", "//"),
            f"/static/{up}{absolute.lstrip('/')}",
            f"/static/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F{absolute.lstrip('/')}",
            f"/assets/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F{absolute.lstrip('/')}",
            f"/gradio_api/file={path.parent}",
        ]
        content = path.read_bytes()
        snippet = content[:64] if key != "passwd" else b"root:"
        for candidate in candidates:
            status, body = http_get(app, candidate)
            attempts.append(f"{status} {candidate}")
            assert not (status == 200 and (snippet in body or body == content)), f"{candidate} served {path}"
            assert status != 200 or not body.startswith(content[:16]), candidate
    print(f"\n{len(attempts)} requests for private files, all refused: "
          + ", ".join(sorted({a.split()[0] for a in attempts})) + " (status codes)")
    assert all(not a.startswith("200 ") for a in attempts if "/file=" in a), [a for a in attempts if "200 " in a]


def test_upload_names_cannot_leave_the_temp_folder(app, app_tmp):
    gradio_tmp = app.gradio_dir.resolve()
    tag = uuid.uuid4().hex[:8]
    names = [f"../../escape-{tag}-1.wav", f"..%2F..%2Fescape-{tag}-2.wav", f"/tmp/escape-{tag}-3.wav",
             f"..\\..\\escape-{tag}-4.wav", f"sub/../../../../escape-{tag}-5.wav", "..", "../"]
    outcomes = []
    for i, name in enumerate(names):
        data = f"payload {i} {tag}".encode()
        status, body = upload(app, [(name, data)])
        if status == 200:
            (stored,) = json.loads(body)
            path = Path(stored).resolve()
            assert path.is_relative_to(gradio_tmp), f"{name!r} was stored at {path}"
            assert path.read_bytes() == data
            outcomes.append(f"{name!r} -> {path.relative_to(gradio_tmp)}")
        else:
            assert 400 <= status < 500, (status, body)
            outcomes.append(f"{name!r} -> refused ({status})")
    strays = [p for base in (app_tmp.parent, Path("/tmp"), PROJECT_DIR, PROJECT_DIR / "tests")
              for p in base.glob(f"*escape-{tag}-*")]
    strays += [p for p in app_tmp.rglob(f"*escape-{tag}-*") if not p.resolve().is_relative_to(gradio_tmp)]
    assert not strays, strays
    refused_leftovers = [p for p in gradio_tmp.iterdir() if p.is_file() and tag.encode() in p.read_bytes()]
    assert not refused_leftovers, refused_leftovers  # a refused upload's bytes are deleted at once
    print("\nupload names: " + "; ".join(outcomes))


def test_refused_upload_leaves_nothing_behind(app, app_tmp):
    """Gradio 6.31 keeps a refused upload's bytes in an untracked tmp* file of its upload folder
    (``route_utils.upload_fn``); the server deletes them as soon as no other upload is under way
    (``server/upload_leftovers.py``); a good upload after it is kept."""
    gradio_tmp = app.gradio_dir
    tag = uuid.uuid4().hex.encode()
    status, _ = upload(app, [("..", b"secret " + tag)])
    assert status == 400
    leftovers = [p for p in gradio_tmp.rglob("*") if p.is_file() and tag in p.read_bytes()]
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    assert not leftovers, f"the refused upload's bytes were kept in {leftovers}"
    status, body = upload(app, [("kept.wav", b"kept " + tag)])
    (stored,) = json.loads(body)
    assert status == 200 and Path(stored).read_bytes() == b"kept " + tag


# ---------------------------------------------------------------------------------------------------------------
# 5. Exposure: uploads and results are deleted after a bounded time and when the server stops


def test_cache_age_setting(monkeypatch):
    from offline_transcribe import Settings, config

    monkeypatch.delenv(config.CACHE_TTL_ENV, raising=False)
    assert config.cache_setting() == config.DELETE_CACHE == (1800, 3600) == Settings.from_env().delete_cache
    for value, expected in {"6": (3, 6), "1": (1, 1), "86400": (1800, 86400), "0": (1800, 3600),
                            "soon": (1800, 3600), " ": (1800, 3600)}.items():
        monkeypatch.setenv(config.CACHE_TTL_ENV, value)
        assert config.cache_setting() == expected, value
        assert Settings.from_env().delete_cache == expected, value


def kept_content(folder: Path) -> list[Path]:
    """Files with content under ``folder``.

    Gradio 6.31's ``gr.File`` (type="filepath") creates an empty ``tmp*`` file in its cache for every uploaded
    file and never uses, tracks or deletes it (``gradio/components/file.py``, ``_process_single_file``); those
    hold nothing of the user's, so they are counted apart (``empty_leftovers``).
    """
    return [p for p in folder.rglob("*") if p.is_file() and p.stat().st_size] if folder.exists() else []


def empty_leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file() and not p.stat().st_size] if folder.exists() else []


@pytest.mark.slow
def test_uploads_and_results_are_deleted_after_their_age_and_at_stop(tiny_models_dir, reference, tmp_path):
    ttl = 8
    app_dir = tmp_path / "short-ttl"
    running = start_default_app(tiny_models_dir, app_dir, env={"TRANSCRIBE_UI_CACHE_TTL_S": str(ttl)})
    gradio_tmp = running.gradio_dir
    try:
        result = transcribe(new_client(running, tmp_path), [reference])
        assert stats_by_file(result)["reference.wav"]["Result"] == "✓ done"
        status, body = upload(running, [("extra.wav", b"x" * 1000)])
        assert status == 200
        names = {p.name for p in kept_content(gradio_tmp)}
        assert {"extra.wav", "reference.srt", "reference.json"} <= names, names  # the clip itself may be gone
        created = time.monotonic()

        deadline = created + ttl + ttl // 2 + 30  # age + one check interval + a loaded machine's delays
        while kept_content(gradio_tmp) and time.monotonic() < deadline:
            time.sleep(0.5)
        gone_after = time.monotonic() - created
        assert not kept_content(gradio_tmp), kept_content(gradio_tmp)
        assert running.proc.poll() is None

        # A clean stop (Ctrl-C) removes what is left at once, long before its age.
        status, body = upload(running, [("last.wav", b"y" * 1000)])
        (last,) = json.loads(body)
        assert Path(last).is_file()
        uploaded_at = time.monotonic()
        running.proc.send_signal(signal.SIGINT)
        while Path(last).exists() and running.proc.poll() is None:
            time.sleep(0.05)
        removed_s = time.monotonic() - uploaded_at  # how old the upload was when it went
        running.proc.wait(60)
        assert running.proc.returncode == 0, running.log()[-2000:]
        assert not Path(last).exists(), "an upload outlived the server"
        assert not kept_content(gradio_tmp), kept_content(gradio_tmp)
        empties = empty_leftovers(gradio_tmp)
        assert all(p.name.startswith("tmp") for p in empties), empties
        assert not list(app_dir.glob("offline-transcribe-*/server-*")), "the server's private folder outlived it"
        print(f"\ncache age {ttl} s: uploads and results gone {gone_after:.1f} s after they were made; "
              f"at Ctrl-C an upload {removed_s:.1f} s old was removed as the server stopped (exit "
              f"{running.proc.returncode}); Gradio's empty placeholder files left behind: {len(empties)}")
        assert removed_s < ttl, f"the upload lived {removed_s:.1f} s: the age, not the stop, may have removed it"
    finally:
        running.stop()
    assert not running.network_attempts()
