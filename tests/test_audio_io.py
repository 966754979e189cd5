"""Tests for audio_io.py: every container decodes to 16 kHz mono with the same content, and bad files fail clearly.

All inputs are made here: a two-tone signal (440 Hz for the first second, 880 Hz for the second) written with
soundfile and encoded with the ffmpeg command line. Content is compared by dominant frequency and RMS per half,
which lossy codecs and their start-up delay leave intact.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from offline_transcribe.audio import SAMPLE_RATE, audio_duration, is_silent, load_audio, write_wav
from offline_transcribe.errors import AudioDecodeError, AudioTooLongError

DURATION = 2.0
AMPLITUDE = 0.5


def two_tone(sample_rate: int, amplitude: float = AMPLITUDE) -> np.ndarray:
    """440 Hz for the first half of DURATION, 880 Hz for the second (float64, mono)."""
    t = np.arange(int(DURATION * sample_rate)) / sample_rate
    return amplitude * np.sin(2 * np.pi * np.where(t < DURATION / 2, 440, 880) * t)


def dominant_hz(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sample_rate)[np.argmax(spectrum)])


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def assert_two_tone(audio: np.ndarray, amplitude: float = AMPLITUDE) -> None:
    """16 kHz mono float32 of DURATION (±50 ms) with 440 Hz then 880 Hz at the expected level."""
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio_duration(audio) == pytest.approx(DURATION, abs=0.05)
    first = audio[int(0.2 * SAMPLE_RATE) : int(0.8 * SAMPLE_RATE)]
    second = audio[int(1.2 * SAMPLE_RATE) : int(1.8 * SAMPLE_RATE)]
    assert dominant_hz(first) == pytest.approx(440, abs=5)
    assert dominant_hz(second) == pytest.approx(880, abs=5)
    for half in (first, second):
        assert rms(half) == pytest.approx(amplitude / np.sqrt(2), rel=0.15)


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """A folder with the two-tone signal as stereo 44.1 kHz WAV and encoded in every container the app accepts."""
    folder = tmp_path_factory.mktemp("media")
    tone = two_tone(44100)
    soundfile.write(folder / "tone.wav", np.stack([tone, tone], axis=1), 44100, subtype="PCM_16")
    src = folder / "tone.wav"
    ffmpeg("-i", src, folder / "tone.flac")
    ffmpeg("-i", src, "-c:a", "libmp3lame", folder / "tone.mp3")
    ffmpeg("-i", src, "-c:a", "aac", folder / "tone.m4a")
    ffmpeg("-i", src, "-c:a", "libvorbis", folder / "tone.ogg")
    ffmpeg("-i", src, "-c:a", "libopus", folder / "tone.opus")
    ffmpeg("-i", src, "-c:a", "libopus", folder / "tone.webm")
    video = ["-f", "lavfi", "-i", f"testsrc=size=64x64:rate=10:duration={DURATION}"]
    ffmpeg(*video, "-i", src, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", folder / "tone.mp4")
    ffmpeg(*video, "-i", src, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libvorbis", folder / "tone.mkv")
    ffmpeg(*video, "-c:v", "libx264", "-pix_fmt", "yuv420p", folder / "silent-film.mp4")
    # Like a browser's MediaRecorder: WebM written to a pipe carries no duration in its header.
    with open(folder / "recording.webm", "wb") as out:
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(src), "-c:a", "libopus", "-f", "webm", "pipe:1"]
        subprocess.run(cmd, check=True, stdout=out)
    return folder


@pytest.mark.parametrize("name", ["tone.wav", "tone.flac", "tone.mp3", "tone.m4a", "tone.ogg", "tone.opus",
                                  "tone.webm", "recording.webm", "tone.mp4", "tone.mkv"])  # fmt: skip
def test_containers_decode_to_16k_mono(media: Path, name: str) -> None:
    assert_two_tone(load_audio(media / name))


def test_lossy_decode_matches_wav_decode(media: Path) -> None:
    reference = load_audio(media / "tone.wav")
    for name in ("tone.mp3", "tone.m4a", "tone.opus"):
        audio = load_audio(str(media / name))  # str paths work too
        n = min(len(audio), len(reference))
        lag = np.argmax(np.correlate(audio[4000:12000], reference[4000 - 800 : 12000 + 800], "valid")) - 800
        aligned = np.roll(reference, lag)[8000 : n - 8000]  # lag > 0: the decode is late
        assert np.corrcoef(audio[8000 : n - 8000], aligned)[0, 1] > 0.9, name


@pytest.mark.parametrize(
    "sample_rate, subtype",
    [(8000, "PCM_16"), (48000, "PCM_16"), (192000, "PCM_16"), (44100, "PCM_24"), (16000, "PCM_32"),
     (22050, "PCM_U8"), (44100, "FLOAT"), (48000, "DOUBLE")],
)  # fmt: skip
def test_wav_rates_and_sample_formats(tmp_path: Path, sample_rate: int, subtype: str) -> None:
    path = tmp_path / f"tone-{sample_rate}-{subtype}.wav"
    soundfile.write(path, two_tone(sample_rate), sample_rate, subtype=subtype)
    assert_two_tone(load_audio(path))


def test_other_output_rate(media: Path) -> None:
    assert len(load_audio(media / "tone.flac", sample_rate=8000)) == pytest.approx(DURATION * 8000, abs=1)


def test_channels_are_averaged(tmp_path: Path) -> None:
    tone = two_tone(44100)
    soundfile.write(tmp_path / "left.wav", np.stack([tone, np.zeros_like(tone)], axis=1), 44100)
    assert_two_tone(load_audio(tmp_path / "left.wav"), amplitude=AMPLITUDE / 2)
    soundfile.write(tmp_path / "opposite.wav", np.stack([tone, -tone], axis=1), 44100)
    assert is_silent(load_audio(tmp_path / "opposite.wav"))


def test_eight_channels(tmp_path: Path) -> None:
    tone = two_tone(48000, amplitude=1.0)
    gains = np.arange(1, 9) / 20  # mean gain 0.225
    soundfile.write(tmp_path / "8ch.wav", tone[:, None] * gains, 48000, subtype="PCM_24")
    assert_two_tone(load_audio(tmp_path / "8ch.wav"), amplitude=float(gains.mean()))


def test_nan_and_inf_become_zero_and_loud_samples_are_clipped(tmp_path: Path) -> None:
    audio = two_tone(16000).astype(np.float32)
    audio[100:110] = np.nan
    audio[200:210] = np.inf
    audio[300:310] = -np.inf
    audio[400:410] = 3.0
    soundfile.write(tmp_path / "bad16k.wav", audio, 16000, subtype="FLOAT")
    out = load_audio(tmp_path / "bad16k.wav")
    assert np.array_equal(out[[100, 205, 309]], [0, 0, 0])
    assert np.all(out[400:410] == 1.0)
    soundfile.write(tmp_path / "bad48k.wav", np.repeat(audio, 3)[:, None] * [1, 1], 48000, subtype="FLOAT")
    out = load_audio(tmp_path / "bad48k.wav")
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


def test_truncated_mp3_decodes_what_it_can(media: Path, tmp_path: Path) -> None:
    data = (media / "tone.mp3").read_bytes()
    (tmp_path / "cut.mp3").write_bytes(data[: len(data) // 2])
    assert audio_duration(load_audio(tmp_path / "cut.mp3")) == pytest.approx(DURATION / 2, abs=0.1)


def test_truncated_wav_decodes_what_it_can(media: Path, tmp_path: Path) -> None:
    data = (media / "tone.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 4])
    assert audio_duration(load_audio(tmp_path / "cut.wav")) == pytest.approx(DURATION / 4, abs=0.05)


# --- errors: each names the file and says what is wrong ---------------------------------------------------------


def decode_error(path: Path, **kwargs) -> str:
    with pytest.raises(AudioDecodeError) as info:
        load_audio(path, **kwargs)
    message = str(info.value)
    assert f"'{path.name}'" in message and "/" not in message.replace("OGG/Opus", "")  # base name only
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "was not found" in decode_error(tmp_path / "gone.wav")


def test_folder(tmp_path: Path) -> None:
    (tmp_path / "take1.wav").mkdir()
    assert "is a folder" in decode_error(tmp_path / "take1.wav")


def test_zero_bytes(tmp_path: Path) -> None:
    (tmp_path / "empty.m4a").touch()
    assert "is empty (0 bytes)" in decode_error(tmp_path / "empty.m4a")


@pytest.mark.parametrize(
    "name, data",
    [
        ("noise.wav", np.random.default_rng(0).bytes(20000)),
        ("report.wav", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<<>>\n%%EOF\n"),
        ("notes.mp3", b"Meeting notes: nothing to hear here.\n" * 50),
    ],
)
def test_not_a_media_file(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    message = decode_error(tmp_path / name)
    assert "could not be read as audio or video" in message and "WAV, FLAC, MP3" in message


def test_video_without_audio(media: Path) -> None:
    message = decode_error(media / "silent-film.mp4")
    assert "no audio stream found" in message and "Supported: recordings such as WAV" in message


def test_no_samples(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "blank.wav", np.zeros(0), 16000)
    assert "contains no audio samples" in decode_error(tmp_path / "blank.wav")


def test_too_long_by_header_is_refused_before_decoding(tmp_path: Path) -> None:
    write_wav(tmp_path / "one.wav", two_tone(16000)[:16000])
    ffmpeg("-i", tmp_path / "one.wav", tmp_path / "lecture.au")
    header = bytearray((tmp_path / "lecture.au").read_bytes())
    header[8:12] = struct.pack(">I", 5 * 3600 * 16000 * 2)  # AU data size field: claims 5 hours of 16-bit audio
    (tmp_path / "lecture.au").write_bytes(header)
    with pytest.raises(AudioTooLongError) as info:
        load_audio(tmp_path / "lecture.au", max_seconds=3600)
    assert info.value.duration == pytest.approx(5 * 3600) and info.value.limit == 3600
    assert "'lecture.au' is 5 h 0 min long, but the limit is 1 h 0 min" in str(info.value)


def test_too_long_without_header_stops_while_decoding(media: Path) -> None:
    with pytest.raises(AudioTooLongError) as info:
        load_audio(media / "recording.webm", max_seconds=0.5)  # no duration in its header
    assert info.value.limit == 0.5 and info.value.duration > 0.5
    assert "'recording.webm' is longer than the limit of 0.5 s" in str(info.value)


def test_within_limit(media: Path) -> None:
    assert_two_tone(load_audio(media / "tone.m4a", max_seconds=DURATION))
    assert_two_tone(load_audio(media / "recording.webm", max_seconds=DURATION))


def test_errors_are_value_errors() -> None:
    assert issubclass(AudioTooLongError, AudioDecodeError) and issubclass(AudioDecodeError, ValueError)


# --- helpers ------------------------------------------------------------------------------------------------------


def test_is_silent() -> None:
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert is_silent(np.zeros(16000, np.float32))
    assert is_silent(np.zeros(0, np.float32))
    assert is_silent(noise * 1e-4)  # about -80 dBFS
    assert not is_silent(noise * 1e-2)  # about -40 dBFS
    assert is_silent(noise * 1e-2, threshold_dbfs=-30)


def test_write_wav_round_trip(tmp_path: Path) -> None:
    audio = two_tone(SAMPLE_RATE).astype(np.float32)
    audio[:10] = 1.5
    path = write_wav(tmp_path / "out.wav", audio)
    assert soundfile.info(path).subtype == "PCM_16" and soundfile.info(path).samplerate == SAMPLE_RATE
    back = load_audio(path)
    assert np.abs(back - np.clip(audio, -1, 1)).max() < 1e-4
    assert audio_duration(back) == DURATION
