"""Train a tiny Streaming Sortformer (``SortformerEncLabelModel``) that really tells espeak-ng voices apart, on CPU.

Steps (all seeded; ``training/README.md`` has the recipe and the figures of the committed model):

1. Synthesize single-word clips with espeak-ng (``synth_speech``) for the diarizer's training voices, speeds and
   pitches, and for its held-out voices at the held-out speed and pitch.
2. Render conversations (``synth_conversation``): 1-4 speakers with distinct voice variants, turns of 1-13
   words, pauses, some short overlaps, a speaker keeping the floor now and then, random gains and noise. Their
   log-mel features (the model's own preprocessor) and 80 ms speaker-activity targets are kept in memory.
3. Build a ``SortformerEncLabelModel`` from ``tests/tiny_models.sortformer_config`` (FastConformer encoder,
   Transformer encoder and Sortformer head of ``diar_streaming_sortformer_4spk-v2``, scaled down).
4. Warm up the encoder on an auxiliary loss alone (``--voice-only-steps``: a throw-away linear layer names the
   training voice of each frame from the encoder's output), then train with the model's own encoder, head and
   loss (``_get_aux_train_evaluations``: NeMo's hybrid of the arrival-time-sorted and permutation-invariant BCE
   losses) plus that voice loss, on whole conversations (offline mode) with AdamW.
5. Every ``--eval-every`` steps compute the DER (``pyannote.metrics``, no collar) of the held-out dev
   conversations; keep the best weights; stop at ``--max-steps`` (or the target, or the time budget).
6. Report DER on held-out test conversations, save the ``.nemo`` and a JSON of the figures.

``--evaluate MODEL.nemo`` instead measures DER of a saved model through the app's own diarizer
(``offline_transcribe.diarize``: streaming with the offline preset, the app's post-processing).

Usage::

    python training/train_tiny_sortformer.py                 # writes tests/data/tiny_sortformer.{nemo,json}
    python training/train_tiny_sortformer.py --evaluate tests/data/tiny_sortformer.nemo
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests"):
    sys.path.insert(0, str(_path))

import synth_conversation as sc  # noqa: E402
import synth_speech as ss  # noqa: E402
from tiny_models import sortformer_config  # noqa: E402

FRAME_S = 0.08  # one Sortformer output frame: 10 ms features, 8x subsampling

# --------------------------------------------------------------------------------------------- data


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


SPEAKER_SHARES = (0.05, 0.55, 0.3, 0.1)  # of conversations with 1, 2, 3, 4 speakers


def _n_speakers(rng: np.random.Generator, shares: tuple[float, ...] = SPEAKER_SHARES) -> int:
    return int(rng.choice(np.arange(1, len(shares) + 1), p=np.asarray(shares) / sum(shares)))


def _add_noise(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White noise at 20..45 dB SNR (half of the time)."""
    if rng.random() < 0.5:
        loud = np.abs(audio) > 1e-4
        power = float(np.mean(audio[loud] ** 2)) if np.any(loud) else 1e-4
        audio = audio + rng.normal(0.0, np.sqrt(power / 10 ** (rng.uniform(20, 45) / 10)), len(audio))
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def train_conversation(
    rng: np.random.Generator, cache: Path, seconds: tuple[float, float], shares: tuple[float, ...] = SPEAKER_SHARES
) -> sc.Conversation:
    """A training conversation: training voices, speeds and pitches, random gains."""
    n = _n_speakers(rng, shares)
    speakers = sc.distinct_speakers(rng, n, sc.DIAR_TRAIN_VOICES, ss.TRAIN_SPEEDS, ss.TRAIN_PITCHES)
    gains = rng.uniform(0.3, 1.0, size=n)
    conv = sc.make_conversation(rng, speakers, rng.uniform(*seconds), gains=gains, cache_dir=cache)
    return sc.Conversation(_add_noise(conv.audio, rng), conv.turns, conv.speakers)


def heldout_conversations(n: int, n_speakers: int, seed: int, cache: Path, seconds: tuple[float, float]):
    """Held-out conversations: voices, speed and pitch the diarizer never heard in training."""
    rng = np.random.default_rng(seed)
    return [sc.heldout_conversation(rng, n_speakers, rng.uniform(*seconds), cache_dir=cache) for _ in range(n)]


@dataclass
class Example:
    """One conversation as the model trains on it."""

    feats: torch.Tensor  # [F, T] float16 log-mel
    targets: torch.Tensor  # [T // 8 + 1, 4] float32
    voices: torch.Tensor  # [T // 8 + 1] long: the training voice speaking alone in each frame, else -1


