"""NVIDIA's Streaming Sortformer (``SortformerEncLabelModel``, ``diar_streaming_sortformer_4spk-v2``): who speaks when.

Loading: the ``.nemo`` is restored in place, without unpacking it or random initialisation
(``loaders.nemo_archive``), like Parakeet's.

Running: NeMo's own streaming step (``forward_streaming_step``) over the audio, chunk by chunk, with the
speaker cache and FIFO that carry the speakers from one chunk to the next (``DiarizationPolicy``: NVIDIA's
offline preset). NeMo's ``diarize()`` and ``forward()`` compute the features of the whole file first, which for
three hours of audio is gigabytes; here each chunk's log-mel features (with the chunk's context) are computed
from its own stretch of audio, plus a few frames of margin so they are the same as the whole file's. Memory then
stays flat however long the audio is. A model whose features are normalised over the whole file (not the
streaming models) has them computed at once instead, as NeMo does.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import SAMPLE_RATE
from ..backends.nemo_tdt import restore_nemo_file
from ..backends.windows import clock
from ..config import Precision
from ..models.registry import ModelSpec
from ..types import Progress
from .options import DiarizationPolicy, SpeakerOptions
from .turns import FRAME_S, Diarization, turns_from_activity

if TYPE_CHECKING:
    import torch

FEATURE_MARGIN = 4  # feature frames computed beyond each side of a chunk (the STFT window reaches 1.6 frames)


class SortformerBackend:
    """Loads Streaming Sortformer for the store (``ModelStore.load("diarizer")``)."""

    name = "sortformer"
    speed_guess = {"cpu": 2.0, "cuda": 200.0}  # audio s per s before one is measured (2-core CPU: bench_diarize)
    loaded_as = (
        "NeMo's `SortformerEncLabelModel` read in place from the `.nemo` archive (the model "
        "`SortformerEncLabelModel.restore_from()` gives, built without unpacking the archive or random initial weights)"
    )

    def dtype(self, precision: Precision, device: str) -> torch.dtype:
        """float32: the model is small (0.47 GB) and its streaming state is kept in float32 by NeMo."""
        import torch

        return torch.float32

    def load(self, spec: ModelSpec, models_dir: Path, device: str, dtype: torch.dtype) -> Any:
        """The diarizer from its ``.nemo``; damaged files are named with the command that restores them."""
        return restore_nemo_file(spec, models_dir, device)


def restore_sortformer(path: Path, device: str = "cpu") -> Any:
    """A ``.nemo`` outside any models folder (training, benchmarks), restored the same way, in eval mode."""
    from ..loaders import nemo_archive

    return nemo_archive.restore_nemo(Path(path), device).eval()


def apply_streaming_settings(model: Any, policy: DiarizationPolicy) -> None:
    """Set NeMo's streaming lengths on the model (``sortformer_modules``) and check them as NeMo does."""
    modules = model.sortformer_modules
    for name, value in policy.streaming_settings().items():
        setattr(modules, name, value)
    modules._check_streaming_parameters()


class ChunkFeatures:
    """Log-mel features of any stretch of frames, equal to those of the whole file (NeMo's preprocessor)."""

    def __init__(self, model: Any, audio: np.ndarray):
        self.model, self.audio = model, audio
        self.device = next(model.parameters()).device
        self.hop = int(model.preprocessor.featurizer.hop_length)
        self.n_frames = len(audio) // self.hop  # NeMo's feature count (centred STFT)
        normalize = str(model.cfg.preprocessor.get("normalize", "NA") or "NA").upper()
        # Features normalised with per-file statistics: only the whole file gives them.
        self.whole = self._compute(0, len(audio)) if normalize not in ("NA", "NONE") else None

    def _compute(self, first_sample: int, last_sample: int) -> torch.Tensor:
        import torch

        samples = np.ascontiguousarray(self.audio[first_sample:last_sample], dtype=np.float32)
        x = torch.from_numpy(samples)[None].to(self.device)
        feats, length = self.model.preprocessor(input_signal=x, length=torch.tensor([x.shape[1]], device=self.device))
        return feats[:, :, : int(length[0])]

    def frames(self, start: int, end: int) -> torch.Tensor:
        """Features ``[1, F, end - start]`` of the 10 ms frames ``start``..``end``."""
        if self.whole is not None:
            return self.whole[:, :, start:end]
        first = max(0, start - FEATURE_MARGIN)
        last = min(self.n_frames, end + FEATURE_MARGIN)
        last_sample = len(self.audio) if last == self.n_frames else last * self.hop
        return self._compute(first * self.hop, last_sample)[:, :, start - first : end - first]


def speaker_activity(model: Any, audio: np.ndarray, policy: DiarizationPolicy, progress: Progress) -> np.ndarray:
    """Per-speaker probabilities ``[frames, 4]`` (80 ms frames) of 16 kHz mono ``audio``, chunk by chunk."""
    import torch

    apply_streaming_settings(model, policy)
    modules = model.sortformer_modules
    sub = int(model.encoder.subsampling_factor)
    source = ChunkFeatures(model, audio)
    n_feat = source.n_frames
    step, lc, rc = modules.chunk_len * sub, modules.chunk_left_context * sub, modules.chunk_right_context * sub
    n_chunks = max(1, math.ceil(n_feat / step))
    device = source.device
    with torch.inference_mode():
        state = modules.init_streaming_state(batch_size=1, async_streaming=model.async_streaming, device=device)
        total = torch.zeros((1, 0, modules.n_spk), device=device)
        for i, start in enumerate(range(0, n_feat, step)):
            end = min(start + step, n_feat)
            seconds = source.hop / SAMPLE_RATE
            progress(i / n_chunks, f"Identifying speakers {clock(start * seconds)}–{clock(end * seconds)}")
            left, right = min(lc, start), min(rc, n_feat - end)
            chunk = source.frames(start - left, end + right).transpose(1, 2)
            state, total = model.forward_streaming_step(
                processed_signal=chunk,
                processed_signal_length=torch.tensor([chunk.shape[1]], device=device),
                streaming_state=state,
                total_preds=total,
                left_offset=left,
                right_offset=right,
            )
    n_out = math.ceil(len(audio) / (SAMPLE_RATE * FRAME_S))
    return total[0, :n_out].float().cpu().numpy()


def diarize_audio(
    model: Any,
    audio: np.ndarray,
    options: SpeakerOptions | None = None,
    policy: DiarizationPolicy | None = None,
    progress: Progress | None = None,
) -> Diarization:
    """Who speaks when in 16 kHz mono ``audio``: speaker turns, the speakers, notes."""
    policy = policy or DiarizationPolicy()
    probs = speaker_activity(model, audio, policy, progress or (lambda fraction, message: None))
    return turns_from_activity(probs, options or SpeakerOptions(), policy)
