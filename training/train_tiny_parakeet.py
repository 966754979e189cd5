"""Train a tiny FastConformer-TDT model that really recognises a small spoken vocabulary, on CPU.

Steps (all seeded, see ``training/README.md`` for the recipe and the figures of the committed model):

1. Synthesize single-word clips with espeak-ng (``synth_speech``) for the training voices/speeds/pitches
   and for the held-out voices at the held-out speed, and render utterances to 16 kHz wav files with
   manifests (``train``, ``dev`` and ``test``; dev and test use only held-out voices and the held-out speed).
2. Train a SentencePiece BPE tokenizer on the training transcripts (``tests/tiny_models.train_tiny_tokenizer``).
3. Build an ``EncDecRNNTBPEModel`` from ``tests/tiny_models.tiny_parakeet_config`` (FastConformer encoder,
   TDT joint/loss/decoding like Parakeet-TDT), scaled up a little.
4. Train with lightning's ``Trainer`` and the model's own ``training_step`` / ``setup_training_data``.
   NeMo's TDT loss kernel is CUDA-only (``TDTLossNumba`` refuses CPU tensors and ``TDTLossPytorch`` calls
   ``.cuda()``), so the model's loss kernel is swapped for :class:`TDTLossCPU`, a vectorised PyTorch
   version of the same loss, checked against NeMo's reference implementation before training.
   Training is alignment-restricted (:class:`OnsetAlignment`): the data's known word onsets hold each
   word's emission to within one encoder frame (80 ms) of its onset, so the model's timestamps mean something.
5. Every ``--eval-every`` steps, transcribe the dev set; stop when its WER is at most ``--target-wer``
   (after ``--min-steps``), or when the step or time budget runs out; keep the best dev evaluation's weights.
6. Report WER and word-onset error on the test set, save the ``.nemo`` and a JSON of the figures.

Usage::

    python training/train_tiny_parakeet.py --out tests/data/tiny_words_tdt.nemo
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import soundfile as sf
import soxr
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import open_dict

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO / "training", REPO / "tests"):
    sys.path.insert(0, str(_path))

import synth_speech as ss  # noqa: E402
from tiny_models import TDT_DURATIONS, tiny_parakeet_config, train_tiny_tokenizer  # noqa: E402

# --------------------------------------------------------------------------------------------- loss


class TDTLossCPU(torch.nn.Module):
    """TDT loss (Xu et al. 2023, eq. 7) in plain PyTorch, vectorised over batch and label positions.

    Same inputs and result as NeMo's ``TDTLossNumba``/``TDTLossPytorch`` with ``reduction='none'``:
    ``acts`` are raw joint outputs ``[B, T, U+1, V+1+len(durations)]`` (token logits incl. blank, then
    duration logits), the result is the per-utterance negative log-likelihood. ``sigma`` is the logit
    under-normalisation of the paper. The loop runs over frames only; within a frame the duration-0
    (same-frame) emissions form a chain along the label axis, solved in closed form with ``logcumsumexp``.
    Gradients come from autograd.
    """

    NEG = -1.0e4  # "log 0" that stays finite, so no NaN gradients from all -inf logsumexps

    def __init__(self, blank: int, durations: list[int], sigma: float = 0.0):
        super().__init__()
        if 0 not in durations or 1 not in durations:
            raise ValueError("TDT durations must include 0 and 1")
        self.blank = blank
        self.durations = list(durations)
        self.sigma = sigma
        self.reduction: str | None = None  # always per utterance; NeMo's RNNTLoss wrapper reduces
        self.alignment: OnsetAlignment | None = None  # optional: restrict token emissions to known word times

    def forward(self, acts: torch.Tensor, labels: torch.Tensor, act_lens: torch.Tensor, label_lens: torch.Tensor):
        """Per-utterance TDT loss, shape ``[B]``."""
        n_dur = len(self.durations)
        label_lp = torch.log_softmax(acts[..., :-n_dur].float(), -1) - self.sigma
        dur_lp = torch.log_softmax(acts[..., -n_dur:].float(), -1)
        bsz, n_t, n_u1, _ = label_lp.shape
        lab = labels[:, : n_u1 - 1].long().clamp(min=0)
        if lab.shape[1] < n_u1 - 1:
            lab = torch.nn.functional.pad(lab, (0, n_u1 - 1 - lab.shape[1]))
        emit_lp = torch.gather(label_lp[:, :, :-1, :], 3, lab[:, None, :, None].expand(bsz, n_t, n_u1 - 1, 1))
        blank_terms = label_lp[..., self.blank, None] + dur_lp  # [B, T, U+1, D]
        emit_terms = emit_lp + dur_lp[:, :, :-1, :]  # [B, T, U, D]
        if self.alignment is not None:
            penalty = self.alignment.penalty(lab, label_lens, n_t)
            if penalty is not None:
                emit_terms = emit_terms + penalty[..., None]
        neg_col = torch.full((bsz, 1), self.NEG, dtype=label_lp.dtype)
        zero = self.durations.index(0)
        alphas: list[torch.Tensor] = []
        for t in range(n_t):
            if t == 0:
                x = torch.full((bsz, n_u1), self.NEG, dtype=label_lp.dtype)
                x[:, 0] = 0.0
            else:
                cands = []
                for n, d in enumerate(self.durations):
                    if d == 0 or t - d < 0:
                        continue
                    prev = alphas[t - d]
                    cands.append(prev + blank_terms[:, t - d, :, n])  # blank with duration d
                    cands.append(torch.cat([neg_col, prev[:, :-1] + emit_terms[:, t - d, :, n]], 1))  # token, d
                x = torch.logsumexp(torch.stack(cands), 0)
            # token emissions with duration 0 stay in frame t: alpha[u] = logaddexp(x[u], alpha[u-1] + e0[u-1])
            c = torch.cat([torch.zeros_like(neg_col), torch.cumsum(emit_terms[:, t, :, zero], 1)], 1)
            alphas.append(c + torch.logcumsumexp(x - c, 1))
        alpha = torch.stack(alphas, 1)  # [B, T, U+1]
        b = torch.arange(bsz)
        u_end = label_lens.long()
        finals = []
        for n, d in enumerate(self.durations):
            if d == 0:
                continue
            t_last = act_lens.long() - d
            v = alpha[b, t_last.clamp(min=0), u_end] + blank_terms[b, t_last.clamp(min=0), u_end, n]
            finals.append(torch.where(t_last >= 0, v, torch.full_like(v, self.NEG)))
        return -torch.logsumexp(torch.stack(finals), 0)


class OnsetAlignment:
    """Alignment restriction for training (as in alignment-restricted RNN-T, Mahadeokar et al. 2021).

    The synthetic training data comes with every word's onset and end, so emissions can be held to them:
    a word's first token may only be emitted within ``window`` encoder frames of the frame of its onset,
    its other tokens only between that and ``window`` frames after the word's end. Emissions elsewhere
    cost ``penalty`` nats (a soft mask, so the loss stays finite if no path fits). Without this the
    model emits words wherever it likes (the loss does not care), typically about 0.15 s early, which
    would make its timestamps a poor yardstick for the app's.

    NeMo's batches carry no utterance ids, so utterances are recognised by their length in samples:
    ``signal_lengths`` is set for every batch by :func:`attach_alignment`; utterances whose length is
    ambiguous or unknown are left unrestricted.
    """

    def __init__(self, entries: list[dict], tokenizer, frame_s: float, window: int = 1, penalty: float = 30.0):
        self.frame_s, self.window, self.penalty_nats = frame_s, window, penalty
        self.by_length: dict[int, list[tuple[float, float]] | None] = {}
        for e in entries:
            key = round(e["duration"] * ss.SAMPLE_RATE)
            words = [(float(on), float(end)) for _, on, end in e["words"]]
            self.by_length[key] = None if key in self.by_length else words  # None: ambiguous length
        sp = tokenizer.tokenizer  # sentencepiece processor
        self.starts_word = torch.tensor([sp.id_to_piece(i).startswith("\u2581") for i in range(sp.get_piece_size())])
        self.signal_lengths: torch.Tensor | None = None

    def lookup(self, n_samples: int) -> list[tuple[float, float]] | None:
        """Word (onset, end) times of the training utterance with this many samples, if known."""
        for key in (n_samples, n_samples - 1, n_samples + 1):
            if key in self.by_length:
                return self.by_length[key]
        return None

    def penalty(self, labels: torch.Tensor, label_lens: torch.Tensor, n_t: int) -> torch.Tensor | None:
        """``[B, T, U]`` additive log-penalty for emitting label ``u`` at frame ``t`` (0 where allowed)."""
        if self.signal_lengths is None:
            return None
        bsz, n_u = labels.shape
        allowed = torch.ones(bsz, n_t, n_u, dtype=torch.bool)
        first = self.starts_word[labels.clamp(max=len(self.starts_word) - 1)]
        for b in range(bsz):
            words = self.lookup(int(self.signal_lengths[b]))
            n_lab = int(label_lens[b])
            word_of = torch.cumsum(first[b, :n_lab].long(), 0) - 1
            if words is None or n_lab == 0 or int(word_of[-1]) + 1 != len(words) or not bool(first[b, 0]):
                continue  # unknown utterance or tokens that do not map onto its words: no restriction
            allowed[b, :, :n_lab] = False
            for u in range(n_lab):
                onset, end = words[int(word_of[u])]
                lo = round(onset / self.frame_s) - self.window
                hi = round((onset if first[b, u] else end) / self.frame_s) + self.window
                allowed[b, max(lo, 0) : max(hi + 1, 1), u] = True
        return torch.where(allowed, 0.0, -self.penalty_nats)


def attach_alignment(model, alignment: OnsetAlignment) -> None:
    """Make ``model``'s loss use ``alignment``; each training batch tells it the lengths of its signals."""
    model.loss._loss.alignment = alignment
    training_step = model.training_step

    def training_step_with_lengths(batch, batch_idx):
        alignment.signal_lengths = batch[1].detach().cpu()
        try:
            return training_step(batch, batch_idx)
        finally:
            alignment.signal_lengths = None

    model.training_step = training_step_with_lengths


