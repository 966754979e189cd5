#!/usr/bin/env python
"""Benchmark model loading and transcription with a model shaped exactly like Parakeet-TDT-0.6B-v2.

    python bench/bench_load_and_transcribe.py              # full run: 60 s and 10 min audio (~15 min, 2-core CPU)
    python bench/bench_load_and_transcribe.py --quick      # smoke run: 20 s and 60 s audio
    python bench/bench_load_and_transcribe.py --device cuda   # GPU: also RTFx for 10/60 min, fp32/bf16, a batch of 64
    python bench/bench_load_and_transcribe.py --device cuda --check   # what bench/gpu_check.sh runs (one repetition)
    python bench/bench_load_and_transcribe.py --check --tiny  # its dry run on a CPU: the tests' tiny model, short audio

Once, into a cache outside the repository (``~/.cache/transcribe-bench/``, or ``$TRANSCRIBE_BENCH_CACHE``,
or ``--cache``), it builds a random-weight FastConformer-TDT model with Parakeet-TDT-0.6B-v2's architecture
(24 layers, d_model 1024, 8 heads, ff ×4, dw_striding ×8 with 256 channels, conv kernel 9, 128 mel features;
2-layer LSTM prediction net 640, joint 640, SentencePiece BPE vocabulary 1024, durations 0–4), saves it as a
``.nemo`` (2.4 GB), extracts its weights for the ``torch.load`` floor, and makes speech-like audio with
espeak-ng. Every run installs the ``.nemo`` into a fresh temporary models folder with the real setup script
(``setup_local_models.py --from``) and then measures, each step in a fresh Python process:

* loading: plain ``torch.load`` of the weights (the floor), ``ASRModel.restore_from(.nemo)``, and the store's
  ``ModelStore.load("parakeet")`` (first load after install, then a second start): wall time, peak RSS,
  RSS right after loading and after a first short transcription;
* the app: ``transcribe_ui.py --preload`` from start to the page answering and the model status "ready";
* transcription: the app's ``transcribe_file`` against a bare ``model.transcribe`` on the same
  files, interleaved in one process, with the same attention settings; real-time factor;
* on a GPU (or with ``--check``): RTFx of ``transcribe_file`` on 10- and 60-minute files in float32 and under
  bfloat16 autocast (one request each) with its peak GPU memory, and RTFx of a bare ``model.transcribe`` over a
  batch of 64 one-minute files sorted by length (``batch_size=64``: the Open ASR leaderboard's way of measuring).

``--check`` measures each load once and leaves out the app start (the CUDA machine has no Gradio); ``--tiny``
swaps the Parakeet-shaped model for the tests' tiny one and the audio for short files, so that every step runs on
a small CPU in a minute or two (``bench/gpu_check.sh --dry-run``); ``--prepare-only`` builds the model and the
audio into the cache and stops.

Timings are wall-clock on a warm page cache; ratios are taken within the same run. Weights are random, so the
"transcripts" are nonsense, but the amount of computation per second of audio is the real model's.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
TESTS_DIR = PROJECT_DIR / "tests"
for _p in (str(PROJECT_DIR), str(TESTS_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

CACHE_ENV = "TRANSCRIBE_BENCH_CACHE"
DEFAULT_CACHE = Path.home() / ".cache" / "transcribe-bench"
MODEL_FORMAT = 1  # bump when the built model changes, so cached copies are rebuilt
RESULT_TAG = "BENCH_RESULT "
SAMPLE_RATE = 16000
GB = 1e9
BATCH_FILES = 64  # the leaderboard-style batch: this many files, batch_size this many

# ---------------------------------------------------------------------------------------------------------------
# The model


def parakeet_v2_config(tokenizer_dir: str) -> dict:
    """A FastConformer-TDT config with Parakeet-TDT-0.6B-v2's architecture (from the published model card/config)."""
    from tiny_models import TDT_DURATIONS, tiny_parakeet_config

    cfg = tiny_parakeet_config(tokenizer_dir, d_model=1024, n_layers=24)
    cfg["model_defaults"] = {"enc_hidden": 1024, "pred_hidden": 640, "joint_hidden": 640}
    cfg["preprocessor"].update(features=128, dither=1e-5)
    cfg["encoder"].update(feat_in=128, n_heads=8, subsampling_conv_channels=256, ff_expansion_factor=4,
                          conv_kernel_size=9, dropout=0.1, dropout_pre_encoder=0.1, dropout_emb=0.0, dropout_att=0.1)
    cfg["decoder"]["prednet"].update(pred_hidden=640, pred_rnn_layers=2, dropout=0.2)
    cfg["joint"]["jointnet"].update(joint_hidden=640, dropout=0.2)
    cfg["joint"]["num_extra_outputs"] = len(TDT_DURATIONS)
    cfg["decoding"]["greedy"] = {"max_symbols": 10}
    return cfg


def _corpus(lines: int = 40000, seed: int = 0) -> list[str]:
    """Generated English-like text (pseudo-words from syllables) rich enough for a 1024-piece BPE vocabulary."""
    import random

    rng = random.Random(seed)
    onsets = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "y", "z",
              "bl", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gr", "pl", "pr", "sh", "sl", "sp", "st", "th", "tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou", "y"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "ng", "st", "ck", "th"]
    words = ["".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(rng.randint(1, 3)))
             for _ in range(6000)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(5, 15))) for _ in range(lines)]