def features(model, audios: list[np.ndarray]) -> list[torch.Tensor]:
    """Log-mel features of each audio with the model's own preprocessor (eval mode: no dither)."""
    out = []
    model.preprocessor.eval()
    with torch.inference_mode():
        for audio in audios:
            x = torch.from_numpy(audio)[None]
            f, n = model.preprocessor(input_signal=x, length=torch.tensor([x.shape[1]]))
            out.append(f[0, :, : int(n[0])].clone())
    return out


def to_examples(model, convs: list[sc.Conversation], voice_ids: dict[str, int] | None = None) -> list[Example]:
    """Features, 4-speaker frame targets and (for training voices in ``voice_ids``) the voice of each frame."""
    examples = []
    for conv, feats in zip(convs, features(model, [c.audio for c in convs]), strict=True):
        n_frames = feats.shape[1] // 8 + 1
        t = np.zeros((n_frames, 4), dtype=np.float32)
        tgt = sc.frame_targets(conv, n_frames, FRAME_S)
        t[:, : tgt.shape[1]] = tgt
        voices = np.full(n_frames, -1, dtype=np.int64)
        if voice_ids is not None:
            order = conv.speaker_order()
            alone = tgt.sum(axis=1) == 1
            ids = np.array([voice_ids[conv.speakers[s].voice] for s in order], dtype=np.int64)
            voices[alone] = ids[tgt[alone].argmax(axis=1)]
        examples.append(Example(feats.to(torch.float16), torch.from_numpy(t), torch.from_numpy(voices)))
    return examples


def collate(batch: list[Example]) -> tuple[torch.Tensor, ...]:
    """Padded features [B, F, T], their lengths, padded targets [B, T', 4] and voices [B, T'] (-1: none)."""
    lens = torch.tensor([e.feats.shape[1] for e in batch])
    feats = torch.zeros(len(batch), batch[0].feats.shape[0], int(lens.max()))
    n_t = max(e.targets.shape[0] for e in batch)
    targets = torch.zeros(len(batch), n_t, 4)
    voices = torch.full((len(batch), n_t), -1, dtype=torch.long)
    for i, e in enumerate(batch):
        feats[i, :, : e.feats.shape[1]] = e.feats.float()
        targets[i, : e.targets.shape[0]] = e.targets
        voices[i, : e.voices.shape[0]] = e.voices
    return feats, lens, targets, voices


# --------------------------------------------------------------------------------------------- model


def build_model(args: argparse.Namespace):
    """A tiny ``SortformerEncLabelModel`` from ``sortformer_config``; with ``--init-encoder``, its FastConformer
    starts from that ASR model's encoder (as NVIDIA's Sortformers start from a pretrained one)."""
    from nemo.collections.asr.models import ASRModel, SortformerEncLabelModel
    from omegaconf import OmegaConf

    asr = ASRModel.restore_from(str(args.init_encoder), map_location="cpu") if args.init_encoder else None
    shape = dict(d_model=args.d_model, n_heads=args.n_heads)
    if asr is not None:  # the encoder's shape and features are the ASR model's
        enc = asr.cfg.encoder
        shape = dict(d_model=enc.d_model, n_heads=enc.n_heads, conv_channels=enc.subsampling_conv_channels,
                     features=enc.feat_in, normalize=asr.cfg.preprocessor.normalize)  # fmt: skip
    cfg = sortformer_config(
        n_layers=args.n_layers, tf_d_model=args.tf_d_model, tf_layers=args.tf_layers, tf_inner=args.tf_d_model * 2,
        dropout=args.dropout, **shape,
    )  # fmt: skip
    model = SortformerEncLabelModel(cfg=OmegaConf.create(cfg))
    if asr is not None:
        own = model.encoder.state_dict()
        taken = {k: v for k, v in asr.encoder.state_dict().items() if k in own and own[k].shape == v.shape}
        model.encoder.load_state_dict(taken, strict=False)
        print(f"encoder: {len(taken)} of {len(own)} tensors from {args.init_encoder.name}", flush=True)
    return model