def check_tdt_loss_against_nemo(durations: list[int] = TDT_DURATIONS, sigma: float = 0.02) -> float:
    """Compare :class:`TDTLossCPU` with NeMo's reference ``TDTLossPytorch`` on random inputs (values and grads).

    The reference hard-codes ``.cuda()``; it is run with ``Tensor.cuda`` made a no-op for the check.
    Returns the largest absolute difference; raises if above 1e-4.
    """
    from nemo.collections.asr.losses.rnnt_pytorch import TDTLossPytorch

    gen = torch.Generator().manual_seed(0)
    bsz, n_t, n_u, n_v = 3, 7, 4, 6
    acts = torch.randn(bsz, n_t, n_u + 1, n_v + 1 + len(durations), generator=gen, requires_grad=True)
    labels = torch.randint(0, n_v, (bsz, n_u), generator=gen)
    act_lens, label_lens = torch.tensor([7, 5, 6]), torch.tensor([4, 2, 3])
    real_cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    try:
        ref = TDTLossPytorch(blank=n_v, durations=durations, reduction="none", sigma=sigma)
        ref_loss = ref(acts=acts, labels=labels, act_lens=act_lens, label_lens=label_lens)
    finally:
        torch.Tensor.cuda = real_cuda  # type: ignore[method-assign]
    mine = TDTLossCPU(n_v, durations, sigma)(acts, labels, act_lens, label_lens)
    g_ref = torch.autograd.grad(ref_loss.sum(), acts)[0]
    g_mine = torch.autograd.grad(mine.sum(), acts)[0]
    diff = max(float((ref_loss - mine).detach().abs().max()), float((g_ref - g_mine).abs().max()))
    if diff > 1e-4:
        raise AssertionError(f"TDTLossCPU differs from NeMo's TDTLossPytorch by {diff}")
    return diff