def build_model(out: Path, tiny: bool = False) -> None:
    """Build the random-weight Parakeet-shaped model (``tiny``: the tests' tiny one) and save it as ``out`` (a
    .nemo), atomically."""
    import torch
    from nemo.collections.asr.models import EncDecRNNTBPEModel
    from omegaconf import OmegaConf

    from tiny_models import train_tiny_tokenizer

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        if tiny:
            from tiny_models import build_tiny_parakeet

            build_tiny_parakeet(Path(tmp) / out.name)
            os.replace(Path(tmp) / out.name, out)
            return
        tok_dir = train_tiny_tokenizer(Path(tmp) / "tokenizer", corpus=_corpus(), vocab_size=1024)
        model = EncDecRNNTBPEModel(cfg=OmegaConf.create(parakeet_v2_config(str(tok_dir))))
        params = sum(p.numel() for p in model.parameters())
        print(f"built: {params / 1e6:.1f} M parameters, vocabulary {model.tokenizer.vocab_size}", flush=True)
        partial = Path(tmp) / out.name
        model.save_to(str(partial))
        os.replace(partial, out)


def extract_weights(nemo: Path, out: Path) -> None:
    """Extract ``model_weights.ckpt`` from ``nemo`` to ``out`` (for the plain ``torch.load`` floor)."""
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(nemo, "r:") as tar:
        member = next(m for m in tar.getmembers() if Path(m.name).name == "model_weights.ckpt")
        with tar.extractfile(member) as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 16 << 20)
    os.replace(partial, out)


# ---------------------------------------------------------------------------------------------------------------
# Audio


