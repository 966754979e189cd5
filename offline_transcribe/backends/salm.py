"""NeMo speechlm2 ``SALM`` (Canary-Qwen-2.5B): an audio encoder in front of an LLM that answers a prompt.

The model answers "Transcribe the following:" for windows of at most 40 s (its trained length), cut at quiet
points and run in batches. Its timestamps are those of the windows. The checkpoint folder is loaded without
random initialisation, straight to its device and dtype (``loaders.salm_checkpoint``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import SAMPLE_RATE
from ..config import LongAudioPolicy, Precision
from ..errors import ModelLoadError
from ..loaders import salm_checkpoint
from ..models.files import corrupt_files_error, load_failed_message
from ..models.registry import ModelSpec
from ..types import Progress, Segment
from .salm_text import SalmTextLlm
from .windows import clock, quiet_cuts

if TYPE_CHECKING:
    import torch

TRANSCRIBE_PROMPT = "Transcribe the following: "


class SalmBackend(SalmTextLlm):
    """Canary-Qwen: transcripts from the LLM's answer, timestamps per window; its LLM alone answers about text
    (``SalmTextLlm``)."""

    name = "salm"
    streaming = False
    phrase_boosting = False  # NeMo has no boosting for the SALM: the vocabulary's replacements apply, not its phrases
    word_timestamps = False
    timestamps = "per window (up to 40 s)"
    speed_guess = {"cpu": 0.2, "cuda": 20.0}  # audio s per s before one is measured (slower than real time on a CPU)
    loaded_as = (
        "NeMo's speech-LLM class `SALM` from that folder (what `SALM.from_pretrained()` gives for it, never a hub "
        "name), built without random initial weights"
    )

    def dtype(self, precision: Precision, device: str) -> torch.dtype:
        """bfloat16 on a GPU that supports it (the checkpoint's own precision, about half the memory of float32);
        float32 on the CPU, on GPUs without bfloat16, and with ``precision="float32"``. ``"half"`` (the old
        ``--half``) also takes float16 on a GPU without bfloat16."""
        import torch

        if precision == "float32" or device == "cpu":
            return torch.float32
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if precision == "half" else torch.float32

    def load(self, spec: ModelSpec, models_dir: Path, device: str, dtype: torch.dtype) -> Any:
        """``SALM.from_pretrained(folder)``'s model, built without random weights and copied straight to
        ``device`` in ``dtype``; a weights file that does not fit the model is refused, naming the file."""
        from safetensors import safe_open

        folder = spec.path(models_dir)
        weights = folder / "model.safetensors"
        try:
            with safe_open(str(weights), framework="pt"):  # its header parses: a safetensors file, not something else
                pass
        except Exception as exc:
            raise corrupt_files_error(spec, weights, f"is not a readable safetensors file ({exc})", models_dir) from exc
        try:
            return salm_checkpoint.restore_salm(folder, device, dtype)
        except salm_checkpoint.CheckpointMismatchError as exc:
            raise corrupt_files_error(spec, weights, f"does not match the model: {exc}", models_dir) from exc
        except Exception as exc:
            raise ModelLoadError(load_failed_message(spec, folder, exc, models_dir)) from exc

    def transcribe(
        self, model: Any, audio: np.ndarray, policy: LongAudioPolicy, progress: Progress, notes: list[str]
    ) -> list[Segment]:
        """One segment per window of at most ``policy.canary_window_s``, windows cut at quiet points."""
        windows = quiet_cuts(audio, policy.canary_window_s)
        if len(windows) > 1:
            notes.append(
                f"Canary: {len(windows)} windows of at most {policy.canary_window_s:.0f} s, cut at quiet points."
            )
        notes.append("Timestamps are per window, not per word.")
        return [s for s in self.transcribe_windows(model, audio, windows, policy, progress, notes) if s.text]

    def transcribe_windows(
        self,
        model: Any,
        audio: np.ndarray,
        windows: list[tuple[float, float]],
        policy: LongAudioPolicy,
        progress: Progress,
        notes: list[str],
    ) -> list[Segment]:
        """One segment per window (at most ``policy.canary_window_s`` each), run in batches."""
        segments: list[Segment] = []
        batch = max(1, policy.canary_batch_size)
        for i in range(0, len(windows), batch):
            group = windows[i : i + batch]
            progress(0.05 + 0.9 * i / len(windows), f"Transcribing {clock(group[0][0])}–{clock(group[-1][1])}")
            chunks = [audio[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e in group]
            answers = generate(model, chunks, max_new_tokens=int(policy.canary_window_s * 8) + 16)
            segments += [Segment(start, end, text) for (start, end), text in zip(group, answers, strict=True)]
        return segments

    def transcribe_batch(
        self, model: Any, audios: Sequence[np.ndarray], policy: LongAudioPolicy | None = None,
        notes: Sequence[list[str]] | None = None,
    ) -> list[list[Segment]]:
        """``transcribe`` of several files at once: the windows of all of them, in order, cut into batches of
        ``policy.canary_batch_size`` (a batch holds windows of several files), each file's segments as alone;
        each file's notes appended to ``notes[i]``."""
        policy = policy or LongAudioPolicy()
        windows = [(i, start, end) for i, audio in enumerate(audios)
                   for start, end in quiet_cuts(audio, policy.canary_window_s)]
        texts: list[str] = []
        batch = max(1, policy.canary_batch_size)
        for k in range(0, len(windows), batch):
            chunks = [audios[i][int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for i, s, e in windows[k : k + batch]]
            texts += generate(model, chunks, max_new_tokens=int(policy.canary_window_s * 8) + 16)
        segments: list[list[Segment]] = [[] for _ in audios]
        for (i, start, end), text in zip(windows, texts, strict=True):
            if text:
                segments[i].append(Segment(start, end, text))
        for i, file_notes in enumerate(notes or []):
            count = sum(1 for w in windows if w[0] == i)
            if count > 1:
                file_notes.append(f"Canary: {count} windows of at most {policy.canary_window_s:.0f} s, cut at quiet "
                                  "points.")
            file_notes.append("Timestamps are per window, not per word.")
        return segments

    def long_audio_note(self, policy: LongAudioPolicy) -> str:
        """What happens to long files."""
        return (
            f"hears at most {policy.canary_window_s:g} s at a time (what it was trained on), so its audio is cut "
            "into windows of that length at quiet moments."
        )


def generate(model: Any, chunks: list[np.ndarray], max_new_tokens: int) -> list[str]:
    """The model's transcript of each audio chunk (one batch)."""
    import torch

    lens = torch.tensor([len(c) for c in chunks], dtype=torch.long)
    padded = torch.zeros(len(chunks), int(lens.max()))
    for j, c in enumerate(chunks):
        padded[j, : len(c)] = torch.from_numpy(c)
    prompts = [
        [{"role": "user", "content": TRANSCRIBE_PROMPT + model.audio_locator_tag}] for _ in chunks
    ]  # fresh dicts: the prompt formatter changes what it is given
    with torch.inference_mode():
        ids = model.generate(
            prompts=prompts,
            audios=padded.to(model.device),
            audio_lens=lens.to(model.device),
            max_new_tokens=max_new_tokens,
        )
    return [decode(model, row) for row in ids]


def decode(model: Any, ids: Any) -> str:
    """Token ids of one answer to text, stopping at the end-of-text token."""
    stop = {model.text_eos_id, model.text_pad_id}
    kept = []
    for token in ids.tolist():
        if token in stop:
            break
        kept.append(token)
    return model.tokenizer.ids_to_text(kept).strip()