# --------------------------------------------------------------------------------------------- data


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _n_words(rng: np.random.Generator, long_share: float) -> int:
    """Utterance length in words: mostly 1..10, sometimes 10..30 (so long inputs are seen in training)."""
    if rng.random() < long_share:
        return int(rng.integers(10, 31))
    return int(rng.integers(1, 11))


def _augment(audio: np.ndarray, rng: np.random.Generator, noise_share: float, band_share: float) -> np.ndarray:
    """Random gain; with some probability white noise (SNR 15..45 dB) and an 8 kHz round trip (4 kHz band)."""
    audio = audio * rng.uniform(0.25, 1.0)
    if rng.random() < band_share:
        audio = soxr.resample(soxr.resample(audio, ss.SAMPLE_RATE, 8000), 8000, ss.SAMPLE_RATE)[: len(audio)]
    if rng.random() < noise_share:
        speech_power = float(np.mean(audio[np.abs(audio) > 1e-4] ** 2)) if np.any(np.abs(audio) > 1e-4) else 1e-4
        snr_db = rng.uniform(15, 45)
        audio = audio + rng.normal(0.0, np.sqrt(speech_power / 10 ** (snr_db / 10)), len(audio))
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def render_split(
    name: str, out_dir: Path, n: int, voices: tuple[str, ...], speeds: tuple[int, ...], pitches: tuple[int, ...],
    seed: int, cache_dir: Path, augment: bool, long_share: float,
) -> Path:  # fmt: skip
    """Write ``n`` utterances as wav files and a NeMo manifest (JSON lines) with word timings.

    Each manifest line has ``audio_filepath``, ``duration``, ``text`` and ``words``: a list of
    ``[word, onset_s, end_s]`` (NeMo ignores the extra key). Returns the manifest path.
    """
    rng = np.random.default_rng(seed)
    wav_dir = out_dir / name
    wav_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / f"{name}.json"
    with manifest.open("w") as f:
        for i in range(n):
            voice = voices[int(rng.integers(len(voices)))]
            speed = speeds[int(rng.integers(len(speeds)))]
            pitch = pitches[int(rng.integers(len(pitches)))]
            words = ss.random_text(rng, _n_words(rng, long_share))
            audio, timings = ss.make_utterance(words, voice, speed, pitch, rng, cache_dir=cache_dir)
            if augment:
                audio = _augment(audio, rng, noise_share=0.5, band_share=0.2)
            path = wav_dir / f"{name}_{i:05d}.wav"
            sf.write(path, audio, ss.SAMPLE_RATE, subtype="PCM_16")
            line = {
                "audio_filepath": str(path),
                "duration": len(audio) / ss.SAMPLE_RATE,  # exact: the length identifies the utterance
                "text": " ".join(words),
                "words": [[t.word, round(t.start, 5), round(t.end, 5)] for t in timings],
                "voice": voice,
                "speed": speed,
                "pitch": pitch,
            }
            f.write(json.dumps(line) + "\n")
    return manifest


