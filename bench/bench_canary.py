#!/usr/bin/env python
"""Benchmark loading and transcribing with a SALM shaped like Canary-Qwen-2.5B (random weights).

    python bench/bench_canary.py                 # quarter depth: 8 of 32 encoder layers, 7 of 28 LLM layers
    python bench/bench_canary.py --depth 1       # full depth, 2.5 B parameters (10 GB in float32): a big machine
    python bench/bench_canary.py --device cuda   # on a GPU: the store in float32 and in bfloat16 (--half)
    python bench/bench_canary.py --device cuda --check   # what bench/gpu_check.sh runs: bfloat16 only, each load once
    python bench/bench_canary.py --check --tiny  # its dry run on a CPU: the tests' tiny SALM, 20 s of audio

Once, into the cache the Parakeet benchmark uses (``~/.cache/transcribe-bench/``, ``$TRANSCRIBE_BENCH_CACHE`` or
``--cache``), it builds a ``SALM`` with Canary-Qwen-2.5B's layer shapes and random weights: a FastConformer
encoder with canary-1b-flash's widths (d_model 1024, 8 heads, ff ×4, conv kernel 9, 128 mel features, ×8
dw_striding with 256 channels), a 2-layer Conformer modality adapter (1024) projecting to the LLM, and a Qwen3
LLM with Qwen3-1.7B's widths (hidden 2048, MLP 6144, 16 query / 8 key-value heads of 128, vocabulary 151,936,
tied embeddings) wrapped with LoRA (r 128 on q/v). ``--depth N`` divides the encoder's 32 and the LLM's 28
layers by N (default 4, so that it fits a small machine). It is saved in bfloat16, as the published checkpoint
is, as the self-contained folder the store expects, and installed with the real setup script.

Then, each step in a fresh Python process:

* loading: reading the weights into tensors (``safetensors.torch.load``, the floor), NeMo's
  ``SALM.from_pretrained(folder)`` and the store's ``ModelStore.load("canary")``: wall time and memory;
* transcription: the app's ``transcribe_file`` against a bare ``model.generate`` with the same prompt,
  audio file and token budget, alternating in pairs; real-time factor.

Weights are random, so the "transcripts" are nonsense and every answer runs to the token budget (336 new
tokens for a window of up to 40 s); the amount of computation per token is the real model's. So that the figures
can be read against the real model's, the bare run also times the encoder (the perception module, through forward
hooks, synchronised on a GPU) apart from the rest of ``generate`` (the LLM's prefill and decoding), and reports the
tokens emitted and tokens per second of decoding.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load_and_transcribe import (
    GB,
    PROJECT_DIR,
    Bench,
    Plan,
    Stopwatch,
    _gb,
    _load_times,
    _median_run,
    _rss,
    _x,
    bench_arguments,
    gpu_peak,
    machine,
    machine_line,
    make_speech,
    memory,
    parakeet_v2_config,
    run_bench,
    sync,
)

MODEL_FORMAT = 1  # bump when the built model changes, so cached copies are rebuilt
ENCODER_LAYERS, LLM_LAYERS = 32, 28  # canary-1b-flash's encoder, Qwen3-1.7B
QWEN3_1_7B = {
    "vocab_size": 151936,
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
AUDIO_SECONDS = 30  # one Canary window (the engine cuts at 40 s)
TINY_AUDIO_SECONDS = 20
PAIRS = 2  # engine/bare pairs after the warm-up pair (1 with --check)

# ---------------------------------------------------------------------------------------------------------------
# The model


def canary_shaped_config(llm_dir: str, asr_nemo: str) -> dict:
    """Canary-Qwen-2.5B's SALM config (prompt format, adapter, LoRA) on a locally built LLM and ASR model."""
    from tiny_models import tiny_salm_config

    cfg = tiny_salm_config(llm_dir, asr_nemo)
    cfg["perception"]["modality_adapter"].update(feat_in=1024, d_model=1024, n_layers=2, n_heads=8,
                                                  ff_expansion_factor=4)
    cfg["lora"] = {"task_type": "CAUSAL_LM", "r": 128, "lora_alpha": 256, "lora_dropout": 0.01,
                   "target_modules": ["q_proj", "v_proj"]}
    return cfg


