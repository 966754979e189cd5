#!/usr/bin/env python
"""Benchmark speaker identification with a model shaped exactly like Streaming Sortformer 4spk-v2.

    python bench/bench_diarize.py                 # 10 and 60 min, and peak memory on 3 h (about an hour, 2-core CPU)
    python bench/bench_diarize.py --quick         # smoke run: 1 and 3 min, 10 min for the memory check
    python bench/bench_diarize.py --device cuda   # a GPU: the same rows on CUDA

Once, into the benchmark cache (``~/.cache/transcribe-bench/``, ``$TRANSCRIBE_BENCH_CACHE`` or ``--cache``), it
builds a random-weight ``SortformerEncLabelModel`` with ``diar_streaming_sortformer_4spk-v2``'s architecture (17
FastConformer layers of 512, 18 Transformer layers of 192, 128 mel features; ``tests/tiny_models.SORTFORMER_V2_SHAPE``)
and uses the Parakeet-TDT-0.6B-v2-shaped model and speech audio of ``bench_load_and_transcribe.py`` (built there on
first use). Both models are installed with the real setup script. Each step runs in a fresh process:

* loading: ``ModelStore.load("diarizer")`` against NeMo's ``SortformerEncLabelModel.restore_from``;
* per audio length: the app's diarization (``diarize.sortformer.diarize_audio``: NeMo's streaming step chunk by chunk
  with the offline preset) and, on the same file, the app's Parakeet transcription (``transcribe_file``); the
  ratio of their times (wall and CPU) and each process's peak RSS;
* NeMo's own ``forward`` (features of the whole file first) on the shortest length, for its peak RSS;
* the app's diarization of 3 hours of audio: peak RSS (memory must not grow with the length); ``--long-model tiny``
  measures it with the trained tiny Sortformer instead (minutes, not half an hour, on a CPU);
* accuracy, which random weights cannot show: the DER (``pyannote.metrics``) of the tiny Sortformer trained here
  (``tests/data/tiny_sortformer.nemo``) on the held-out synthetic conversations of its training script's test sets
  (voices, speed and pitch it never heard), through the app's streaming diarizer and through NeMo's own offline
  forward.

Weights of the v2-shaped model are random, so its turns are nonsense, but the computation per second of audio is
the real model's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
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
    bench_arguments,
    machine,
    make_speech,
    memory,
    run_bench,
    sync,
)

LONG_MODELS = {"v2": "the app, chunk by chunk", "tiny": "the app, chunk by chunk, the trained tiny Sortformer"}
MODEL_FORMAT = 1  # bump when the built model changes, so cached copies are rebuilt
TRAINED = PROJECT_DIR / "tests" / "data" / "tiny_sortformer.nemo"


# ---------------------------------------------------------------------------------------------------------------
# Steps (each in a fresh process)


def _import_nemo() -> float:
    started = time.perf_counter()
    import nemo.collections.asr.models  # noqa: F401

    import model_store  # noqa: F401  (the offline switches first, as in the app)

    return time.perf_counter() - started


def child_build(a: dict) -> dict:
    """The v2-shaped Sortformer with random weights, saved as a ``.nemo`` (atomically)."""
    import model_store  # noqa: F401
    from tiny_models import SORTFORMER_V2_SHAPE, build_tiny_sortformer

    out = Path(a["out"])
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        model = build_tiny_sortformer(Path(tmp) / out.name, **SORTFORMER_V2_SHAPE)
        print(f"built: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters", flush=True)
        os.replace(Path(tmp) / out.name, out)
    return {}


def child_load(a: dict) -> dict:
    """``ModelStore.load("diarizer")`` (the app) or ``SortformerEncLabelModel.restore_from`` (NeMo)."""
    import_s = _import_nemo()
    before = memory()
    with Stopwatch() as watch:
        if a["how"] == "store":
            from offline_transcribe import ModelStore

            model = ModelStore(a["models_dir"], device=a["device"]).load("diarizer").model
        else:
            from nemo.collections.asr.models import SortformerEncLabelModel

            model = SortformerEncLabelModel.restore_from(a["nemo"], map_location=a["device"]).eval()
        sync(a["device"])
    params = sum(p.numel() for p in model.parameters())
    return {"import_s": import_s, "load_s": watch.wall, "before": before, "after_load": memory(), "params": params}


def _audio(wav: str) -> Any:
    from offline_transcribe.audio import SAMPLE_RATE, load_audio

    return load_audio(wav, SAMPLE_RATE)


def child_diarize(a: dict) -> dict:
    """The app's diarization of one file (decoded first, as the app does; decoding not timed)."""
    _import_nemo()
    from offline_transcribe import ModelStore
    from offline_transcribe.diarize import SpeakerOptions
    from offline_transcribe.diarize.sortformer import diarize_audio

    model = ModelStore(a["models_dir"], device=a["device"]).load("diarizer").model
    audio = _audio(a["wav"])
    before = memory()
    with Stopwatch() as watch:
        d = diarize_audio(model, audio, SpeakerOptions())
        sync(a["device"])
    return {"wall_s": watch.wall, "cpu_s": watch.cpu, "before": before, "turns": len(d.turns),
            "audio_bytes": int(audio.nbytes), "gpu_peak_mb": _gpu_peak_mb(a["device"])}