def make_speech(out: Path, seconds: float) -> Path:
    """A 16 kHz mono WAV of ``seconds`` of speech-like audio: espeak-ng sentences with pauses, looped."""
    import numpy as np
    import soundfile

    if out.exists():
        return out
    base = out.parent / "speech-base.wav"
    if not base.exists():
        texts = [
            "The meeting started at nine with a short review of last week's numbers.",
            "Sales in the northern region grew by twelve percent, mostly from new customers.",
            "We still need a plan for the delayed shipment and the support tickets it created.",
            "Please send the draft to the whole team before Friday so everyone can comment.",
            "After lunch we will walk through the new onboarding process step by step.",
            "If anything is unclear, write it down and we will answer it at the end.",
            "The budget for the next quarter has not been approved yet.",
            "Thank you all for coming, and see you at the same time next week.",
        ]
        pieces = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, text in enumerate(texts):
                wav = Path(tmp) / f"{i}.wav"
                try:
                    subprocess.run(["espeak-ng", "-s", "160", "-w", str(wav), text], check=True, capture_output=True)
                    data, rate = soundfile.read(wav, dtype="float32")
                except (OSError, subprocess.CalledProcessError):  # no espeak-ng: modulated noise
                    rate = SAMPLE_RATE
                    t = np.arange(int(3 * rate)) / rate
                    data = (np.random.default_rng(i).standard_normal(t.size) * 0.1 * (1 + np.sin(2 * np.pi * 3 * t)))
                if rate != SAMPLE_RATE:
                    import soxr

                    data = soxr.resample(data, rate, SAMPLE_RATE)
                pieces += [data.astype(np.float32), np.zeros(int(0.4 * SAMPLE_RATE), np.float32)]
        soundfile.write(base, np.concatenate(pieces), SAMPLE_RATE, subtype="PCM_16")
    speech, _ = soundfile.read(base, dtype="float32")
    n = int(seconds * SAMPLE_RATE)
    audio = np.tile(speech, n // len(speech) + 1)[:n]
    partial = out.with_name(out.stem + ".partial.wav")
    soundfile.write(partial, audio, SAMPLE_RATE, subtype="PCM_16")
    os.replace(partial, out)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Measuring inside a child process


def memory() -> dict[str, int]:
    """This process's peak RSS (VmHWM), RSS, and RSS split into anonymous and file-backed pages, in bytes."""
    fields = {"VmHWM": "peak", "VmRSS": "rss", "RssAnon": "anon", "RssFile": "file"}
    out: dict[str, int | None] = dict.fromkeys(fields.values())  # None where this kernel does not say
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in fields:
                out[fields[key]] = int(value.split()[0]) * 1024
    return out


def gpu_peak(device: str) -> float | None:
    """Peak GPU memory allocated by this process so far, in bytes (None on a CPU)."""
    if not device.startswith("cuda"):
        return None
    import torch

    return float(torch.cuda.max_memory_allocated())


def sync(device: str) -> None:
    """Wait for queued GPU work so that wall times include it."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def first_transcription(model: Any, clip: Path) -> float:
    """Seconds to transcribe a short clip right after loading: every weight is used (mapped ones are read in)."""
    started = time.perf_counter()
    model.transcribe([str(clip)], batch_size=1, verbose=False)
    return time.perf_counter() - started


def child_floor(a: dict) -> dict:
    """Plain ``torch.load`` of the extracted weights: the floor every loader is compared with."""
    started = time.perf_counter()
    import torch

    imported = time.perf_counter()
    before = memory()
    state = torch.load(a["weights"], map_location=a["device"], weights_only=True)
    sync(a["device"])
    loaded = time.perf_counter()
    after = memory()
    tensors = sum(t.numel() * t.element_size() for t in state.values())
    return {"import_s": imported - started, "load_s": loaded - imported, "before": before, "after_load": after,
            "tensor_bytes": tensors, "gpu_peak": gpu_peak(a["device"])}


def _import_nemo() -> float:
    started = time.perf_counter()
    importlib.import_module("model_store")  # the offline switches first, as in the app
    importlib.import_module("nemo.collections.asr.models")
    return time.perf_counter() - started


def child_restore_from(a: dict) -> dict:
    """NeMo's own ``ASRModel.restore_from(.nemo)``."""
    import_s = _import_nemo()
    from nemo.collections.asr.models import ASRModel

    before = memory()
    started = time.perf_counter()
    model = ASRModel.restore_from(a["nemo"], map_location=a["device"])
    model.eval()
    sync(a["device"])
    load_s = time.perf_counter() - started
    after = memory()
    first_s = first_transcription(model, Path(a["clip"]))
    return {"import_s": import_s, "load_s": load_s, "before": before, "after_load": after, "first_s": first_s,
            "after_use": memory(), "gpu_peak": gpu_peak(a["device"])}


def child_store(a: dict) -> dict:
    """The app's loader, ``ModelStore.load("parakeet")`` (validation, hashing check, fast restore).

    On a CPU the weights are then mapped in by a background thread; its time after ``load_model`` returned
    is measured apart (``prefault_s``), and the first transcription starts once it is done.
    """
    import_s = _import_nemo()
    from offline_transcribe import ModelStore
    from offline_transcribe.loaders import nemo_archive

    before = memory()
    started = time.perf_counter()
    model = ModelStore(a["models_dir"], device=a["device"]).load("parakeet").model
    sync(a["device"])
    load_s = time.perf_counter() - started
    after = memory()
    nemo_archive.wait_for_prefault()
    prefault_s = time.perf_counter() - started - load_s
    mapped = memory()
    first_s = first_transcription(model, Path(a["clip"]))
    return {"import_s": import_s, "load_s": load_s, "before": before, "after_load": after, "prefault_s": prefault_s,
            "after_prefault": mapped, "first_s": first_s, "after_use": memory(), "gpu_peak": gpu_peak(a["device"])}


@contextlib.contextmanager
def _local_attention(model: Any, enabled: bool) -> Iterator[None]:
    """The attention settings the app uses above 8 min, for the bare run (same code: nemo_tdt.long_audio_mode)."""
    from offline_transcribe import LongAudioPolicy
    from offline_transcribe.backends.nemo_tdt import long_audio_mode

    with long_audio_mode(model, LongAudioPolicy().local_attention_context, enabled=enabled):
        yield


class Stopwatch:
    """Wall time and this process's CPU time (all threads, user + system) of a block."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, _cpu_seconds() - self._cpu


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _bare(model: Any, wav: Path, seconds: float, autocast: Any = None) -> tuple[Stopwatch, str]:
    from offline_transcribe import LongAudioPolicy

    local = seconds > LongAudioPolicy().local_attention_above_s
    with _local_attention(model, local), autocast or contextlib.nullcontext(), Stopwatch() as watch:
        hyps = model.transcribe([str(wav)], batch_size=1, timestamps=True, verbose=False)
    hyp = hyps[0][0] if isinstance(hyps[0], list) else hyps[0]
    words = hyp.timestamp.get("word", []) if isinstance(hyp.timestamp, dict) else []
    return watch, " ".join(w["word"] for w in words)


def _engine(wav: Path, store: Any, autocast: Any = None) -> tuple[Stopwatch, str, Any]:
    from offline_transcribe import transcribe_file

    with autocast or contextlib.nullcontext(), Stopwatch() as watch:
        transcript = transcribe_file(wav, "parakeet", store=store)
    return watch, transcript.text, transcript


def child_transcribe(a: dict) -> dict:
    """Engine against bare ``model.transcribe`` on the same files, in one process with one model.

    Runs alternate in pairs (bare then engine, then engine then bare, …) so that a slow spell on a shared
    machine hits both sides; the ratio reported is the median of the pairs' ratios.
    """
    _import_nemo()
    from offline_transcribe import ModelStore

    store = ModelStore(a["models_dir"], device=a["device"])
    model = store.load("parakeet").model
    _bare(model, Path(a["clip"]), 5.0)  # warm-up, both paths
    _engine(Path(a["clip"]), store)
    rows = []
    for wav, seconds, n_pairs in a["audio"]:
        pairs: list[dict[str, float]] = []
        same = True
        for i in range(n_pairs):
            pair: dict[str, float] = {}
            for step in ("bare", "engine") if i % 2 == 0 else ("engine", "bare"):
                if step == "bare":
                    watch, bare_words = _bare(model, Path(wav), seconds)
                else:
                    watch, engine_words, _ = _engine(Path(wav), store)
                pair[step], pair[f"{step}_cpu"] = watch.wall, watch.cpu
                print(f"{seconds:.0f} s audio, {step}: {watch.wall:.1f} s wall, {watch.cpu:.1f} s CPU", flush=True)
            same = same and bare_words == engine_words
            pairs.append(pair)
        rows.append({"seconds": seconds, "pairs": pairs, "same_words": same, "local_attention": seconds > 480,
                     "engine_own_s": _engine_own_work(model, Path(wav), seconds)})
    return {"rows": rows, "threads": _threads()}


def _engine_own_work(model: Any, wav: Path, seconds: float) -> float:
    """Seconds of what the engine does besides ``model.transcribe``: decoding the file, the silence check and,
    for long audio, switching the attention in and out (measured on their own: steady under machine load)."""
    from offline_transcribe.audio import SAMPLE_RATE as RATE
    from offline_transcribe.audio import is_silent, load_audio

    with Stopwatch() as watch:
        is_silent(load_audio(wav, RATE))
        with _local_attention(model, seconds > 480):
            pass
    return watch.wall


def bf16_autocast(device: str) -> Any:
    """``torch.autocast`` to bfloat16 on ``device``'s kind (what "bf16" means in the GPU rows)."""
    import torch

    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def bf16_error(device: str) -> str | None:
    """Why an LSTM (Parakeet's prediction network) cannot run under bfloat16 autocast on ``device``, or None when
    it can: oneDNN on a CPU without bfloat16 support refuses it, which ends the dry run, not a CUDA run."""
    import torch

    lstm = torch.nn.LSTM(8, 8, batch_first=True).to(device)
    try:
        with torch.inference_mode(), bf16_autocast(device):
            lstm(torch.zeros(1, 2, 8, device=device))
    except RuntimeError as exc:
        return str(exc).splitlines()[0]
    return None


def child_gpu_rtfx(a: dict) -> dict:
    """The GPU rows: RTFx of the engine (one request per file) in float32 and under bfloat16 autocast with its peak
    GPU memory, and of a bare ``model.transcribe`` over a batch of files sorted by length (longest first),
    ``batch_size`` = the number of files, as the Open ASR leaderboard measures."""
    import torch

    _import_nemo()
    from offline_transcribe import ModelStore

    store = ModelStore(a["models_dir"], device=a["device"])
    model = store.load("parakeet").model
    _engine(Path(a["clip"]), store)  # warm-up
    bf16 = bf16_error(a["device"])
    dtypes = ("float32",) if bf16 else ("float32", "bfloat16")
    rows = []
    for wav, seconds in a["audio"]:
        for dtype in dtypes:
            autocast = bf16_autocast(a["device"]) if dtype == "bfloat16" else None
            watch, _, transcript = _engine(Path(wav), store, autocast)
            rows.append({"seconds": seconds, "dtype": dtype, "wall_s": watch.wall,
                         "peak_gpu_mb": transcript.peak_gpu_memory_mb, "words": len(transcript.words),
                         "notes": transcript.notes})
            print(rows[-1], flush=True)
    files = sorted(a["batch"], key=lambda f: -f[1])  # longest first: equal lengths share a batch, the peak comes first
    paths, audio_s = [f[0] for f in files], sum(f[1] for f in files)
    model.transcribe(paths[-8:], batch_size=8, verbose=False)  # warm-up
    batch = []
    for dtype in dtypes:
        if a["device"].startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        with bf16_autocast(a["device"]) if dtype == "bfloat16" else contextlib.nullcontext(), Stopwatch() as watch:
            hyps = model.transcribe(paths, batch_size=len(paths), verbose=False)
            sync(a["device"])
        texts = [h[0].text if isinstance(h, list) else h.text for h in hyps]
        peak = gpu_peak(a["device"])
        batch.append({"dtype": dtype, "files": len(paths), "audio_s": audio_s, "wall_s": watch.wall,
                      "peak_gpu_mb": None if peak is None else peak / 2**20,
                      "words": sum(len(t.split()) for t in texts)})
        print(batch[-1], flush=True)
    return {"rows": rows, "batch": batch, "bf16_error": bf16}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def child_build(a: dict) -> dict:
    """Build the model (in a child, so the parent never holds its memory)."""
    import model_store  # noqa: F401  (offline switches first)

    build_model(Path(a["out"]), tiny=a.get("tiny", False))
    return {}


def child_build_canary(a: dict) -> dict:
    """The tests' tiny Canary-shaped SALM folder: the app refuses to start unless both models are installed."""
    import model_store  # noqa: F401  (offline switches first)
    from tiny_models import build_tiny_canary, build_tiny_parakeet

    out = Path(a["out"])
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        asr = Path(tmp) / "tiny_parakeet.nemo"
        build_tiny_parakeet(asr)
        build_tiny_canary(Path(tmp) / "canary", asr)
        os.replace(Path(tmp) / "canary", out)
    return {}


CHILDREN: dict[str, Callable[[dict], dict]] = {
    "build": child_build,
    "build_canary": child_build_canary,
    "floor": child_floor,
    "restore_from": child_restore_from,
    "store": child_store,
    "transcribe": child_transcribe,
    "gpu_rtfx": child_gpu_rtfx,
}


def child_main(name: str, args_json: str, children: dict[str, Callable[[dict], dict]] | None = None) -> None:
    """Entry point of a measuring child: run one step and print its result as one JSON line."""
    result = (children or CHILDREN)[name](json.loads(args_json))
    result.setdefault("peak", memory()["peak"])
    print(RESULT_TAG + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Running children from the parent


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one run measures: the model, the audio lengths, the repetitions, which rows."""

    tiny: bool = False  # the tests' tiny model instead of the Parakeet-shaped one
    transcribe_s: tuple[int, ...] = (60, 600)  # engine against bare transcribe
    pairs: int | None = None  # engine/bare pairs per length (None: 3 up to 60 s, else 2)
    gpu_s: tuple[int, ...] = ()  # the GPU rows' single requests (float32 and bf16)
    batch_s: tuple[float, float] | None = None  # shortest and longest file of the batch (None: no batch row)
    load_repeats: int = 3  # the floor and the store's later start, alternately
    app: bool = True  # time transcribe_ui.py --preload

    def pairs_for(self, seconds: float) -> int:
        return self.pairs or (3 if seconds <= 60 else 2)

    def batch_lengths(self) -> list[float]:
        """``BATCH_FILES`` lengths spread evenly over ``batch_s``, to 0.1 s."""
        if self.batch_s is None:
            return []
        lo, hi = self.batch_s
        return [round(lo + (hi - lo) * i / (BATCH_FILES - 1), 1) for i in range(BATCH_FILES)]


def plan_for(device: str, quick: bool = False, check: bool = False, tiny: bool = False) -> Plan:
    """The plan for the command line's options (see the module doc)."""
    gpu_rows = device.startswith("cuda") or check
    if tiny:  # every step, on a small CPU in a minute or two; 26 min takes the long-audio windows
        return Plan(tiny=True, transcribe_s=(20, 60), pairs=1, gpu_s=(120, 1560) if gpu_rows else (),
                    batch_s=(2.0, 4.0) if gpu_rows else None, load_repeats=1, app=not check)
    if quick:
        return Plan(transcribe_s=(20, 60), pairs=1, gpu_s=(60, 120) if gpu_rows else (),
                    batch_s=(20.0, 40.0) if gpu_rows else None, load_repeats=1, app=not check)
    return Plan(gpu_s=(600, 3600) if gpu_rows else (), batch_s=(45.0, 75.0) if gpu_rows else None,
                load_repeats=1 if check else 3, app=not check)


class Bench:
    """The parent: prepares files, runs each step in a fresh process, and prints the tables."""

    script = Path(__file__).resolve()  # whose ``--child STEP`` runs the steps

    def __init__(self, cache: Path, device: str, plan: Plan):
        self.cache, self.device, self.plan = cache, device, plan
        self.logs = cache / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def run_child(self, name: str, args: dict, label: str | None = None, timeout: float = 3600) -> dict:
        """Run the step ``name`` in a fresh interpreter; its output goes to ``logs/<label>.log``."""
        label = label or name
        log_path = self.logs / f"{label}.log"
        cmd = [sys.executable, str(self.script), "--child", name, json.dumps(args)]
        print(f"  … {label}", flush=True)
        with open(log_path, "w") as log:
            proc = subprocess.run(cmd, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        text = log_path.read_text(errors="replace")
        lines = [line for line in text.splitlines() if line.startswith(RESULT_TAG)]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"step {label} failed (status {proc.returncode}); see {log_path}:\n{text[-3000:]}")
        return json.loads(lines[-1][len(RESULT_TAG):])

    # -- preparation ------------------------------------------------------------------------------------------

    def prepare(self) -> dict[str, Path]:
        """The cached model, its extracted weights and the audio files (built on first use)."""
        shape = "tiny" if self.plan.tiny else "v2-shaped"
        model_dir = self.cache / f"parakeet-{shape}-{MODEL_FORMAT}"
        model_dir.mkdir(parents=True, exist_ok=True)
        nemo = model_dir / f"parakeet_{shape.replace('-', '_')}.nemo"
        if not nemo.exists():
            print(f"Building the Parakeet-TDT-0.6B-v2-shaped model ({shape}) once into {nemo}…", flush=True)
            self.run_child("build", {"out": str(nemo), "tiny": self.plan.tiny}, timeout=7200)
        weights = model_dir / "model_weights.ckpt"
        if not weights.exists():
            extract_weights(nemo, weights)
        canary = self.cache / "tiny-canary-placeholder"
        if self.plan.app and not canary.exists():
            self.run_child("build_canary", {"out": str(canary)})
        audio_dir = self.cache / "audio"
        audio_dir.mkdir(exist_ok=True)
        files = {"nemo": nemo, "weights": weights, "canary": canary,
                 "clip": make_speech(audio_dir / "speech-5s.wav", 5)}
        for seconds in (*self.plan.transcribe_s, *self.plan.gpu_s):
            files[f"audio{seconds}"] = make_speech(audio_dir / f"speech-{seconds}s.wav", seconds)
        for i, seconds in enumerate(self.plan.batch_lengths()):
            files[f"batch{i}"] = make_speech(audio_dir / f"batch-{seconds:.1f}s.wav", seconds)
        return files

    def install(self, nemo: Path, canary: Path) -> Path:
        """A fresh temporary models folder with ``nemo`` installed by the real setup script.

        The app will not start unless Canary is installed too, so the tiny test SALM stands in for it
        (``--preload`` loads only Parakeet, the default model).
        """
        root = Path(tempfile.mkdtemp(prefix="bench-models-", dir=self.cache)) / "local_models"
        setup = [sys.executable, str(PROJECT_DIR / "setup_local_models.py"), "--models-dir", str(root),
                 "--no-check-load"]
        started = time.perf_counter()
        with open(self.logs / "setup.log", "w") as log:
            subprocess.run([*setup, "--only", "parakeet", "--from", str(nemo)], cwd=PROJECT_DIR, stdout=log,
                           stderr=subprocess.STDOUT, check=True)
            print(f"  installed with setup_local_models.py --from in {time.perf_counter() - started:.1f} s → {root}")
            if self.plan.app:
                subprocess.run([*setup, "--only", "canary", "--from", str(canary)], cwd=PROJECT_DIR, stdout=log,
                               stderr=subprocess.STDOUT, check=True)
        return root

    # -- the app ----------------------------------------------------------------------------------------------

    def app_start(self, models_dir: Path) -> dict:
        """Start ``transcribe_ui.py --preload``; time until the page answers and the model status says ready."""
        script = PROJECT_DIR / "transcribe_ui.py"
        if not script.exists():
            return {"error": "transcribe_ui.py does not exist yet"}
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}/"
        log_path = self.logs / "app.log"
        tmp = Path(tempfile.mkdtemp(prefix="bench-app-", dir=self.cache))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "GRADIO_TEMP_DIR": str(tmp / "gradio")}
        cmd = [sys.executable, str(script), "--preload", "--models-dir", str(models_dir), "--host", "127.0.0.1",
               "--port", str(port)]
        started = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        result: dict[str, Any] = {}
        client = None
        try:
            deadline = started + 600
            while time.perf_counter() < deadline and "ready_s" not in result:
                if proc.poll() is not None:
                    tail = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
                    said = next((line for line in tail if line.startswith(("❌", "✗", "Traceback"))),
                                tail[-1] if tail else "no output")
                    return {"error": f"the app exited with status {proc.returncode} ({said}); see {log_path}"}
                if "page_s" not in result:
                    with (contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, OSError),
                          urllib.request.urlopen(url, timeout=2) as response):
                        if response.status == 200:
                            result["page_s"] = time.perf_counter() - started
                else:
                    status = self._app_status(url, log_path, client)
                    client = status.get("client", client)
                    if "ready on" in status.get("text", ""):
                        result["ready_s"] = time.perf_counter() - started
                        result["status_via"] = status["via"]
                time.sleep(0.2)
            if "ready_s" not in result:
                result["error"] = "the model status did not become ready within 600 s"
            result["peak"] = _vm_hwm(proc.pid)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                if proc.poll() is not None:
                    break
                proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(20)
            shutil.rmtree(tmp, ignore_errors=True)
        return result

    @staticmethod
    def _app_status(url: str, log_path: Path, client: Any) -> dict:
        """The Parakeet row of the page's model-status table (through its API), or the store's log line."""
        try:
            from gradio_client import Client

            client = client or Client(url, verbose=False)
            table = str(client.predict(api_name="/model_status"))
            row = next((line for line in table.splitlines() if "Parakeet" in line), "")
            return {"text": row, "via": "the page's model_status API", "client": client}
        except Exception:  # no gradio_client, or the API differs: the store logs "… ready on CPU …"
            lines = [line for line in log_path.read_text(errors="replace").splitlines() if "ready on" in line]
            return {"text": lines[-1] if lines else "", "via": "the app's log", "client": client}

    # -- the whole run ----------------------------------------------------------------------------------------

    def run(self) -> dict:
        """Every step; returns the raw results (also written to ``logs/results.json``)."""
        t0 = time.perf_counter()
        print("Preparing (cached after the first run)…", flush=True)
        files = self.prepare()
        from offline_transcribe.loaders import nemo_archive

        weights_size = nemo_archive.weights_bytes(files["nemo"])
        models_dir = self.install(files["nemo"], files["canary"])
        try:
            results = self._measure(files, models_dir)
        finally:
            shutil.rmtree(models_dir.parent, ignore_errors=True)
        results.update(device=self.device, weights_bytes=weights_size, nemo_bytes=files["nemo"].stat().st_size,
                       plan=dataclasses.asdict(self.plan), total_s=time.perf_counter() - t0, machine=machine())
        (self.logs / "results.json").write_text(json.dumps(results, indent=1))
        return results

    def _measure(self, files: dict[str, Path], models_dir: Path) -> dict:
        common = {"device": self.device, "clip": str(files["clip"])}
        floor_args = {**common, "weights": str(files["weights"])}
        store_args = {**common, "models_dir": str(models_dir)}
        results: dict[str, Any] = {"floor": [], "store_warm": []}
        print("Measuring (each step in a fresh process)…", flush=True)
        results["floor"].append(self.run_child("floor", floor_args, "floor-1"))
        results["store_first"] = self.run_child("store", store_args, "store_first")
        results["restore_from"] = self.run_child("restore_from", {**common, "nemo": str(files["nemo"])})
        for i in range(self.plan.load_repeats):  # alternate, so a busy spell on a shared machine hits both
            results["store_warm"].append(self.run_child("store", store_args, f"store_warm-{i + 1}"))
            results["floor"].append(self.run_child("floor", floor_args, f"floor-{i + 2}"))
        if self.plan.app:
            print("  … app start", flush=True)
            results["app"] = self.app_start(models_dir)
        audio = [(str(files[f"audio{s}"]), float(s), self.plan.pairs_for(s)) for s in self.plan.transcribe_s]
        results["transcribe"] = self.run_child("transcribe", {**store_args, "audio": audio})
        if self.plan.gpu_s:
            gpu_audio = [(str(files[f"audio{s}"]), float(s)) for s in self.plan.gpu_s]
            batch = [(str(files[f"batch{i}"]), s) for i, s in enumerate(self.plan.batch_lengths())]
            results["gpu_rtfx"] = self.run_child("gpu_rtfx", {**store_args, "audio": gpu_audio, "batch": batch})
        return results


