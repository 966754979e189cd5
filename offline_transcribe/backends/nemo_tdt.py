"""NeMo ``ASRModel`` with a TDT decoder (Parakeet-TDT-0.6B v2 and v3): words and their times from one pass.

Long audio switches the encoder to local attention with chunked subsampling (as NVIDIA's Parakeet demo does)
and puts the settings back afterwards; beyond what one pass should hold, the audio is cut into overlapping
windows whose words are stitched at a silent point of the overlap, so no word is lost or doubled at a seam.
The ``.nemo`` is restored in place, without random initialisation (``loaders.nemo_archive``).
"""

from __future__ import annotations

import pickle
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import SAMPLE_RATE, audio_duration
from ..config import LongAudioPolicy, Precision
from ..errors import ModelLoadError
from ..loaders import nemo_archive
from ..loaders.no_init import skip_weight_init
from ..models.files import corrupt_files_error, load_failed_message, validate_local_models
from ..models.registry import ModelSpec
from ..types import Progress, Segment, Word
from . import nemo_boosting
from .base import StreamContext
from .windows import clock, plan_windows, stitch_windows, words_to_segments

if TYPE_CHECKING:
    import torch


# Live transcription defaults (see stream_context).
CPU_STREAM_CONTEXT = StreamContext(chunk_s=4.8, left_s=3.2, right_s=1.6)
GPU_STREAM_CONTEXT = StreamContext(chunk_s=0.48, left_s=10.0, right_s=1.2)


ENCODER_FRAME_S = 0.08  # one FastConformer encoder frame (10 ms features, subsampled 8 times)

class NemoTdtBackend:
    """Parakeet-TDT: a FastConformer encoder and a TDT decoder, with word and segment timestamps."""

    name = "nemo_tdt"
    streaming = True  # live, by buffered chunks: nemo_tdt_streaming
    phrase_boosting = True  # NeMo's boosting tree: nemo_boosting
    word_timestamps = True
    timestamps = "per word and segment"
    speed_guess = {"cpu": 3.0, "cuda": 200.0}  # audio s per s before one is measured (2-core CPU: about 6)
    loaded_as = (
        "a NeMo `ASRModel` read in place from the `.nemo` archive (the model `ASRModel.restore_from()` gives, "
        "built without unpacking the archive or random initial weights)"
    )

    def dtype(self, precision: Precision, device: str) -> torch.dtype:
        """float32 whatever the setting: the weights are 2.5 GB, and this path is only tested in float32."""
        import torch

        return torch.float32

    def load(self, spec: ModelSpec, models_dir: Path, device: str, dtype: torch.dtype) -> Any:
        """``ASRModel.restore_from``'s model, without extracting the archive or initialising weights."""
        import torch

        model = restore_nemo_file(spec, models_dir, device)
        return model if dtype == torch.float32 else model.to(dtype)

    def transcribe(
        self, model: Any, audio: np.ndarray, policy: LongAudioPolicy, progress: Progress, notes: list[str]
    ) -> list[Segment]:
        """Words with times, grouped into segments; long audio as described in the module docstring."""
        duration = audio_duration(audio)
        windows = plan_windows(duration, policy) if duration > policy.window_above_s else [(0.0, duration)]
        local = duration > policy.local_attention_above_s
        if local:
            seconds = max(policy.local_attention_context) * ENCODER_FRAME_S
            notes.append(f"Long file: each moment was transcribed from the {seconds:.0f} s of sound around it "
                         "(local attention), so that the whole file fits in memory.")
        if len(windows) > 1:
            notes.append(f"Long audio: {len(windows)} windows of {clock(policy.window_s)}, stitched at silences.")
        results: list[tuple[float, float, list[Word]]] = []
        with long_audio_mode(model, policy.local_attention_context, enabled=local):
            for i, (start, end) in enumerate(windows):
                progress(0.05 + 0.9 * i / len(windows), f"Transcribing {clock(start)}–{clock(end)}")
                chunk = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
                results.append((start, end, transcribe_words(model, chunk, offset=start)))
        return words_to_segments(stitch_windows(results))

    def transcribe_batch(
        self, model: Any, audios: Sequence[np.ndarray], policy: LongAudioPolicy | None = None,
        notes: Sequence[list[str]] | None = None,
    ) -> list[list[Segment]]:
        """Words with times for several short files (no long-audio mode: nothing to note) from one model call
        (``batch_words``)."""
        return [words_to_segments(words) for words in batch_words(model, audios)]

    def stream_context(self, device: str) -> StreamContext:
        """Live defaults per device, from ``bench/bench_live.py`` on the 0.6 B model (``docs/benchmarks.md``)."""
        return GPU_STREAM_CONTEXT if device.startswith("cuda") else CPU_STREAM_CONTEXT

    def open_stream(self, model: Any, context: StreamContext, phrases: Sequence[str] = (), weight: float = 1.0) -> Any:
        """A buffered-chunk stream through ``model`` (``nemo_tdt_streaming.TdtStream``), with ``phrases`` boosted
        in it alone (NeMo's per-stream biasing)."""
        from .nemo_tdt_streaming import TdtStream

        return TdtStream(model, context, phrases, weight)

    def spell_phrases(self, model: Any, phrases: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the phrases the model's tokenizer can write, as typed; those it cannot)."""
        spelled = nemo_boosting.spell(model.tokenizer, phrases)
        return spelled.typed, spelled.unspellable

    def boosting(self, model: Any, phrases: Sequence[str], weight: float) -> nemo_boosting.boosted_decoding:
        """NeMo's boosting tree in the decoder for the ``with`` (``nemo_boosting.boosted_decoding``)."""
        return nemo_boosting.boosted_decoding(model, nemo_boosting.spell(model.tokenizer, phrases).boosted, weight)

    def transcribe_windows(
        self,
        model: Any,
        audio: np.ndarray,
        windows: list[tuple[float, float]],
        policy: LongAudioPolicy,
        progress: Progress,
        notes: list[str],
    ) -> list[Segment]:
        """One segment per window, with its words (each window is one pass: keep them short)."""
        segments = []
        for i, (start, end) in enumerate(windows):
            progress(0.05 + 0.9 * i / max(1, len(windows)), f"Transcribing {clock(start)}–{clock(end)}")
            words = transcribe_words(model, audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], offset=start)
            segments.append(Segment(start, end, " ".join(w.text for w in words), tuple(words)))
        return segments

    def long_audio_note(self, policy: LongAudioPolicy) -> str:
        """What happens to long files."""
        return (
            f"switches to local attention above {policy.local_attention_above_s / 60:g} minutes and cuts files longer "
            f"than {policy.window_above_s / 60:g} minutes into {policy.window_s / 60:g}-minute windows joined at "
            "silences, so memory stays flat."
        )