def child_diarize_nemo(a: dict) -> dict:
    """NeMo's own streaming ``forward`` on the whole file (its features computed at once), for comparison."""
    import torch

    _import_nemo()
    from offline_transcribe import ModelStore
    from offline_transcribe.diarize import DiarizationPolicy
    from offline_transcribe.diarize.sortformer import apply_streaming_settings

    model = ModelStore(a["models_dir"], device=a["device"]).load("diarizer").model
    apply_streaming_settings(model, DiarizationPolicy())
    audio = _audio(a["wav"])
    before = memory()
    with Stopwatch() as watch, torch.inference_mode():
        signal = torch.from_numpy(audio)[None].to(a["device"])
        model.forward(audio_signal=signal, audio_signal_length=torch.tensor([len(audio)], device=a["device"]))
        sync(a["device"])
    return {"wall_s": watch.wall, "cpu_s": watch.cpu, "before": before, "gpu_peak_mb": _gpu_peak_mb(a["device"])}


def child_transcribe(a: dict) -> dict:
    """The app's Parakeet transcription of the same file (``transcribe_file``; model loaded first, not timed)."""
    _import_nemo()
    from offline_transcribe import ModelStore, transcribe_file

    store = ModelStore(a["models_dir"], device=a["device"])
    store.load("parakeet")
    before = memory()
    with Stopwatch() as watch:
        transcript = transcribe_file(a["wav"], "parakeet", store=store)
        sync(a["device"])
    return {"wall_s": watch.wall, "cpu_s": watch.cpu, "before": before, "notes": transcript.notes,
            "gpu_peak_mb": transcript.peak_gpu_memory_mb}


def child_der(a: dict) -> dict:
    """DER of the trained tiny Sortformer on its training script's held-out test conversations: through the app
    (streaming, the offline preset, the app's post-processing) and through NeMo's offline forward."""
    import torch

    torch.set_num_threads(1)
    sys.path[:0] = [str(PROJECT_DIR / "training"), str(PROJECT_DIR / "tests")]
    import train_tiny_sortformer as training

    import synth_conversation as sc
    import synth_speech as ss
    from offline_transcribe.diarize.sortformer import restore_sortformer

    figures = json.loads(Path(a["nemo"]).with_suffix(".json").read_text())
    cache = Path(a["clips"])
    ss.synth_words(ss.VOCAB, sc.DIAR_HELDOUT_VOICES, [ss.HELDOUT_SPEED], [ss.HELDOUT_PITCH], cache, workers=2)
    sets = training.test_sets(argparse.Namespace(n_test=figures["args"]["n_test"], seed=figures["args"]["seed"]),
                              cache)  # fmt: skip
    app = training.evaluate_app(Path(a["nemo"]), sets)
    model = restore_sortformer(Path(a["nemo"]))
    nemo = {name: training.evaluate_offline(model, convs) for name, convs in sets.items()}
    return {"app": app, "nemo_forward": nemo, "sha256": figures["sha256"]}