def build_canary_shaped(out: Path, depth: int) -> None:
    """Build the random-weight Canary-shaped SALM and write it (bfloat16) as the folder ``out``, atomically."""
    import torch
    from nemo.collections.asr.models import EncDecRNNTBPEModel
    from nemo.collections.speechlm2.models import SALM
    from omegaconf import OmegaConf

    from tiny_models import build_tiny_qwen3, train_tiny_tokenizer, write_salm_folder

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        # The ASR model only lends its preprocessor and encoder: its decoder and tokenizer can stay tiny.
        asr_cfg = parakeet_v2_config(str(train_tiny_tokenizer(Path(tmp) / "tokenizer")))
        asr_cfg["encoder"]["n_layers"] = ENCODER_LAYERS // depth
        asr_nemo = Path(tmp) / "encoder.nemo"
        EncDecRNNTBPEModel(cfg=OmegaConf.create(asr_cfg)).save_to(str(asr_nemo))
        llm_dir = build_tiny_qwen3(Path(tmp) / "llm", shape={**QWEN3_1_7B, "num_hidden_layers": LLM_LAYERS // depth})
        model = SALM(canary_shaped_config(str(llm_dir), str(asr_nemo)))
        params = sum(p.numel() for p in model.parameters())
        print(f"built: {params / 1e9:.2f} B parameters", flush=True)
        partial = Path(tmp) / "canary"
        write_salm_folder(model.to(torch.bfloat16), partial)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(partial, out)


# ---------------------------------------------------------------------------------------------------------------
# Steps (each in its own process)


def _import_nemo() -> float:
    started = time.perf_counter()
    importlib.import_module("model_store")  # the offline switches first, as in the app
    importlib.import_module("nemo.collections.speechlm2.models")
    return time.perf_counter() - started


def _dtype(model: Any) -> str:
    return str(next(model.parameters()).dtype).replace("torch.", "")


def child_build(a: dict) -> dict:
    import model_store  # noqa: F401  (offline switches first)

    out = Path(a["out"])
    if a.get("tiny"):  # the tests' tiny SALM (on the tests' tiny ASR model)
        from tiny_models import build_tiny_canary, build_tiny_parakeet

        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            build_tiny_parakeet(Path(tmp) / "asr.nemo")
            build_tiny_canary(Path(tmp) / "canary", Path(tmp) / "asr.nemo")
            shutil.rmtree(out, ignore_errors=True)
            os.replace(Path(tmp) / "canary", out)
    else:
        build_canary_shaped(out, a["depth"])
    return {}


def child_floor(a: dict) -> dict:
    """Reading the weights file into tensors (``safetensors.torch.load`` of its bytes): the floor.

    (``safetensors.torch.load_file`` alone only maps the file: it returns in milliseconds and reads nothing.)
    """
    started = time.perf_counter()
    from safetensors.torch import load

    imported = time.perf_counter()
    before = memory()
    state = {k: t.to(a["device"]) for k, t in load(Path(a["weights"]).read_bytes()).items()}
    sync(a["device"])
    loaded = time.perf_counter()
    return {"import_s": imported - started, "load_s": loaded - imported, "before": before, "after_load": memory(),
            "tensor_bytes": sum(t.numel() * t.element_size() for t in state.values()),
            "gpu_peak": gpu_peak(a["device"])}


def child_from_pretrained(a: dict) -> dict:
    """NeMo's own ``SALM.from_pretrained(folder)``."""
    import_s = _import_nemo()
    from nemo.collections.speechlm2.models import SALM

    before = memory()
    started = time.perf_counter()
    model = SALM.from_pretrained(a["folder"], map_location=a["device"]).eval()
    sync(a["device"])
    return {"import_s": import_s, "load_s": time.perf_counter() - started, "before": before, "after_load": memory(),
            "dtype": _dtype(model), "gpu_peak": gpu_peak(a["device"])}


def _store(a: dict) -> Any:
    """The app's store on the benchmark's device, with ``--half`` as the app's command line sets it."""
    from offline_transcribe import ModelStore

    return ModelStore(a["models_dir"], device=a["device"], precision="half" if a["half"] else "float32")


def child_store(a: dict) -> dict:
    """The app's loader, ``ModelStore.load("canary")`` (validation, hashing check, weight check)."""
    import_s = _import_nemo()
    store = _store(a)
    before = memory()
    started = time.perf_counter()
    model = store.load("canary").model
    sync(a["device"])
    return {"import_s": import_s, "load_s": time.perf_counter() - started, "before": before, "after_load": memory(),
            "dtype": _dtype(model), "gpu_peak": gpu_peak(a["device"])}


def _bare(model: Any, wav: Path, max_new_tokens: int) -> tuple[Stopwatch, list[int], float]:
    """What a user of NeMo writes: ``generate`` with the audio file in the prompt; also the encoder's seconds."""
    import torch

    from offline_transcribe.backends.salm import TRANSCRIBE_PROMPT

    prompt = [{"role": "user", "content": TRANSCRIBE_PROMPT + model.audio_locator_tag, "audio": [str(wav)]}]
    with torch.inference_mode(), encoder_timer(model) as encoder, Stopwatch() as watch:
        ids = model.generate(prompts=[prompt], max_new_tokens=max_new_tokens)
        sync(str(model.device))
    return watch, ids[0].tolist(), encoder["s"]


@contextlib.contextmanager
def encoder_timer(model: Any) -> Iterator[dict[str, float]]:
    """Seconds spent in ``model.perception`` (the audio encoder and adapter) while the block runs, synchronised."""
    device = str(model.device)
    spent = {"s": 0.0}
    began: list[float] = []

    def before(*_: Any) -> None:
        sync(device)
        began.append(time.perf_counter())

    def after(*_: Any) -> None:
        sync(device)
        spent["s"] += time.perf_counter() - began.pop()

    hooks = [model.perception.register_forward_pre_hook(before), model.perception.register_forward_hook(after)]
    try:
        yield spent
    finally:
        for hook in hooks:
            hook.remove()


def child_transcribe(a: dict) -> dict:
    """Engine against bare ``generate`` on the same file, in one process with one model, in pairs."""
    _import_nemo()
    from offline_transcribe import LongAudioPolicy, transcribe_file
    from offline_transcribe.backends.salm import decode

    store = _store(a)
    model = store.load("canary").model
    policy = LongAudioPolicy()
    budget = int(policy.canary_window_s * 8) + 16  # the engine's token budget for one window
    wav = Path(a["audio"])
    pairs: list[dict[str, float]] = []
    same = True
    for i in range(a["pairs"] + 1):  # the first pair warms both paths up and is not counted
        pair: dict[str, float] = {}
        for step in ("bare", "engine") if i % 2 == 0 else ("engine", "bare"):
            if step == "bare":
                watch, ids, pair["encoder"] = _bare(model, wav, budget)
                bare_text = decode(model, _as_tensor(ids))
                pair["tokens"] = len(ids)
            else:
                with Stopwatch() as watch:
                    engine_text = transcribe_file(wav, "canary", store=store).text
            pair[step], pair[f"{step}_cpu"] = watch.wall, watch.cpu
            print(f"pair {i}, {step}: {watch.wall:.1f} s wall, {watch.cpu:.1f} s CPU", flush=True)
        same = same and bare_text == engine_text
        if i:
            pairs.append(pair)
    import torch

    return {"seconds": float(a["seconds"]), "pairs": pairs, "same_text": same, "threads": torch.get_num_threads(),
            "dtype": _dtype(model), "gpu_peak": gpu_peak(a["device"])}


def _as_tensor(ids: list[int]) -> Any:
    import torch

    return torch.tensor(ids)


CHILDREN = {
    "build": child_build,
    "floor": child_floor,
    "from_pretrained": child_from_pretrained,
    "store": child_store,
    "transcribe": child_transcribe,
}


# ---------------------------------------------------------------------------------------------------------------
# The parent


class CanaryBench(Bench):
    script = Path(__file__).resolve()

    def __init__(self, cache: Path, device: str, depth: int, pairs: int, check: bool = False, tiny: bool = False):
        super().__init__(cache, device, Plan())
        self.depth, self.pairs, self.check, self.tiny = depth, pairs, check, tiny
        self.seconds = TINY_AUDIO_SECONDS if tiny else AUDIO_SECONDS

    def prepare_canary(self) -> dict[str, Path]:
        shape = "tiny" if self.tiny else f"qwen-shaped-depth{self.depth}"
        folder = self.cache / f"canary-{shape}-{MODEL_FORMAT}"
        if not (folder / "model.safetensors").exists():
            print(f"Building the Canary-Qwen-2.5B-shaped SALM ({shape}) once into {folder}…", flush=True)
            self.run_child("build", {"out": str(folder), "depth": self.depth, "tiny": self.tiny}, timeout=7200)
        audio_dir = self.cache / "audio"
        audio_dir.mkdir(exist_ok=True)
        return {"folder": folder, "weights": folder / "model.safetensors",
                "audio": make_speech(audio_dir / f"speech-{self.seconds}s.wav", self.seconds)}

    def install_canary(self, folder: Path) -> Path:
        root = Path(tempfile.mkdtemp(prefix="bench-models-", dir=self.cache)) / "local_models"
        with open(self.logs / "canary-setup.log", "w") as log:
            subprocess.run([sys.executable, str(PROJECT_DIR / "setup_local_models.py"), "--models-dir", str(root),
                            "--no-check-load", "--only", "canary", "--from", str(folder)],
                           cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT, check=True)
        return root

    def run(self) -> dict:
        t0 = time.perf_counter()
        files = self.prepare_canary()
        models_dir = self.install_canary(files["folder"])
        common = {"device": self.device}
        store = {**common, "models_dir": str(models_dir)}
        gpu = self.device.startswith("cuda")
        halves = ([True] if self.check else [False, True]) if gpu else [False]
        r: dict[str, Any] = {"floor": [], "store": {str(h): [] for h in halves}, "transcribe": {}}
        try:
            print("Measuring (each step in a fresh process)…", flush=True)
            r["floor"].append(self.run_child("floor", {**common, "weights": str(files["weights"])}, "canary-floor-1"))
            r["from_pretrained"] = self.run_child("from_pretrained", {**common, "folder": str(files["folder"])},
                                                  "canary-from_pretrained")
            for i in range(1 if self.check else 2):
                for half in halves:
                    r["store"][str(half)].append(
                        self.run_child("store", {**store, "half": half}, f"canary-store-half{int(half)}-{i + 1}"))
                r["floor"].append(
                    self.run_child("floor", {**common, "weights": str(files["weights"])}, f"canary-floor-{i + 2}"))
            for half in halves if self.pairs > 0 else []:
                r["transcribe"][str(half)] = self.run_child(
                    "transcribe", {**store, "half": half, "audio": str(files["audio"]), "seconds": self.seconds,
                                   "pairs": self.pairs}, f"canary-transcribe-half{int(half)}")
        finally:
            shutil.rmtree(models_dir.parent, ignore_errors=True)
        r.update(device=self.device, depth=self.depth, tiny=self.tiny, weights_bytes=files["weights"].stat().st_size,
                 params=_params(files["weights"]), total_s=time.perf_counter() - t0, machine=machine())
        (self.logs / "canary-results.json").write_text(json.dumps(r, indent=1))
        return r


def _params(weights: Path) -> int:
    """Parameters stored in a safetensors file (tied weights once), from its header."""
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118  (not a dict)


def report(r: dict) -> str:
    """The results as Markdown tables."""
    w = r["weights_bytes"]
    floor = _median_run(r["floor"])
    floor_s = floor["load_s"]
    rows = [(f"`safetensors.torch.load` of the file's bytes: the floor (median of {len(r['floor'])}: "
             f"{_load_times(r['floor'])} s)", floor),
            ("`SALM.from_pretrained(folder)`", r["from_pretrained"])]
    for half, runs in r["store"].items():
        label = "`ModelStore.load(\"canary\")`" + (", `--half`" if half == "True" else "")
        rows.append((f"{label} (median of {len(runs)}: {_load_times(runs)} s)", _median_run(runs)))
    shape = "the tests' tiny SALM" if r.get("tiny") else f"layers ÷ {r['depth']} of Canary-Qwen-2.5B's"
    lines = [
        f"Weights: {w / GB:.2f} GB in bfloat16 ({r['params'] / 1e9:.2f} B parameters; {shape}); "
        f"device: {r['device']}. Each step runs in a fresh process; importing NeMo is not "
        "part of the load time.",
        "",
        "| step | load s | × floor | model dtype | peak RSS GB | × weights file | RSS when loaded GB (anon + file) "
        "| peak GPU GB | import s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        loaded = m["after_load"]
        lines.append(f"| {name} | {m['load_s']:.2f} | {_x(m['load_s'], floor_s)} | {m.get('dtype', 'bfloat16')} "
                     f"| {_gb(loaded['peak'])} | {_x(loaded['peak'], w)} | {_rss(loaded)} "
                     f"| {_gb(m.get('gpu_peak'))} | {m['import_s']:.1f} |")
    if r["transcribe"]:
        seconds = next(iter(r["transcribe"].values()))["seconds"]
        lines += ["", f"Transcription of {seconds:.0f} s of speech (one window; engine and bare `generate` "
                  "alternate in pairs, after one warm-up pair; medians). The bare run's time is split into the "
                  "encoder (`perception`: FastConformer + adapter) and the rest of `generate` (LLM prefill and "
                  "decoding of every token emitted):", "",
                  "| dtype | pairs | new tokens | bare `generate` s | encoder s | decoder s | tokens/s (decoder) "
                  "| `transcribe_file` s | engine / bare, wall | engine / bare, CPU | RTFx (engine) | same text "
                  "| peak GPU GB | torch threads |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in r["transcribe"].values():
        pairs = t["pairs"]
        bare = statistics.median(p["bare"] for p in pairs)
        eng = statistics.median(p["engine"] for p in pairs)
        encoder = statistics.median(p["encoder"] for p in pairs)
        tokens = pairs[0]["tokens"]
        lines.append(
            f"| {t['dtype']} | {len(pairs)} | {tokens} | {bare:.2f} | {encoder:.3f} | {bare - encoder:.2f} "
            f"| {tokens / (bare - encoder):.0f} | {eng:.2f} "
            f"| {statistics.median(p['engine'] / p['bare'] for p in pairs):.3f}× "
            f"| {statistics.median(p['engine_cpu'] / p['bare_cpu'] for p in pairs):.3f}× "
            f"| {t['seconds'] / eng:.2f}× | {'yes' if t['same_text'] else 'NO'} | {_gb(t.get('gpu_peak'))} "
            f"| {t['threads']} |"
        )
    if "True" in r["store"]:  # on a GPU, bfloat16: the host should never hold the weights in float32
        half = _median_run(r["store"]["True"])
        added = half["after_load"]["peak"] - half["before"]["rss"]
        lines += ["", "| target | met | measured |", "|---|---|---|",
                  f"| `--half` on the GPU never holds a float32 copy of the weights on the host (that copy alone "
                  f"would add {2 * w / GB:.2f} GB, 2× the bfloat16 file) | {'yes' if added < 2 * w else 'no'} "
                  f"| peak host RSS {_gb(half['after_load']['peak'])} GB, {_gb(added)} GB ({added / w:.2f}× the file) "
                  "above the RSS before loading (the file's mapped pages included) |"]
    lines += ["", machine_line(r["machine"]) + f" Whole run {r['total_s'] / 60:.1f} min."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one of its steps) and print the tables."""
    p = bench_arguments(__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=4, help="divide the encoder's and the LLM's layer counts by this")
    p.add_argument("--pairs", type=int, default=PAIRS,
                   help="engine/bare pairs measured after the warm-up pair (0: loading only)")
    args = p.parse_args(argv)
    pairs = 1 if args.check and args.pairs == PAIRS else args.pairs
    bench = CanaryBench(args.cache.expanduser(), args.device, args.depth, pairs, check=args.check, tiny=args.tiny)
    return run_bench(args, CHILDREN, bench.prepare_canary if args.prepare_only else bench.run, report)


if __name__ == "__main__":
    sys.exit(main())