def restore_nemo_file(spec: ModelSpec, root: Path, device: str) -> Any:
    """``nemo_archive.restore_nemo`` with NeMo's exceptions for damaged files turned into the file layer's."""
    path = spec.path(root)
    try:
        return nemo_archive.restore_nemo(path, device)
    except FileNotFoundError as exc:
        if not path.exists():
            validate_local_models(root, [spec.key])  # raises ModelsMissingError naming every missing path
        raise corrupt_files_error(spec, path, f"is incomplete ({exc})", root) from exc
    except (tarfile.TarError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise corrupt_files_error(spec, path, f"is corrupt or truncated ({type(exc).__name__}: {exc})", root) from exc
    except RuntimeError as exc:
        if "PytorchStreamReader" in str(exc) or "zip archive" in str(exc):
            raise corrupt_files_error(spec, path, f"has damaged weights ({exc})", root) from exc
        raise ModelLoadError(load_failed_message(spec, path, exc, root)) from exc
    except Exception as exc:
        raise ModelLoadError(load_failed_message(spec, path, exc, root)) from exc


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
    with skip_weight_init():
        model.change_attention_model(attention, context)
    pairs = list(zip(layers, old, strict=True))
    if any(set(layer.self_attn.state_dict()) - set(was.state_dict()) for layer, was in pairs):
        for layer, was in pairs:
            layer.self_attn = was
        model.change_attention_model(attention, context)


def transcribe_words(model, audio: np.ndarray, offset: float) -> list[Word]:
    """Words with absolute times (``offset`` added) from one pass of the model over ``audio``."""
    import torch

    with torch.inference_mode():
        hyps = model.transcribe([audio], batch_size=1, timestamps=True, verbose=False)
    return _hyp_words(hyps[0][0] if isinstance(hyps[0], list) else hyps[0], audio, offset)


def _hyp_words(hyp, audio: np.ndarray, offset: float) -> list[Word]:
    """A hypothesis's words with absolute times (spread over the audio when it has no timestamps)."""
    stamps = hyp.timestamp.get("word", []) if isinstance(hyp.timestamp, dict) else []
    if not stamps and hyp.text.strip():  # no timestamps: spread the words over the audio
        tokens = hyp.text.split()
        step = audio_duration(audio) / len(tokens)
        return [Word(w, offset + i * step, offset + (i + 1) * step) for i, w in enumerate(tokens)]
    return [Word(s["word"], offset + float(s["start"]), offset + float(s["end"])) for s in stamps]


def batch_words(model, audios: Sequence[np.ndarray]) -> list[list[Word]]:
    """Words with times for each of ``audios`` from one pass of the model over them all, padded into one batch.

    What ``model.transcribe`` does for a batch, without its per-call data loader: the preprocessor and encoder in
    one forward (dither and padding off, as ``transcribe`` sets them), then the greedy TDT decoder over the batch.
    NeMo 3.0's batched decoder without CUDA graphs (the CPU's) mixes up the recorded token durations of the files
    in a batch; ``tdt_batch_fix`` keeps them apart, so each file gets the words and times it gets alone. Should
    that fix not apply (another NeMo), each file's encoder output is decoded on its own.
    """
    import torch
    from nemo.collections.asr.parts.utils.timestamp_utils import process_timestamp_outputs

    from .tdt_batch_fix import fixed

    if not audios:
        return []
    _timestamps_on(model)
    param = next(model.parameters())
    padded = [_pad_short(np.ascontiguousarray(a, dtype=np.float32)) for a in audios]
    lengths = torch.tensor([len(a) for a in padded], dtype=torch.long)
    signal = torch.zeros(len(padded), int(lengths.max()), dtype=torch.float32)
    for i, audio in enumerate(padded):
        signal[i, : len(audio)] = torch.from_numpy(audio)
    with _inference_settings(model), torch.inference_mode():
        encoded, encoded_len = model.forward(input_signal=signal.to(param.device, param.dtype),
                                             input_signal_length=lengths.to(param.device))
        decode = model.decoding.rnnt_decoder_predictions_tensor
        if encoded.is_cuda or fixed(model):
            hyps = decode(encoded, encoded_len, return_hypotheses=True)
        else:
            hyps = [h for i, n in enumerate(encoded_len.tolist())
                    for h in decode(encoded[i : i + 1, :, :n], encoded_len[i : i + 1], return_hypotheses=True)]
    hyps = process_timestamp_outputs(hyps, model.encoder.subsampling_factor, model.cfg["preprocessor"]["window_stride"])
    return [_hyp_words(hyp, audio, 0.0) for hyp, audio in zip(hyps, audios, strict=True)]


def _pad_short(audio: np.ndarray, min_s: float = 1.0) -> np.ndarray:
    """``audio`` padded with silence on both sides to ``min_s``, as ``model.transcribe`` pads arrays (its tensor
    dataset's ``pad_min_duration``), so a short file's times match those of ``transcribe_words``."""
    missing = int(min_s * SAMPLE_RATE) - len(audio)
    if missing <= 0:
        return audio
    return np.pad(audio, (missing // 2, missing - missing // 2))


def _timestamps_on(model) -> None:
    """The decoder set to record timestamps, as ``model.transcribe(timestamps=True)`` sets it (once)."""
    from omegaconf import open_dict

    if model.cfg.decoding.get("compute_timestamps", None) is not True:
        with open_dict(model.cfg.decoding):
            model.cfg.decoding.compute_timestamps = True
        model.change_decoding_strategy(model.cfg.decoding, verbose=False)


class _inference_settings:
    """Evaluation mode with the preprocessor's dither and padding off (``model.transcribe``'s settings), restored."""

    def __init__(self, model) -> None:
        self.model = model
        self.featurizer = getattr(getattr(model, "preprocessor", None), "featurizer", None)

    def __enter__(self) -> None:
        self.training = self.model.training
        self.saved = {k: getattr(self.featurizer, k) for k in ("dither", "pad_to") if hasattr(self.featurizer, k)}
        for k, value in {"dither": 0.0, "pad_to": 0}.items():
            if k in self.saved:
                setattr(self.featurizer, k, value)
        self.model.eval()

    def __exit__(self, *exc) -> None:
        for k, value in self.saved.items():
            setattr(self.featurizer, k, value)
        self.model.train(self.training)