def _gpu_peak_mb(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


CHILDREN = {
    "build": child_build,
    "load": child_load,
    "diarize": child_diarize,
    "diarize_nemo": child_diarize_nemo,
    "transcribe": child_transcribe,
    "der": child_der,
}


# ---------------------------------------------------------------------------------------------------------------
# The parent


class DiarizeBench(Bench):
    script = Path(__file__).resolve()

    def __init__(self, cache: Path, device: str, quick: bool = False, long_model: str | None = None):
        super().__init__(cache, device, Plan())  # the Parakeet-shaped model; the placeholder Canary
        self.quick, self.long_model = quick, long_model

    def lengths(self) -> list[int]:
        return [60, 180] if self.quick else [600, 3600]

    def long_length(self) -> int:
        return 600 if self.quick else 3 * 3600

    def prepare_sortformer(self) -> Path:
        folder = self.cache / f"sortformer-v2-shaped-{MODEL_FORMAT}"
        folder.mkdir(parents=True, exist_ok=True)
        nemo = folder / "sortformer_v2_shaped.nemo"
        if not nemo.exists():
            print(f"Building the Streaming-Sortformer-v2-shaped model once into {nemo}…", flush=True)
            self.run_child("build", {"out": str(nemo)}, "sortformer-build", timeout=3600)
        return nemo

    def long_rows(self, models_dir: Path, wavs: dict[int, Path]) -> list[dict]:
        """Peak RSS of the app's diarization on hours of audio: with the v2-shaped model (its shortest row is in
        ``rows``), or, quicker (``--long-model tiny``), with the trained tiny Sortformer on the shortest length and
        on the long one: the same class, streaming preset and code path (chunk by chunk, FIFO and speaker cache of
        fixed lengths), whose memory over length is what this row is about."""
        which = self.long_model or "v2"
        root = models_dir
        if which == "tiny":
            root = Path(tempfile.mkdtemp(prefix="bench-models-", dir=self.cache)) / "local_models"
            self.install_diarizer(root, TRAINED, "sortformer-setup-tiny")
        rows = []
        try:
            for seconds in (self.long_length(),) if which == "v2" else (self.lengths()[0], self.long_length()):
                rows.append({"seconds": seconds, "model": which, **self.run_child(
                    "diarize", {"device": self.device, "models_dir": str(root), "wav": str(wavs[seconds])},
                    f"sortformer-diarize-{which}-{seconds}s", timeout=6 * 3600)})  # fmt: skip
        finally:
            if root != models_dir:
                shutil.rmtree(root.parent, ignore_errors=True)
        return rows

    def install_diarizer(self, root: Path, nemo: Path, label: str) -> None:
        """``setup_local_models.py --only diarizer --from nemo`` into the models folder ``root``; log in ``label``."""
        with open(self.logs / f"{label}.log", "w") as log:
            subprocess.run([sys.executable, str(PROJECT_DIR / "setup_local_models.py"), "--models-dir", str(root),
                            "--no-check-load", "--only", "diarizer", "--from", str(nemo)],
                           cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT, check=True)

    def install_all(self, parakeet: Path, canary: Path, sortformer: Path) -> Path:
        root = self.install(parakeet, canary)
        self.install_diarizer(root, sortformer, "sortformer-setup")
        return root

    def run(self) -> dict:
        t0 = time.perf_counter()
        files = self.prepare()  # the Parakeet-shaped model and the placeholder Canary, as bench_load_and_transcribe
        sortformer = self.prepare_sortformer()
        audio_dir = self.cache / "audio"
        wavs = {s: make_speech(audio_dir / f"speech-{s}s.wav", s) for s in [*self.lengths(), self.long_length()]}
        models_dir = self.install_all(files["nemo"], files["canary"], sortformer)
        common = {"device": self.device, "models_dir": str(models_dir)}
        r: dict[str, Any] = {"rows": []}
        try:
            print("Measuring (each step in a fresh process)…", flush=True)
            r["load_store"] = self.run_child("load", {**common, "how": "store"}, "sortformer-load-store")
            r["load_nemo"] = self.run_child("load", {**common, "how": "nemo", "nemo": str(sortformer)},
                                            "sortformer-load-restore_from")
            for seconds in self.lengths():
                wav = {**common, "wav": str(wavs[seconds])}
                row = {"seconds": seconds,
                       "diarize": self.run_child("diarize", wav, f"sortformer-diarize-{seconds}s", timeout=7200),
                       "transcribe": self.run_child("transcribe", wav, f"sortformer-transcribe-{seconds}s",
                                                    timeout=7200)}  # fmt: skip
                r["rows"].append(row)
                print(f"  {seconds} s: diarize {row['diarize']['wall_s']:.1f} s, "
                      f"transcribe {row['transcribe']['wall_s']:.1f} s", flush=True)
            shortest = self.lengths()[0]
            r["nemo_forward"] = {"seconds": shortest, **self.run_child(
                "diarize_nemo", {**common, "wav": str(wavs[shortest])}, f"sortformer-nemo-forward-{shortest}s")}
            r["long"] = self.long_rows(models_dir, wavs)
        finally:
            shutil.rmtree(models_dir.parent, ignore_errors=True)
        print("DER of the trained tiny Sortformer on held-out conversations…", flush=True)
        r["der"] = self.run_child("der", {"nemo": str(TRAINED), "clips": str(self.cache / "diarizer-clips")},
                                  "sortformer-der")
        r.update(device=self.device, nemo_bytes=sortformer.stat().st_size, total_s=time.perf_counter() - t0,
                 machine=machine())
        (self.logs / "sortformer-results.json").write_text(json.dumps(r, indent=1))
        return r


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 and seconds % 3600 == 0 else f"{seconds / 60:g} min"


def report(r: dict) -> str:
    """The results as Markdown tables."""
    store, nemo = r["load_store"], r["load_nemo"]
    lines = [
        f"Streaming-Sortformer-v2-shaped model: {store['params'] / 1e6:.1f} M parameters, `.nemo` "
        f"{r['nemo_bytes'] / GB:.2f} GB; device {r['device']}. Each step in a fresh process.",
        "",
        "#### Loading",
        "",
        "| step | load s | peak RSS GB | RSS when loaded GB |",
        "|---|---|---|---|",
        f"| `SortformerEncLabelModel.restore_from(.nemo)` | {nemo['load_s']:.2f} | {_gb(nemo['after_load']['peak'])} "
        f"| {_gb(nemo['after_load']['rss'])} |",
        f"| `ModelStore.load(\"diarizer\")` | {store['load_s']:.2f} | {_gb(store['after_load']['peak'])} "
        f"| {_gb(store['after_load']['rss'])} |",
        "",
        "#### Diarization against transcription of the same audio (the app's code paths)",
        "",
        "| audio | diarization s (CPU s) | Parakeet transcription s (CPU s) | diarization ÷ transcription, wall "
        "| ÷, CPU time | diarization RTF | peak RSS diarizing GB | peak RSS transcribing GB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        d, t = row["diarize"], row["transcribe"]
        lines.append(
            f"| {_duration(row['seconds'])} | {d['wall_s']:.1f} ({d['cpu_s']:.1f}) "
            f"| {t['wall_s']:.1f} ({t['cpu_s']:.1f}) "
            f"| {d['wall_s'] / t['wall_s']:.3f}× | {d['cpu_s'] / t['cpu_s']:.3f}× | {d['wall_s'] / row['seconds']:.4f} "
            f"| {_gb(d['peak'])} | {_gb(t['peak'])} |"
        )
    n, long = r["nemo_forward"], r["long"]
    lines += [
        "",
        "#### Memory over length (diarization only)",
        "",
        "| run | audio | wall s | peak RSS GB | peak − RSS before (audio decoded) GB | decoded audio GB |",
        "|---|---|---|---|---|---|",
    ]
    first = r["rows"][0]["diarize"]
    for name, seconds, m in (("the app, chunk by chunk", r["rows"][0]["seconds"], first),
                             ("NeMo's `forward` (whole-file features)", n["seconds"], n),
                             *(("the app, chunk by chunk", row["seconds"], row["diarize"]) for row in r["rows"][1:]),
                             *((LONG_MODELS[row["model"]], row["seconds"], row) for row in long)):  # fmt: skip
        audio = m.get("audio_bytes")
        lines.append(f"| {name} | {_duration(seconds)} | {m['wall_s']:.1f} | {_gb(m['peak'])} "
                     f"| {_gb(m['peak'] - m['before']['rss'])} | {_gb(audio) if audio else '—'} |")
    lines += [
        "",
        "#### Who speaks when: DER of the trained tiny Sortformer on held-out synthetic conversations",
        "",
        f"`tests/data/tiny_sortformer.nemo` (sha256 `{r['der']['sha256'][:12]}…`), voices, speed and pitch never heard "
        "in training; `pyannote.metrics`, overlaps scored.",
        "",
        "| conversations | audio | DER, the app (streaming) | missed | false alarm | confusion | DER, collar 0.25 s "
        "| DER, NeMo's offline forward | diarization RTF |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {"heldout_2spk": "two speakers, 15-40 s", "heldout_3spk": "three speakers, 15-40 s",
              "heldout_2spk_long": "two speakers, 90-150 s (several chunks)"}  # fmt: skip
    for name, d in r["der"]["app"].items():
        lines.append(
            f"| {d['conversations']} × {labels.get(name, name)} | {d['audio_s'] / 60:.1f} min | {d['der']:.1%} "
            f"| {d['missed']:.1%} | {d['false_alarm']:.1%} | {d['confusion']:.1%} | {d['der_collar_0.25']:.1%} "
            f"| {r['der']['nemo_forward'][name]['der']:.1%} | {d['rtf']:.3f} |"
        )
    if r["device"].startswith("cuda"):
        lines += ["", "| audio | peak GPU MB diarizing | peak GPU MB transcribing |", "|---|---|---|"]
        lines += [f"| {_duration(row['seconds'])} | {row['diarize']['gpu_peak_mb']:.0f} "
                  f"| {row['transcribe']['gpu_peak_mb'] or 0:.0f} |" for row in r["rows"]]
    m = r["machine"]
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_bytes'] / 2**30:.0f} GiB RAM; load average at "
              f"the end {', '.join(f'{x:.1f}' for x in m['loadavg'])}. Whole run {r['total_s'] / 60:.1f} min."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one of its steps) and print the tables."""
    p = bench_arguments(__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short audio: a smoke run")
    p.add_argument("--long-model", choices=sorted(LONG_MODELS),
                   help="the model of the hours-long row (default: v2, the v2-shaped one)")
    args = p.parse_args(argv)
    bench = DiarizeBench(args.cache.expanduser(), args.device, args.quick, args.long_model)
    return run_bench(args, CHILDREN, bench.run, report)


if __name__ == "__main__":
    sys.exit(main())