def offline_probs(model, feats: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """Speaker probabilities ``[B, T', 4]`` of whole conversations (the model's offline forward)."""
    emb, emb_lens = model.frontend_encoder(processed_signal=feats, processed_signal_length=lens)
    return model.forward_infer(emb, emb_lens)


def train_step(
    model, optimizer, batch, voice_head: torch.nn.Module | None = None, voice_weight: float = 0.0,
    voice_only: bool = False,
) -> dict:  # fmt: skip
    """One step on a padded batch: NeMo's own loss plus (with ``voice_head``) the auxiliary voice loss, or with
    ``voice_only`` the voice loss alone (the warm-up stage: the encoder only, the Transformer and head untouched).

    The auxiliary loss asks a throw-away linear layer to name the training voice of every frame where one speaker
    talks alone, from the encoder's output (what the Transformer sees). Trained from scratch on NeMo's loss alone,
    the model settles where every speech frame gets the same probabilities for every speaker (voice activity
    detection only, the hedge that minimises the permutation-free losses). With a warm-up on the voice loss alone
    the encoder first learns voice-discriminative features, and the Sortformer head then learns to sort them by
    arrival. The layer is not part of the saved model.
    """
    feats, lens, targets, voices = batch
    emb, emb_lens = model.frontend_encoder(processed_signal=feats, processed_signal_length=lens)
    n = emb.shape[1]
    voices = torch.nn.functional.pad(voices, (0, max(0, n - voices.shape[1])), value=-1)[:, :n]
    metrics: dict[str, torch.Tensor] = {}
    loss = torch.zeros(())
    if not voice_only:
        preds = model.forward_infer(emb, emb_lens)
        targets = torch.nn.functional.pad(targets, (0, 0, 0, max(0, n - targets.shape[1])))[:, :n]
        metrics = model._get_aux_train_evaluations(preds, targets, emb_lens.clamp(max=n))
        model._reset_train_metrics()
        loss = metrics["loss"]
    if voice_head is not None and (voice_weight > 0 or voice_only):
        logits = voice_head(emb)
        metrics["voice_loss"] = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), voices.reshape(-1), ignore_index=-1
        )
        loss = loss + (1.0 if voice_only else voice_weight) * metrics["voice_loss"]
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 1.0)
    optimizer.step()
    kept = ("loss", "ats_loss", "pil_loss", "voice_loss", "train_f1_acc")
    return {k: float(v.detach()) for k, v in metrics.items() if k in kept}


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine down to 5 % over ``--max-steps``."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.max_steps - args.warmup))
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


# --------------------------------------------------------------------------------------------- evaluation


def turns_from_probs(probs: np.ndarray, policy=None) -> list[tuple[float, float, str]]:
    """(start, end, slot) turns of every slot, with the app's thresholds (``diarize.turns.spans``)."""
    from offline_transcribe.diarize import DiarizationPolicy
    from offline_transcribe.diarize.turns import spans

    policy = policy or DiarizationPolicy()
    return [(a, b, f"slot{slot}") for slot in range(probs.shape[1])
            for a, b in spans(probs[:, slot] > policy.threshold, FRAME_S, policy.min_pause_s, policy.min_turn_s)]


def evaluate_offline(model, convs: list[sc.Conversation]) -> dict:
    """DER (collar 0 and 0.25 s) of the model's offline forward on ``convs``."""
    model.eval()
    hyps = []
    with torch.inference_mode():
        for ex in to_examples(model, convs):
            probs = offline_probs(model, ex.feats.float()[None], torch.tensor([ex.feats.shape[1]]))[0]
            hyps.append(turns_from_probs(probs.numpy()))
    model.train()
    parts = sc.diarization_error_rate(convs, hyps, detailed=True)
    return {**{k: round(v, 4) for k, v in parts.items()},
            "der_collar_0.25": round(sc.diarization_error_rate(convs, hyps, 0.25), 4)}  # fmt: skip


def evaluate_app(nemo: Path, convs_by_name: dict[str, list[sc.Conversation]]) -> dict:
    """DER of a saved model through the app's diarizer (``offline_transcribe.diarize``), per set of conversations."""
    from offline_transcribe.diarize import sortformer

    model = sortformer.restore_sortformer(nemo, "cpu")
    out = {}
    for name, convs in convs_by_name.items():
        started = time.perf_counter()
        hyps = []
        for conv in convs:
            turns = sortformer.diarize_audio(model, conv.audio).turns
            hyps.append([(t.start, t.end, t.speaker) for t in turns])
        audio_s = sum(c.duration for c in convs)
        parts = sc.diarization_error_rate(convs, hyps, detailed=True)
        out[name] = {
            "conversations": len(convs),
            "audio_s": round(audio_s, 1),
            **{k: round(v, 4) for k, v in parts.items()},
            "der_collar_0.25": round(sc.diarization_error_rate(convs, hyps, 0.25), 4),
            "rtf": round((time.perf_counter() - started) / audio_s, 4),
        }
        print(name, json.dumps(out[name]), flush=True)
    return out


