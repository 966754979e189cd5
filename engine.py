"""Audio in, ``Transcript`` out: the transcription engine behind the page and the command line.

* Parakeet (an ``ASRModel``): ``transcribe(..., timestamps=True)`` gives words and their times.
  Long audio switches the encoder to local attention with chunked subsampling (as NVIDIA's
  Parakeet demo does) and puts the settings back afterwards; beyond what one pass should hold,
  the audio is cut into overlapping windows whose words are stitched at a silent point of the
  overlap, so no word is lost or doubled at a seam.
* Canary (a speechlm2 ``SALM``): the model answers a "Transcribe the following:" prompt for
  windows of at most 40 s (its trained length), cut at quiet points and run in batches. Its
  timestamps are those of the windows.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import fast_load
import model_store
from audio_io import SAMPLE_RATE, audio_duration, is_silent, load_audio
from errors import AppError
from transcript import Segment, Transcript, Word

Progress = Callable[[float, str], None]

CANARY_PROMPT = "Transcribe the following: "
SENTENCE_END = (".", "?", "!")


@dataclass(frozen=True)
class LongAudioPolicy:
    """When long audio changes how Parakeet runs, and how audio is cut into windows."""

    local_attention_above_s: float = 480.0  # NVIDIA's Parakeet demo switches above 8 minutes
    local_attention_context: tuple[int, int] = (256, 256)
    window_above_s: float = 1500.0  # above 25 minutes, cut into windows (memory stays flat)
    window_s: float = 1200.0
    overlap_s: float = 10.0
    canary_window_s: float = 40.0  # Canary-Qwen-2.5B was trained on audio up to 40 s
    canary_batch_size: int = 4


class GpuOutOfMemoryError(AppError):
    """The GPU ran out of memory; the cache has been freed and the next request can run."""


def _noop(fraction: float, message: str) -> None:
    pass


# One job at a time per model: the model's attention settings are changed for long audio.
_model_locks: dict[str, threading.Lock] = {}
_model_locks_guard = threading.Lock()


def _model_lock(key: str) -> threading.Lock:
    with _model_locks_guard:
        return _model_locks.setdefault(key, threading.Lock())


def transcribe_file(
    path: str | os.PathLike,
    model_key: str = model_store.DEFAULT_MODEL,
    *,
    models_dir: str | os.PathLike | None = None,
    policy: LongAudioPolicy | None = None,
    progress: Progress | None = None,
    max_seconds: float | None = None,
) -> Transcript:
    """Decode an audio or video file and transcribe it.

    Raises ``AppError`` subclasses with a message for the user: unreadable or too-long audio,
    missing or damaged model files, GPU out of memory.
    """
    progress = progress or _noop
    started = time.perf_counter()
    progress(0.0, f"Decoding {Path(path).name}")
    audio = load_audio(path, SAMPLE_RATE, max_seconds=max_seconds)
    return transcribe_audio(
        audio, model_key, models_dir=models_dir, policy=policy, progress=progress,
        source=Path(path).name, _started=started,
    )


def transcribe_audio(
    audio: np.ndarray,
    model_key: str = model_store.DEFAULT_MODEL,
    *,
    models_dir: str | os.PathLike | None = None,
    policy: LongAudioPolicy | None = None,
    progress: Progress | None = None,
    source: str = "",
    _started: float | None = None,
) -> Transcript:
    """Transcribe 16 kHz mono float32 audio with the model ``model_key``."""
    progress = progress or _noop
    policy = policy or LongAudioPolicy()
    spec = model_store.get_spec(model_key)
    started = _started if _started is not None else time.perf_counter()
    duration = audio_duration(audio)
    notes: list[str] = []
    if is_silent(audio):
        loaded = None
        segments: list[Segment] = []
        notes.append("No speech found: the audio is silent.")
    else:
        progress(0.02, f"Loading {spec.display_name}")
        load_started = time.perf_counter()
        loaded = model_store.load(model_key, models_dir)
        load_seconds = time.perf_counter() - load_started
        if load_seconds > 0.5:
            notes.append(f"Model loaded in {load_seconds:.1f} s (first use).")
            started += load_seconds  # processing time is the transcription's own
        with _model_lock(model_key), _gpu_memory_watch(loaded.device) as peak:
            try:
                if spec.kind == "nemo":
                    segments = _parakeet(loaded.model, audio, policy, progress, notes)
                else:
                    segments = _canary(loaded.model, audio, policy, progress, notes)
            except Exception as exc:
                if _is_out_of_memory(exc):
                    model_store.free_accelerator_memory()
                    raise GpuOutOfMemoryError(
                        f"The GPU ran out of memory while transcribing {source or 'the audio'} "
                        f"({duration / 60:.1f} min with {spec.display_name}). The memory has been freed and the app "
                        f"keeps running: try again, close other programs using the GPU, or split the file."
                    ) from exc
                raise
    progress(1.0, "Done")
    text = " ".join(s.text for s in segments if s.text).strip()
    return Transcript(
        text=text,
        segments=segments,
        model=spec.key,
        model_name=spec.display_name,
        audio_duration=duration,
        processing_time=time.perf_counter() - started,
        device=loaded.device_label if loaded else "—",
        timestamp_level="word" if spec.kind == "nemo" else "window",
        source=source,
        peak_gpu_memory_mb=peak.get("mb") if loaded else None,
        notes=notes,
    )


class _gpu_memory_watch:
    """Record the peak GPU memory of a block (``{"mb": float}``), on CUDA devices only."""

    def __init__(self, device: str):
        self.device, self.result = device, {}

    def __enter__(self) -> dict:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats()
        return self.result

    def __exit__(self, *exc) -> None:
        if self.device.startswith("cuda"):
            import torch

            self.result["mb"] = torch.cuda.max_memory_allocated() / 2**20


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(exc)


# ---------------------------------------------------------------------------------------------------------------
# Parakeet


def _parakeet(model, audio: np.ndarray, policy: LongAudioPolicy, progress: Progress, notes: list[str]) -> list[Segment]:
    duration = audio_duration(audio)
    windows = plan_windows(duration, policy) if duration > policy.window_above_s else [(0.0, duration)]
    local = duration > policy.local_attention_above_s
    if local:
        notes.append(f"Long audio: local attention {list(policy.local_attention_context)}.")
    if len(windows) > 1:
        notes.append(f"Long audio: {len(windows)} windows of {_clock(policy.window_s)}, stitched at silences.")
    results: list[tuple[float, float, list[Word]]] = []
    with long_audio_mode(model, policy.local_attention_context, enabled=local):
        for i, (start, end) in enumerate(windows):
            progress(0.05 + 0.9 * i / len(windows), f"Transcribing {_clock(start)}–{_clock(end)}")
            chunk = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
            results.append((start, end, _parakeet_words(model, chunk, offset=start)))
    words = stitch_windows(results)
    return words_to_segments(words)


class long_audio_mode:
    """Switch a FastConformer to local attention + chunked subsampling, and always restore it."""

    def __init__(self, model, context: tuple[int, int], enabled: bool = True):
        self.model, self.context, self.enabled = model, list(context), enabled

    def __enter__(self):
        if self.enabled:
            enc = self.model.cfg.encoder
            self.saved = (
                enc.get("self_attention_model", "rel_pos"),
                list(enc.get("att_context_size", [-1, -1])),
                enc.get("subsampling_conv_chunking_factor", 1),
            )
            switch_attention(self.model, "rel_pos_local_attn", self.context)
            self.model.change_subsampling_conv_chunking_factor(1)
        return self.model

    def __exit__(self, *exc) -> None:
        if self.enabled:
            attention, context, chunking = self.saved
            switch_attention(self.model, attention, context)
            self.model.change_subsampling_conv_chunking_factor(chunking)


def switch_attention(model, attention: str, context: list[int]) -> None:
    """``model.change_attention_model(attention, context)``, without the random initialisation it wastes.

    NeMo builds a new attention module per layer, initialises it randomly, then copies the old module's weights
    into it (``strict=False``). Between full and local attention the modules have the same parameters, so that
    initialisation (most of the switch's time: about 100 M parameters for Parakeet-TDT-0.6B-v2) is skipped.
    Should a new module have a parameter the old one lacks (another attention type), the old modules are put
    back and the switch is made the plain way, so that parameter gets NeMo's initial value.
    """
    layers = list(model.encoder.layers)
    old = [layer.self_attn for layer in layers]
    with fast_load.skip_weight_init():
        model.change_attention_model(attention, context)
    pairs = list(zip(layers, old, strict=True))
    if any(set(layer.self_attn.state_dict()) - set(was.state_dict()) for layer, was in pairs):
        for layer, was in pairs:
            layer.self_attn = was
        model.change_attention_model(attention, context)


def _parakeet_words(model, audio: np.ndarray, offset: float) -> list[Word]:
    """Words with absolute times from one pass of the model over ``audio``."""
    import torch

    with torch.inference_mode():
        hyps = model.transcribe([audio], batch_size=1, timestamps=True, verbose=False)
    hyp = hyps[0][0] if isinstance(hyps[0], list) else hyps[0]
    stamps = hyp.timestamp.get("word", []) if isinstance(hyp.timestamp, dict) else []
    if not stamps and hyp.text.strip():  # no timestamps: spread the words over the audio
        tokens = hyp.text.split()
        step = audio_duration(audio) / len(tokens)
        return [Word(w, offset + i * step, offset + (i + 1) * step) for i, w in enumerate(tokens)]
    return [Word(s["word"], offset + float(s["start"]), offset + float(s["end"])) for s in stamps]


def plan_windows(duration: float, policy: LongAudioPolicy) -> list[tuple[float, float]]:
    """Overlapping windows covering ``[0, duration]``: ``window_s`` long, ``overlap_s`` shared."""
    step = policy.window_s - policy.overlap_s
    count = max(1, math.ceil((duration - policy.overlap_s) / step))
    return [(i * step, min(i * step + policy.window_s, duration)) for i in range(count)]


def stitch_windows(windows: list[tuple[float, float, list[Word]]]) -> list[Word]:
    """Join the words of overlapping windows, each word taken from exactly one window.

    Between two windows the cut is the middle of the longest stretch of the overlap where
    neither window heard a word, so a word is never split between them (nor counted twice).
    """
    if len(windows) == 1:
        return list(windows[0][2])
    cuts = [
        _seam(prev_words, next_words, lo=next_start, hi=prev_end)
        for (_, prev_end, prev_words), (next_start, _, next_words) in zip(windows, windows[1:], strict=False)
    ]
    out: list[Word] = []
    for i, (_, _, words) in enumerate(windows):
        lo = cuts[i - 1] if i > 0 else -math.inf
        hi = cuts[i] if i < len(cuts) else math.inf
        out += [w for w in words if lo <= (w.start + w.end) / 2 < hi]
    return out


def _seam(prev_words: list[Word], next_words: list[Word], lo: float, hi: float) -> float:
    """The middle of the longest word-free gap inside the overlap ``[lo, hi]`` (its centre if none)."""
    margin = (hi - lo) * 0.15  # words at a window's very edge are the least reliable
    lo_in, hi_in = lo + margin, hi - margin
    spans = sorted((w.start, w.end) for w in prev_words + next_words if w.end > lo_in and w.start < hi_in)
    best, best_len, cursor = (lo + hi) / 2, -1.0, lo_in
    for start, end in [*spans, (hi_in, hi_in)]:
        if start - cursor > best_len:
            best_len, best = start - cursor, (cursor + start) / 2
        cursor = max(cursor, end)
    return best


def words_to_segments(words: list[Word], max_gap: float = 0.8, max_words: int = 30) -> list[Segment]:
    """Group words into subtitle-sized segments: at sentence ends, pauses, or a length limit."""
    segments: list[Segment] = []
    current: list[Word] = []
    for word in words:
        last = current[-1] if current else None
        if last and (last.text.endswith(SENTENCE_END) or word.start - last.end > max_gap or len(current) >= max_words):
            segments.append(_segment(current))
            current = []
        current.append(word)
    if current:
        segments.append(_segment(current))
    return segments


def _segment(words: list[Word]) -> Segment:
    return Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words))


# ---------------------------------------------------------------------------------------------------------------
# Canary


def _canary(model, audio: np.ndarray, policy: LongAudioPolicy, progress: Progress, notes: list[str]) -> list[Segment]:
    import torch

    windows = quiet_cuts(audio, policy.canary_window_s)
    if len(windows) > 1:
        notes.append(f"Canary: {len(windows)} windows of at most {policy.canary_window_s:.0f} s, cut at quiet points.")
    notes.append("Timestamps are per window, not per word.")
    segments: list[Segment] = []
    batch = max(1, policy.canary_batch_size)
    for i in range(0, len(windows), batch):
        group = windows[i : i + batch]
        progress(0.05 + 0.9 * i / len(windows), f"Transcribing {_clock(group[0][0])}–{_clock(group[-1][1])}")
        chunks = [audio[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e in group]
        lens = torch.tensor([len(c) for c in chunks], dtype=torch.long)
        padded = torch.zeros(len(chunks), int(lens.max()))
        for j, c in enumerate(chunks):
            padded[j, : len(c)] = torch.from_numpy(c)
        prompts = [
            [{"role": "user", "content": CANARY_PROMPT + model.audio_locator_tag}] for _ in chunks
        ]  # fresh dicts: the prompt formatter changes what it is given
        with torch.inference_mode():
            ids = model.generate(
                prompts=prompts,
                audios=padded.to(model.device),
                audio_lens=lens.to(model.device),
                max_new_tokens=int(policy.canary_window_s * 8) + 16,
            )
        for (start, end), row in zip(group, ids, strict=True):
            segments.append(Segment(start, end, _decode(model, row)))
    return [s for s in segments if s.text]


def _decode(model, ids) -> str:
    """Token ids of one answer to text, stopping at the end-of-text token."""
    stop = {model.text_eos_id, model.text_pad_id}
    kept = []
    for token in ids.tolist():
        if token in stop:
            break
        kept.append(token)
    return model.tokenizer.ids_to_text(kept).strip()


def quiet_cuts(audio: np.ndarray, max_window_s: float, search_s: float = 10.0) -> list[tuple[float, float]]:
    """Windows of at most ``max_window_s`` covering the audio, each ending at the quietest 100 ms
    of its last ``search_s`` seconds (so words are rarely cut in two)."""
    duration = audio_duration(audio)
    frame = SAMPLE_RATE // 10
    energy = np.convolve(audio.astype(np.float64) ** 2, np.ones(frame) / frame, mode="same")
    windows, start = [], 0.0
    while duration - start > max_window_s:
        lo = int((start + max(max_window_s - search_s, max_window_s / 2)) * SAMPLE_RATE)
        hi = int((start + max_window_s) * SAMPLE_RATE)
        cut = (lo + int(np.argmin(energy[lo:hi]))) / SAMPLE_RATE
        windows.append((start, cut))
        start = cut
    windows.append((start, duration))
    return windows


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