def _vm_hwm(pid: int) -> int | None:
    """Peak RSS of another process (VmHWM), in bytes."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def machine() -> dict:
    """CPU model and count, memory, load average: the context of the numbers."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    mem = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = int(next(line.split()[1] for line in f if line.startswith("MemTotal"))) * 1024
    import torch

    gpu = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = f"{props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem, "loadavg": os.getloadavg(),
            "python": sys.version.split()[0], "torch": torch.__version__, "gpu": gpu}


# ---------------------------------------------------------------------------------------------------------------
# Report


def _gb(n: float | None) -> str:
    return "—" if n is None else f"{n / GB:.2f}"


def _x(n: float | None, base: float | None) -> str:
    return "—" if n is None or not base else f"{n / base:.2f}×"


def _median_run(runs: list[dict]) -> dict:
    """The run with the median load time (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda m: m["load_s"])
    return ordered[(len(ordered) - 1) // 2]


def _load_times(runs: list[dict]) -> str:
    return ", ".join(f"{m['load_s']:.2f}" for m in runs)


def report(r: dict) -> str:
    """The results as Markdown tables, with each target marked met or not."""
    w = r["weights_bytes"]
    floor = _median_run(r["floor"])
    warm = _median_run(r["store_warm"])
    first = r["store_first"]
    floor_s = floor["load_s"]
    rows = [
        (f"plain `torch.load` of the weights: the floor (median of {len(r['floor'])}: "
         f"{_load_times(r['floor'])} s)", floor),
        ("`ASRModel.restore_from(.nemo)`", r["restore_from"]),
        ("`ModelStore.load(\"parakeet\")`, first load after install", first),
        (f"`ModelStore.load(\"parakeet\")`, later start (median of {len(r['store_warm'])}: "
         f"{_load_times(r['store_warm'])} s)", warm),
    ]
    lines = [
        f"Weights: {w / GB:.2f} GB (`model_weights.ckpt` inside a {r['nemo_bytes'] / GB:.2f} GB `.nemo`); "
        f"device: {r['device']}. Each step runs in a fresh process; importing NeMo is not part of the load time.",
        "",
        "#### Loading: time",
        "",
        "| step | load s | × floor | weights mapped in afterwards (background) s | first 5 s transcription s "
        "| import s |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        lines.append(f"| {name} | {m['load_s']:.2f} | {_x(m['load_s'], floor_s)} | {_seconds(m.get('prefault_s'))} "
                     f"| {_seconds(m.get('first_s'))} | {m['import_s']:.1f} |")
    lines += [
        "",
        "#### Loading: memory (RSS = anonymous + file-backed pages; file-backed: shared libraries, and for the "
        "store the memory-mapped weights, page cache the kernel can drop and read again)",
        "",
        "| step | RSS before load (after imports) GB | peak RSS during load GB | × weights "
        "| peak − RSS before, × weights | RSS when loaded GB (anon + file) | × weights "
        "| RSS with every weight in memory GB (anon + file) | × weights |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        before, loaded = m["before"], m["after_load"]
        full = m.get("after_use", loaded)
        lines.append(f"| {name.split(' (median')[0]} | {_gb(before['rss'])} | {_gb(loaded['peak'])} "
                     f"| {_x(loaded['peak'], w)} | {_x(loaded['peak'] - before['rss'], w)} "
                     f"| {_rss(loaded)} | {_x(loaded['rss'], w)} | {_rss(full)} | {_x(full['rss'], w)} |")
    if r["device"].startswith("cuda"):
        lines += ["", "| step | peak GPU memory GB |", "|---|---|"]
        lines += [f"| {name.split(' (median')[0]} | {_gb(m.get('gpu_peak'))} |" for name, m in rows]
    app = r.get("app", {"error": "not measured in this run (--check)"})
    lines += ["", "#### App start (`transcribe_ui.py --preload`, from launching Python)", ""]
    if "error" in app:
        lines.append(f"n/a: {app['error']}")
    else:
        lines.append(
            f"Page answering after **{app['page_s']:.1f} s**; Parakeet's model status \"ready\" after "
            f"**{app['ready_s']:.1f} s** (read through {app['status_via']}); app peak RSS {_gb(app.get('peak'))} GB."
        )
    t = r["transcribe"]
    lines += [
        "",
        f"#### Transcription ({t['threads']} torch threads; one process, one loaded model; engine and bare "
        "alternate in pairs; medians)",
        "",
        "| audio | attention (both sides) | pairs | bare `model.transcribe` s | `transcribe_file` s "
        "| engine / bare, wall | engine / bare, CPU time | engine's own work s (÷ bare) | RTF (engine) "
        "| RTFx (engine) | same words |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for row in t["rows"]:
        pairs = row["pairs"]
        bare = statistics.median(p["bare"] for p in pairs)
        eng = statistics.median(p["engine"] for p in pairs)
        ratio = statistics.median(p["engine"] / p["bare"] for p in pairs)
        cpu_ratio = statistics.median(p["engine_cpu"] / p["bare_cpu"] for p in pairs)
        ratios.append((ratio, cpu_ratio))
        attention = "local [256, 256]" if row["local_attention"] else "full"
        lines.append(
            f"| {_duration(row['seconds'])} | {attention} | {len(pairs)} | {bare:.1f} | {eng:.1f} | {ratio:.3f}× "
            f"| {cpu_ratio:.3f}× | {row['engine_own_s']:.2f} ({row['engine_own_s'] / bare:.3f}) "
            f"| {eng / row['seconds']:.3f} | {row['seconds'] / eng:.2f}× "
            f"| {'yes' if row['same_words'] else 'NO'} |"
        )
    if "gpu_rtfx" in r:
        lines += ["", f"#### {r['device']}: `transcribe_file` RTFx, one request per file (bf16: under "
                  "`torch.autocast(bfloat16)`)", "",
                  "| audio | dtype | wall s | RTFx | peak GPU memory MB | words emitted | notes |",
                  "|---|---|---|---|---|---|---|"]
        for row in r["gpu_rtfx"]["rows"]:
            lines.append(f"| {_duration(row['seconds'])} | {row['dtype']} | {row['wall_s']:.2f} "
                         f"| {row['seconds'] / row['wall_s']:.0f}× | {_mb(row['peak_gpu_mb'])} | {row['words']} "
                         f"| {' '.join(row['notes'])} |")
        if r["gpu_rtfx"].get("bf16_error"):
            lines += ["", f"No bf16 rows: bfloat16 autocast fails on {r['device']} ({r['gpu_rtfx']['bf16_error']})."]
        lines += ["", f"#### {r['device']}: bare `model.transcribe` over a batch of files sorted by length "
                  "(`batch_size` = the number of files: the Open ASR leaderboard's way)", "",
                  "| files | audio min | dtype | wall s | RTFx | peak GPU memory MB | words emitted |",
                  "|---|---|---|---|---|---|---|"]
        for row in r["gpu_rtfx"]["batch"]:
            lines.append(f"| {row['files']} | {row['audio_s'] / 60:.1f} | {row['dtype']} | {row['wall_s']:.2f} "
                         f"| {row['audio_s'] / row['wall_s']:.0f}× | {_mb(row['peak_gpu_mb'])} | {row['words']} |")
    stores = [first, *r["store_warm"]]
    load_peak = max(m["after_load"]["peak"] for m in stores)
    load_growth = max(m["after_load"]["peak"] - m["before"]["rss"] for m in stores)
    when_loaded = max(m["after_load"]["rss"] for m in stores)
    when_loaded_growth = max(m["after_load"]["rss"] - m["before"]["rss"] for m in stores)
    full = max(m["after_use"]["rss"] for m in stores)
    full_anon = max(m["after_use"]["anon"] for m in stores)
    checks = [
        ("`load_model` ≤ 1.0× `torch.load` wall time", max(first["load_s"], warm["load_s"]) <= floor_s,
         f"{first['load_s'] / floor_s:.2f}× first load after install, {warm['load_s'] / floor_s:.2f}× later start "
         "(medians)"),
        ("`load_model` peak RSS ≤ 1.3× weights", load_peak <= 1.3 * w,
         f"{load_peak / w:.2f}× (the process, with Python, torch and NeMo loaded); "
         f"{load_growth / w:.2f}× counting only what the load adds"),
        ("`load_model` RSS after load ≤ 1.2× weights", when_loaded <= 1.2 * w,
         f"{when_loaded / w:.2f}× when loaded ({when_loaded_growth / w:.2f}× added by the load); {full / w:.2f}× "
         f"once every weight has been used, of which anonymous memory {full_anon / w:.2f}×"),
        ("engine ≤ 1.05× bare transcribe", max(x for pair in ratios for x in pair) <= 1.05,
         "; ".join(f"{_duration(row['seconds'])}: {wall:.3f}× wall, {cpu:.3f}× CPU, engine's own work "
                   f"{1 + row['engine_own_s'] / statistics.median(p['bare'] for p in row['pairs']):.3f}×"
                   for row, (wall, cpu) in zip(t["rows"], ratios, strict=True))),
    ]
    if "gpu_rtfx" in r and r["device"].startswith("cuda"):
        longest = max(row["seconds"] for row in r["gpu_rtfx"]["rows"])
        rtfx = {row["dtype"]: row["seconds"] / row["wall_s"] for row in r["gpu_rtfx"]["rows"]
                if row["seconds"] == longest}
        checks.append((f"RTFx ≥ 1000 on a {_duration(longest)} file in one request", max(rtfx.values()) >= 1000,
                       ", ".join(f"{dtype}: {x:.0f}×" for dtype, x in rtfx.items())))
    lines += ["", "#### Targets", "", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else 'no'} | {measured} |" for name, ok, measured in checks]
    lines += ["", machine_line(r["machine"]) + f" Whole run {r['total_s'] / 60:.1f} min."]
    return "\n".join(lines)


def machine_line(m: dict) -> str:
    """The machine a run measured, in one sentence."""
    gpu = f"; {m['gpu']}" if m.get("gpu") else ""
    return (f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_bytes'] / 2**30:.0f} GiB RAM{gpu}; Python "
            f"{m['python']}, torch {m.get('torch', '?')}; load average at the end "
            f"{', '.join(f'{x:.1f}' for x in m['loadavg'])}.")


def _mb(n: float | None) -> str:
    return "—" if n is None else f"{n:.0f}"


def _seconds(n: float | None) -> str:
    return "—" if n is None else f"{n:.2f}"


def _rss(m: dict | None) -> str:
    return "—" if not m else f"{_gb(m['rss'])} ({_gb(m['anon'])} + {_gb(m['file'])})"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


# ---------------------------------------------------------------------------------------------------------------
# Command line


def bench_arguments(description: str) -> argparse.ArgumentParser:
    """The options every benchmark script takes: ``--device``, ``--cache``, ``--json`` (and the hidden ``--child``)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--cache", type=Path, default=Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)),
                   help=f"where the built model and audio are kept (default: ${CACHE_ENV} or {DEFAULT_CACHE})")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--check", action="store_true",
                   help="what bench/gpu_check.sh runs: each load once, no app start, the GPU rows on any device")
    p.add_argument("--tiny", action="store_true", help="the tests' tiny models and short audio (a dry run on a CPU)")
    p.add_argument("--prepare-only", action="store_true",
                   help="build the model and the audio into the cache, then stop")
    p.add_argument("--child", nargs=2, metavar=("STEP", "ARGS"), help=argparse.SUPPRESS)
    return p


def run_bench(args: argparse.Namespace, children: dict[str, Callable[[dict], dict]],
              run: Callable[[], dict], render: Callable[[dict], str]) -> int:
    """Run one step (``--child``), or the whole benchmark: ``run()``, then its raw results and ``render``'s tables
    (with ``--prepare-only``, ``run`` only prepares)."""
    if args.child:
        child_main(*args.child, children=children)
        return 0
    results = run()
    if args.prepare_only:
        print("Prepared: the model and the audio are in the cache.")
        return 0
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print()
    print(render(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one of its steps) and print the tables."""
    p = bench_arguments(__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short audio, one repetition: a smoke run")
    args = p.parse_args(argv)
    plan = plan_for(args.device, quick=args.quick, check=args.check, tiny=args.tiny)
    bench = Bench(args.cache.expanduser(), args.device, plan)
    return run_bench(args, CHILDREN, bench.prepare if args.prepare_only else bench.run, report)


if __name__ == "__main__":
    sys.exit(main())