def test_sets(args: argparse.Namespace, cache: Path) -> dict[str, list[sc.Conversation]]:
    """The held-out test conversations (seeds of their own, not the dev ones)."""
    return {
        "heldout_2spk": heldout_conversations(args.n_test, 2, args.seed + 20, cache, (15, 40)),
        "heldout_3spk": heldout_conversations(args.n_test // 2, 3, args.seed + 30, cache, (15, 40)),
        "heldout_2spk_long": heldout_conversations(max(2, args.n_test // 10), 2, args.seed + 40, cache, (90, 150)),
    }


# --------------------------------------------------------------------------------------------- main


def _shown(value: object) -> object:
    """An argument as the figures record it: paths inside the repository relative to it."""
    if not isinstance(value, Path):
        return value
    path = value.resolve()
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else value)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "tests/data/tiny_sortformer.nemo", help="the .nemo to write")
    p.add_argument("--figures", type=Path, default=None, help="JSON of figures (default: --out with .json)")
    p.add_argument("--evaluate", type=Path, default=None, help="only measure DER of this .nemo through the app")
    p.add_argument("--cache-dir", type=Path, default=None, help="word-clip cache (default: a temp dir)")
    p.add_argument("--seed", type=int, default=4321)
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-dev", type=int, default=24)
    p.add_argument("--n-test", type=int, default=40)
    p.add_argument("--train-seconds", type=float, nargs=2, default=(8.0, 16.0))
    p.add_argument("--speaker-shares", type=float, nargs=4, default=SPEAKER_SHARES,
                   help="shares of training conversations with 1, 2, 3, 4 speakers")
    p.add_argument("--d-model", type=int, default=80)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--tf-d-model", type=int, default=64)
    p.add_argument("--tf-layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--voice-only-steps", type=int, default=150,
                   help="warm-up steps of the voice loss alone (the encoder learns to tell voices apart first)")
    p.add_argument("--voice-weight", type=float, default=0.5,
                   help="weight of the auxiliary loss that names each frame's training voice (0: off)")
    p.add_argument("--init-encoder", type=Path, default=None,
                   help="start the FastConformer from this ASR .nemo's encoder (e.g. tests/data/tiny_words_tdt.nemo)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--max-steps", type=int, default=800, help="also the length of the cosine schedule")
    p.add_argument("--budget-minutes", type=float, default=300.0,
                   help="wall-clock budget of the whole run (the committed model stopped at --max-steps, not here)")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--target-der", type=float, default=0.02, help="stop once dev DER is at most this")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: robust on shared cores)")
    p.add_argument("--workers", type=int, default=2, help="parallel espeak-ng processes")
    return p.parse_args(argv)


def synthesize_clips(cache: Path, workers: int) -> None:
    """Every word in every training voice/speed/pitch, and in the held-out voices at the held-out speed/pitch."""
    ss.synth_words(ss.VOCAB, sc.DIAR_TRAIN_VOICES, ss.TRAIN_SPEEDS, ss.TRAIN_PITCHES, cache, workers=workers)
    ss.synth_words(ss.VOCAB, sc.DIAR_HELDOUT_VOICES, [ss.HELDOUT_SPEED], [ss.HELDOUT_PITCH], cache, workers=workers)