def read_manifest(path: Path) -> list[dict]:
    """Manifest lines as dicts."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------- model


def build_model(tok_dir: Path, args: argparse.Namespace, train_manifest: Path, steps: int):
    """The tiny FastConformer-TDT model, its training data and optimiser configured."""
    from nemo.collections.asr.models import EncDecRNNTBPEModel
    from omegaconf import OmegaConf

    cfg = tiny_parakeet_config(str(tok_dir), d_model=args.d_model, n_layers=args.n_layers)
    cfg["encoder"]["n_heads"] = args.n_heads
    cfg["encoder"]["dropout"] = args.dropout
    cfg["encoder"]["dropout_att"] = args.dropout
    if args.spec_augment:
        cfg["spec_augment"] = {
            "_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
            "freq_masks": 2,
            "freq_width": 12,
            "time_masks": 2,
            "time_width": 0.05,
        }
    del cfg["validation_ds"]  # no validation loop: the dev set is run by DevEvalCallback
    cfg["train_ds"] = {  # NeMo's lhotse dataloader: duration buckets, so batches carry little padding
        "manifest_filepath": str(train_manifest),
        "use_lhotse": True,
        "sample_rate": ss.SAMPLE_RATE,
        "batch_duration": args.batch_duration,
        "use_bucketing": True,
        "num_buckets": 8,
        "num_cuts_for_bins_estimate": 5000,
        "bucket_buffer_size": 3000,
        "concurrent_bucketing": False,
        "shuffle": True,
        "shuffle_buffer_size": 3000,
        "seed": args.seed,
        "shard_seed": args.seed,
        "num_workers": 0,
        "pin_memory": False,
        "max_duration": 40.0,
        "min_duration": 0.1,
    }
    cfg["optim"] = {
        "name": "adamw",
        "lr": args.lr,
        "betas": [0.9, 0.98],
        "weight_decay": 1e-3,
        "sched": {"name": "CosineAnnealing", "warmup_steps": args.warmup, "min_lr": args.lr / 50, "max_steps": steps},
    }
    model = EncDecRNNTBPEModel(cfg=OmegaConf.create(cfg))
    model.loss._loss = TDTLossCPU(
        blank=model.loss._blank, durations=TDT_DURATIONS, sigma=cfg["loss"]["tdt_kwargs"]["sigma"]
    )
    return model


def transcribe(model, audios: list[np.ndarray], batch_size: int = 16) -> list[tuple[str, list[tuple[str, float]]]]:
    """(text, [(word, start_s)]) per audio, from ``model.transcribe(..., timestamps=True)``."""
    was_training = model.training
    with torch.no_grad():
        hyps = model.transcribe(audios, batch_size=batch_size, timestamps=True, verbose=False)
    if isinstance(hyps, tuple):
        hyps = hyps[0]
    model.train(was_training)
    out = []
    for h in hyps:
        words = [(w["word"], float(w["start"])) for w in (h.timestamp or {}).get("word", [])]
        out.append((h.text, words))
    return out


def evaluate(model, entries: list[dict]) -> dict:
    """WER and word-onset error (over correctly recognised words) of ``model`` on manifest ``entries``."""
    audios = [sf.read(e["audio_filepath"], dtype="float32")[0] for e in entries]
    results = transcribe(model, audios)
    refs = [e["text"] for e in entries]
    hyps = [" ".join(text.split()) for text, _ in results]
    onset_errors: list[float] = []
    for e, (_, words) in zip(entries, results, strict=True):
        ref_words = [w for w, _, _ in e["words"]]
        hyp_words = [w for w, _ in words]
        for ri, hi in ss.align_words(ref_words, hyp_words):
            if ri is not None and hi is not None and ref_words[ri] == hyp_words[hi]:
                onset_errors.append(words[hi][1] - e["words"][ri][1])
    signed = np.array(onset_errors) if onset_errors else np.array([np.nan])
    errs = np.abs(signed)
    return {
        "utterances": len(entries),
        "words": sum(len(r.split()) for r in refs),
        "wer": ss.word_error_rate(refs, hyps),
        "onset_error_mean_s": float(np.mean(errs)),
        "onset_error_p95_s": float(np.percentile(errs, 95)),
        "onset_error_max_s": float(np.max(errs)),
        "onset_signed_mean_s": float(np.mean(signed)),
    }


class DevEvalCallback(Callback):
    """Evaluate on dev every ``every`` steps (and at the deadline), keep the best weights, stop at the target."""

    def __init__(self, entries: list[dict], every: int, target_wer: float, min_steps: int, deadline: float):
        self.entries, self.every, self.target_wer, self.deadline = entries, every, target_wer, deadline
        self.min_steps = min_steps
        self.best: dict | None = None
        self.best_state: dict | None = None
        self.history: list[dict] = []

    def _eval(self, trainer: pl.Trainer, model) -> None:
        t0 = time.time()
        figures = {"step": trainer.global_step, **evaluate(model, self.entries)}
        figures["eval_s"] = round(time.time() - t0, 1)
        self.history.append(figures)
        print(f"dev @{trainer.global_step}: {json.dumps(figures)}", flush=True)
        if self.best is None or figures["wer"] <= self.best["wer"]:
            self.best = figures
            self.best_state = copy.deepcopy(model.state_dict())
        if figures["wer"] <= self.target_wer and trainer.global_step >= self.min_steps:
            trainer.should_stop = True

    def on_train_batch_end(self, trainer: pl.Trainer, model, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % 25 == 0 and outputs is not None:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            print(f"step {step} loss {float(loss):.3f} t={time.time() - START:.0f}s", flush=True)
        if step > 0 and step % self.every == 0:
            self._eval(trainer, model)
        elif time.time() > self.deadline:
            self._eval(trainer, model)
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, model) -> None:
        if not self.history or self.history[-1]["step"] != trainer.global_step:
            self._eval(trainer, model)


START = time.time()


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "tests/data/tiny_words_tdt.nemo", help="where to write the .nemo")
    p.add_argument("--figures", type=Path, default=None, help="JSON of figures (default: --out with .json)")
    p.add_argument("--work-dir", type=Path, default=None, help="data/tokenizer folder (default: a temp dir)")
    p.add_argument("--cache-dir", type=Path, default=None, help="word-clip cache (default: <work-dir>/clips)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--n-dev", type=int, default=150)
    p.add_argument("--n-test", type=int, default=300)
    p.add_argument("--long-share", type=float, default=0.15, help="share of 10..30-word training utterances")
    p.add_argument("--vocab-size", type=int, default=256, help="SentencePiece vocabulary size (soft limit)")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--align-window", type=int, default=1, help="frames around a word onset (-1: no restriction)")
    p.add_argument("--spec-augment", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--batch-duration", type=float, default=80.0, help="seconds of audio per batch")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--max-steps", type=int, default=2000, help="also the length of the cosine schedule")
    p.add_argument("--min-steps", type=int, default=800, help="do not stop for a good dev WER before this")
    p.add_argument("--budget-minutes", type=float, default=28.0, help="wall-clock budget of the whole run")
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--target-wer", type=float, default=0.005, help="stop once dev WER is at most this")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: robust on shared cores)")
    p.add_argument("--workers", type=int, default=2, help="parallel espeak-ng processes")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Build data, train, evaluate, save; returns the figures."""
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    t_start = time.time()
    tmp = tempfile.TemporaryDirectory() if args.work_dir is None else None
    work = Path(tmp.name) if tmp is not None else args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    cache = args.cache_dir or work / "clips"

    print(f"TDT loss check vs NeMo reference: max diff {check_tdt_loss_against_nemo():.2e}", flush=True)

    # 1. data
    ss.synth_words(ss.VOCAB, ss.TRAIN_VOICES, ss.TRAIN_SPEEDS, ss.TRAIN_PITCHES, cache, workers=args.workers)
    ss.synth_words(ss.VOCAB, ss.HELDOUT_VOICES, [ss.HELDOUT_SPEED], [ss.HELDOUT_PITCH], cache, workers=args.workers)
    t_synth = time.time() - t_start
    held = (ss.HELDOUT_VOICES, (ss.HELDOUT_SPEED,), (ss.HELDOUT_PITCH,))
    train_m = render_split(
        "train", work, args.n_train, ss.TRAIN_VOICES, ss.TRAIN_SPEEDS, ss.TRAIN_PITCHES, args.seed, cache,
        augment=True, long_share=args.long_share,
    )  # fmt: skip
    dev_m = render_split("dev", work, args.n_dev, *held, args.seed + 1, cache, augment=False, long_share=0.1)
    test_m = render_split("test", work, args.n_test, *held, args.seed + 2, cache, augment=False, long_share=0.1)
    train_entries = read_manifest(train_m)
    t_data = time.time() - t_start
    hours = sum(e["duration"] for e in train_entries) / 3600
    print(f"data: {len(train_entries)} train utterances ({hours:.2f} h), synth {t_synth:.0f}s, total {t_data:.0f}s")

    # 2. tokenizer, 3. model
    tok_dir = train_tiny_tokenizer(work / "tokenizer", [e["text"] for e in train_entries], args.vocab_size)
    seed_everything(args.seed)
    model = build_model(tok_dir, args, train_m, args.max_steps)
    if args.align_window >= 0:
        frame_s = model.cfg.preprocessor.window_stride * model.cfg.encoder.subsampling_factor
        attach_alignment(model, OnsetAlignment(train_entries, model.tokenizer, frame_s, window=args.align_window))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters, tokenizer vocab {model.tokenizer.vocab_size}", flush=True)

    # 4. train
    deadline = t_start + args.budget_minutes * 60 - 120  # leave time for the test set and saving
    dev_entries = read_manifest(dev_m)
    callback = DevEvalCallback(dev_entries, args.eval_every, args.target_wer, args.min_steps, deadline)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=args.max_steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=100,
        gradient_clip_val=1.0,
        callbacks=[callback],
        deterministic=False,
    )
    model.set_trainer(trainer)
    t_train0 = time.time()
    trainer.fit(model)
    t_train = time.time() - t_train0
    if callback.best_state is not None:
        model.load_state_dict(callback.best_state)
    model.eval()

    # 5. evaluate, save
    test = evaluate(model, read_manifest(test_m))
    print(f"test: {json.dumps(test)}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open_dict(model.cfg):
        model.cfg.train_ds.manifest_filepath = None  # a temporary path; nothing to keep in the .nemo
    model.save_to(str(args.out))
    figures = {
        "nemo": args.out.name,
        "sha256": sha256(args.out),
        "size_bytes": args.out.stat().st_size,
        "parameters": n_params,
        "vocab": list(ss.VOCAB),
        "tokenizer_vocab_size": model.tokenizer.vocab_size,
        "train_voices": list(ss.TRAIN_VOICES),
        "train_speeds": list(ss.TRAIN_SPEEDS),
        "train_pitches": list(ss.TRAIN_PITCHES),
        "heldout_voices": list(ss.HELDOUT_VOICES),
        "heldout_speed": ss.HELDOUT_SPEED,
        "heldout_pitch": ss.HELDOUT_PITCH,
        "train_utterances": len(train_entries),
        "train_hours": round(hours, 3),
        "steps": trainer.global_step,
        "best_dev": callback.best,
        "dev_history": callback.history,
        "test": test,
        "time_data_s": round(t_data, 1),
        "time_train_s": round(t_train, 1),
        "time_total_s": round(time.time() - t_start, 1),
        "threads": args.threads,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    fig_path = args.figures or args.out.with_suffix(".json")
    fig_path.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps({k: figures[k] for k in ("size_bytes", "steps", "test", "time_train_s", "time_total_s")}))
    if tmp is not None:
        tmp.cleanup()
    return figures


if __name__ == "__main__":
    main()
