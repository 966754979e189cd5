"""Decode any common audio or video file to 16 kHz mono float32, with errors written for the person using the app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import soundfile
import soxr

from .errors import AudioDecodeError, AudioTooLongError

SAMPLE_RATE = 16000

# While decoding, allow this much past max_seconds: codec padding makes decoded audio a little longer than the header.
_DECODE_GRACE_S = 1.0
_BLOCK = 16384  # samples per block handed to the resampler (about 0.3 s at 48 kHz)
_FORMATS_HINT = "Supported: recordings such as WAV, FLAC, MP3, M4A, OGG/Opus or WebM, and videos with a sound track."


def _format_seconds(seconds: float) -> str:
    """A duration as people read it: '45 s', '12 min 30 s', '5 h 0 min'."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{seconds:.1f} s" if seconds < 10 else f"{secs} s"


def _too_long(name: str, duration: float, limit: float, *, at_least: bool = False) -> AudioTooLongError:
    """The error for audio past the limit; ``at_least`` when decoding stopped at the limit (no length in the file)."""
    if at_least:
        what = f"is longer than the limit of {_format_seconds(limit)}"
    else:
        what = f"is {_format_seconds(duration)} long, but the limit is {_format_seconds(limit)}"
    return AudioTooLongError(
        f"'{name}' {what}. Trim it, or split it into shorter parts and transcribe them one at a time.", duration, limit
    )


def _metadata_duration(container: av.container.InputContainer, stream: av.audio.AudioStream) -> float | None:
    """Duration in seconds from the stream or container header, or None when the file does not say."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _decoded_frames(container: av.container.InputContainer, stream: av.audio.AudioStream) -> Iterator[av.AudioFrame]:
    """Decoded frames of one stream; a damaged packet is skipped and a damaged tail ends the stream early."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:  # unreadable rest of the file (e.g. truncated): keep what was decoded
            return
        try:
            yield from packet.decode()
        except av.error.FFmpegError:  # one corrupt packet: skip it
            continue


def _mono_chunks(frames: Iterator[av.AudioFrame]) -> Iterator[tuple[int, np.ndarray]]:
    """(sample rate, mono float32 samples) in blocks of ``_BLOCK`` samples: any sample format, channels averaged."""
    resampler: av.AudioResampler | None = None
    setup = None
    for frame in frames:
        # Packed float, not planar: PyAV 18 miscounts the planes of 8-channel planar frames (and crashes).
        # Same rate in and out, so this only converts the format and gathers small frames into blocks.
        if (frame.format.name, frame.layout.name, frame.sample_rate) != setup:  # first frame, or the stream changed
            if resampler is not None:
                yield from _mix_down(resampler.resample(None))
            setup = (frame.format.name, frame.layout.name, frame.sample_rate)
            resampler = av.AudioResampler(format="flt", layout=frame.layout, rate=frame.sample_rate, frame_size=_BLOCK)
        yield from _mix_down(resampler.resample(frame))
    if resampler is not None:
        yield from _mix_down(resampler.resample(None))


def _mix_down(frames: list[av.AudioFrame]) -> Iterator[tuple[int, np.ndarray]]:
    """Average the channels of packed float frames after setting NaN and infinities to 0 and clipping to [-1, 1]."""
    for frame in frames:
        channels = len(frame.layout.channels)
        samples = frame.to_ndarray().reshape(-1, channels)  # (n, channels) float32
        broken = ~np.isfinite(samples)
        if broken.any():
            samples = np.where(broken, np.float32(0), samples)
        samples = np.clip(samples, -1.0, 1.0)
        yield frame.sample_rate, samples @ np.full(channels, 1 / channels, np.float32)  # mean over channels


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """Decode an audio or video file to mono float32 at ``sample_rate``, in [-1, 1].

    Decodes frame by frame and resamples as it goes, so a long file never sits in memory at its original rate.
    Raises ``AudioDecodeError`` (or ``AudioTooLongError`` past ``max_seconds``) with a message for the user.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise AudioDecodeError(f"'{name}' was not found: it may have been moved or deleted.")
    if path.is_dir():
        raise AudioDecodeError(f"'{name}' is a folder, not a file: give a single audio or video file.")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"'{name}' is empty (0 bytes): a recording, upload or copy that did not finish.")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        reason = "the file is damaged or in an unknown format"
        raise AudioDecodeError(f"'{name}' could not be read as audio or video ({reason}). {_FORMATS_HINT}") from exc

    with container:
        stream = container.streams.best("audio")  # FFmpeg's pick when there are several (e.g. dubbed video)
        if stream is None:
            raise AudioDecodeError(f"'{name}' is not an audio file (no audio stream found). {_FORMATS_HINT}")
        duration = _metadata_duration(container, stream)
        if max_seconds is not None and duration is not None and duration > max_seconds:
            raise _too_long(name, duration, max_seconds)

        chunks: list[np.ndarray] = []
        resampler: soxr.ResampleStream | None = None
        rate_in = 0
        seconds_in = 0.0
        for rate, mono in _mono_chunks(_decoded_frames(container, stream)):
            seconds_in += len(mono) / rate
            if max_seconds is not None and seconds_in > max_seconds + _DECODE_GRACE_S:
                raise _too_long(name, seconds_in, max_seconds, at_least=True)
            if rate != rate_in:  # first frame, or the rate changed mid-stream: flush and start over
                if resampler is not None:
                    chunks.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
                resampler = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
                rate_in = rate
            chunks.append(mono if resampler is None else resampler.resample_chunk(mono))
        if resampler is not None:
            chunks.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))

    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if audio.size == 0:
        raise AudioDecodeError(
            f"'{name}' contains no audio samples (it may be cut off or zero-length). "
            "Check that it plays."
        )
    return np.clip(audio, -1.0, 1.0, out=audio)  # resampling can overshoot slightly


def audio_duration(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Length of ``audio`` in seconds."""
    return len(audio) / sample_rate


def is_silent(audio: np.ndarray, threshold_dbfs: float = -60.0) -> bool:
    """True when ``audio`` is empty or its RMS level is below ``threshold_dbfs`` (full scale = 1.0)."""
    if audio.size == 0:
        return True
    chunk = 1 << 20  # in pieces, so hours of audio need no float64 copy of the whole signal
    pieces = (audio[i : i + chunk].astype(np.float64) for i in range(0, audio.size, chunk))
    energy = sum(float(np.dot(p, p)) for p in pieces)
    rms = (energy / audio.size) ** 0.5
    return rms <= 10 ** (threshold_dbfs / 20)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono (or (n, channels)) float audio as a 16-bit PCM WAV file and return its path."""
    path = Path(path)
    soundfile.write(path, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16")
    return path