def train(args: argparse.Namespace, cache: Path, t_start: float) -> dict:
    """Data, model, training loop; saves the model and returns the figures."""
    seed_everything(args.seed)
    model = build_model(args)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters", flush=True)
    rng = np.random.default_rng(args.seed)
    voice_ids = {voice: i for i, voice in enumerate(sc.DIAR_TRAIN_VOICES)}
    train_set, seconds = [], 0.0
    for _ in range(args.n_train):  # one at a time: only the features are kept, not the audio
        conv = train_conversation(rng, cache, tuple(args.train_seconds), tuple(args.speaker_shares))
        train_set += to_examples(model, [conv], voice_ids)
        seconds += conv.duration
    hours = seconds / 3600
    dev = {
        "2spk": heldout_conversations(args.n_dev, 2, args.seed + 1, cache, (15, 40)),
        "3spk": heldout_conversations(args.n_dev // 2, 3, args.seed + 2, cache, (15, 40)),
    }
    t_data = time.time() - t_start
    print(f"data: {len(train_set)} conversations ({hours:.2f} h) in {t_data:.0f} s", flush=True)

    model.train()
    model.streaming_mode = False  # whole conversations; the saved config keeps streaming_mode: True
    with_voices = args.voice_weight > 0 or args.voice_only_steps > 0
    voice_head = torch.nn.Linear(model.sortformer_modules.tf_d_model, len(voice_ids)) if with_voices else None
    params = [*model.parameters(), *(voice_head.parameters() if voice_head is not None else [])]
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.98), weight_decay=1e-3)
    model._optimizer = optimizer  # NeMo's metrics read the learning rate from it
    deadline = t_start + args.budget_minutes * 60 - 240  # leave time for the test sets and saving
    history, best, best_state = [], None, None
    order = np.random.default_rng(args.seed + 3)
    t_train0, step, running = time.time(), 0, []
    while step < args.max_steps and time.time() < deadline:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args)
        batch = collate([train_set[i] for i in order.choice(len(train_set), args.batch_size, replace=False)])
        warming_up = step < args.voice_only_steps
        running.append(train_step(model, optimizer, batch, voice_head, args.voice_weight, voice_only=warming_up))
        step += 1
        if warming_up and step % args.eval_every == 0:  # the Sortformer head is untrained yet: no DER
            voice = float(np.mean([r["voice_loss"] for r in running]))
            running = []
            history.append({"step": step, "voice_loss": round(voice, 4), "elapsed_s": round(time.time() - t_train0)})
            print(json.dumps(history[-1]), flush=True)
        elif not warming_up and (step % args.eval_every == 0 or step >= args.max_steps or time.time() >= deadline):
            scores = {name: evaluate_offline(model, convs) for name, convs in dev.items()}
            loss = float(np.mean([r["loss"] for r in running]))
            voice = float(np.mean([r.get("voice_loss", 0.0) for r in running]))
            running = []
            entry = {"step": step, "loss": round(loss, 4), "voice_loss": round(voice, 4),
                     **{k: v["der"] for k, v in scores.items()},
                     "2spk_parts": scores["2spk"], "elapsed_s": round(time.time() - t_train0)}  # fmt: skip
            history.append(entry)
            print(json.dumps(entry), flush=True)
            score = scores["2spk"]["der"] + scores["3spk"]["der"]
            if best is None or score < best["score"]:
                best = {**entry, "score": round(score, 4)}
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                args.out.parent.mkdir(parents=True, exist_ok=True)
                model.save_to(str(args.out))  # the best so far, should the run be stopped early
            if scores["2spk"]["der"] <= args.target_der and scores["3spk"]["der"] <= 2 * args.target_der:
                break
    t_train = time.time() - t_train0
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    model.streaming_mode = True
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save_to(str(args.out))
    test = {name: evaluate_offline(model, convs) for name, convs in test_sets(args, cache).items()}
    print(f"test (offline forward): {json.dumps(test)}", flush=True)
    return {
        "nemo": args.out.name,
        "sha256": sha256(args.out),
        "size_bytes": args.out.stat().st_size,
        "parameters": n_params,
        "train_voices": list(sc.DIAR_TRAIN_VOICES),
        "train_speeds": list(ss.TRAIN_SPEEDS),
        "train_pitches": list(ss.TRAIN_PITCHES),
        "heldout_voices": list(sc.DIAR_HELDOUT_VOICES),
        "heldout_speed": ss.HELDOUT_SPEED,
        "heldout_pitch": ss.HELDOUT_PITCH,
        "train_conversations": len(train_set),
        "train_hours": round(hours, 3),
        "steps": step,
        "best_dev": best,
        "dev_history": history,
        "test_offline_forward": test,
        "time_data_s": round(t_data, 1),
        "time_train_s": round(t_train, 1),
        "threads": args.threads,
        "args": {k: _shown(v) for k, v in vars(args).items() if k != "cache_dir"},  # the cache changes nothing
    }


def main(argv: list[str] | None = None) -> dict:
    """Train (or, with ``--evaluate``, only evaluate through the app) and write the figures."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    t_start = time.time()
    tmp = tempfile.TemporaryDirectory() if args.cache_dir is None else None
    cache = Path(tmp.name) if tmp is not None else args.cache_dir
    synthesize_clips(cache, args.workers)
    print(f"clips: {time.time() - t_start:.0f} s", flush=True)
    fig_path = args.figures or (args.evaluate or args.out).with_suffix(".json")
    if args.evaluate is not None:
        figures = json.loads(fig_path.read_text()) if fig_path.exists() else {}
        figures["test_app"] = evaluate_app(args.evaluate, test_sets(args, cache))
        figures["test_app_command"] = f"python training/train_tiny_sortformer.py --evaluate {_shown(args.evaluate)}"
    else:
        figures = train(args, cache, t_start)
        figures["time_total_s"] = round(time.time() - t_start, 1)
    fig_path.write_text(json.dumps(figures, indent=1) + "\n")
    if tmp is not None:
        tmp.cleanup()
    return figures


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
