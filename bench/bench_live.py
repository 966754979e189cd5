#!/usr/bin/env python
"""Benchmark live transcription: compute and latency on a model shaped like Parakeet-TDT-0.6B-v2, and streaming
against offline WER on the tiny model trained here (``tests/data/tiny_words_tdt.nemo``).

    python bench/bench_live.py                 # CPU: grid, realtime, wer (25 min on the shared 2-core machine)
    python bench/bench_live.py --only wer      # some of the parts: grid, realtime, wer
    python bench/bench_live.py --quick         # smoke run: fewer contexts and steps, 20 s of real time
    python bench/bench_live.py --device cuda --check   # GPU contexts, no WER: step 4 of bench/gpu_check.sh
    python bench/bench_live.py --check --tiny  # the same with the tests' tiny model on a CPU (a dry run, 3 min)

It uses the Parakeet-shaped model and speech audio of ``bench_load_and_transcribe.py`` (built once into the same
cache) installed with the real setup script, and measures, each step in a fresh Python process:

* **grid**: for each candidate context (chunk, left, right), the 0.6 B model's stream (``TdtStream``, the app's
  code) over speech, as fast as it goes: wall and CPU time per step once the left context is full, and from them
  the compute per second of audio (step ÷ chunk). Once with one torch thread, whose CPU time is the work itself
  whatever else the machine runs, and once with torch's default threads (what the app uses).
* **realtime**: the device's default context through ``LiveSession`` (the app's code) with speech fed at
  real-time speed by a thread, its view polled every 10 ms: each committed word's latency (when it appeared on
  the committed side minus when its end was spoken), the wait after the last audio, CPU time per second of audio,
  and RSS along the way.
* **wer**: the tiny trained model on the tests' 40 held-out utterances and a 3-minute file of held-out speech:
  offline against streaming with the CPU and the GPU default contexts.

Weights of the 0.6 B model are random: its words are nonsense but its computation per step is the real model's.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load_and_transcribe import (
    TESTS_DIR,
    Bench,
    Plan,
    bench_arguments,
    child_build,
    machine,
    machine_line,
    memory,
    run_bench,
)

SAMPLE_RATE = 16000
MB = 2**20
# Candidate contexts (chunk, left, right) in seconds, multiples of the 0.08 s encoder frame.
CPU_GRID = [(1.6, 4.0, 1.6), (2.4, 4.0, 1.6), (3.2, 3.2, 1.6), (4.8, 3.2, 1.6), (4.8, 4.8, 1.6), (6.4, 4.8, 1.6),
            (8.0, 4.8, 1.6)]
GPU_GRID = [(0.32, 10.0, 0.64), (0.48, 10.0, 1.2), (0.96, 10.0, 0.96), (1.6, 10.0, 1.6)]
# The choice: the lowest latency (chunk + right) whose compute per second of audio is at most the limit. On a CPU
# that is one torch thread's CPU time (the work itself, whatever else the shared machine runs: one core keeps up
# with 10 % to spare, the app's second thread adds headroom); on a GPU the wall time.
CPU_KEEPS_UP = 0.9
GPU_KEEPS_UP = 0.25


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _speech(path: str) -> Any:
    import soundfile

    audio, rate = soundfile.read(path, dtype="float32")
    assert rate == SAMPLE_RATE
    return audio


def _store(a: dict) -> Any:
    import model_store  # noqa: F401  (offline switches first)
    from offline_transcribe import ModelStore

    return ModelStore(a["models_dir"], device=a["device"])


# ---------------------------------------------------------------------------------------------------------------
# Children


def child_grid(a: dict) -> dict:
    """Wall and CPU time per step of the 0.6 B model's stream for each context (see the module docstring)."""
    import torch

    if a.get("threads"):
        torch.set_num_threads(a["threads"])
    store = _store(a)
    model = store.load("parakeet").model
    from offline_transcribe.backends import get_backend
    from offline_transcribe.backends.base import StreamContext

    backend = get_backend("nemo_tdt")
    audio = _speech(a["audio"])
    rows = []
    for chunk, left, right in a["contexts"]:
        stream = backend.open_stream(model, StreamContext(chunk, left, right))
        ramp = math.ceil(left / chunk) + 1  # steps whose left context is not full yet, and one more to warm up
        need = (ramp + a["steps"]) * chunk + right
        stream.accept(audio[: int(need * SAMPLE_RATE)])
        walls, cpus = [], []
        while stream.ready():
            wall, cpu = time.perf_counter(), _cpu_seconds()
            stream.step(model)
            walls.append(time.perf_counter() - wall)
            cpus.append(_cpu_seconds() - cpu)
        walls, cpus = walls[ramp:], cpus[ramp:]
        row = {"chunk": chunk, "left": left, "right": right, "steps": len(walls),
               "step_wall": statistics.median(walls), "step_cpu": statistics.median(cpus),
               "step_wall_min": min(walls), "step_cpu_min": min(cpus)}
        rows.append(row)
        print(row, flush=True)
    return {"rows": rows, "threads": torch.get_num_threads()}


def child_realtime(a: dict) -> dict:
    """The default context through ``LiveSession``, fed at real-time speed; latency of every committed word."""
    import torch

    from offline_transcribe.config import LiveOptions
    from offline_transcribe.live.session import LiveSession

    store = _store(a)
    store.load("parakeet")
    audio = _speech(a["audio"])[: int(a["seconds"] * SAMPLE_RATE)]
    session = LiveSession(store, "parakeet", LiveOptions(*a["context"]))
    block = SAMPLE_RATE // 10
    started = time.monotonic()
    cpu0 = _cpu_seconds()

    def feed() -> None:
        for i, at in enumerate(range(0, len(audio), block)):
            time.sleep(max(0.0, started + (i + 1) * 0.1 - time.monotonic()))  # block i has been spoken by then
            session.feed(audio[at : at + block])

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    latencies: list[float] = []
    rss: list[tuple[float, int]] = []
    seen, behind = 0, 0.0

    def collect(view: Any) -> None:
        nonlocal seen
        words = [w for s in view.segments for w in s.words] + list(view.open_words)
        now = time.monotonic() - started
        latencies.extend(now - w.end for w in words[seen:])
        seen = len(words)

    while feeder.is_alive():
        view = session.view()
        collect(view)
        behind = max(behind, view.behind_s)
        if time.monotonic() - started >= 10 * (len(rss) + 1):  # every 10 s, from when the weights are in use
            rss.append((time.monotonic() - started, memory()["rss"]))
        time.sleep(0.01)
    audio_end = time.monotonic()
    final = session.close()
    collect(final)
    return {
        "context": list(final.context.__dict__.values()), "seconds": len(audio) / SAMPLE_RATE, "words": seen,
        "latencies": latencies, "after_end_s": time.monotonic() - audio_end, "max_behind_s": behind,
        "cpu_per_audio_s": (_cpu_seconds() - cpu0) / (len(audio) / SAMPLE_RATE), "rss": rss,
        "threads": torch.get_num_threads(), "error": final.error,
    }


def child_wer(a: dict) -> dict:
    """Offline against streaming WER of the trained tiny model on held-out speech."""
    import numpy as np
    import torch

    sys.path.insert(0, str(TESTS_DIR))
    torch.set_num_threads(1)
    from test_trained_model import FIXTURE, words_of

    import synth_speech as ss
    from conftest import install_parakeet
    from offline_transcribe import ModelStore
    from offline_transcribe.config import LiveOptions
    from offline_transcribe.live.session import LiveSession
    from offline_transcribe.transcribe import transcribe_audio

    models = Path(a["tmp"]) / "local_models"
    install_parakeet(models, FIXTURE)
    store = ModelStore(models)
    clips = Path(a["clips"])
    rng = np.random.default_rng(20240601)  # the held-out utterances of tests/test_trained_model.py
    sets = {"40 held-out utterances": []}
    for i in range(40):
        words = ss.random_text(rng, int(rng.integers(1, 11)))
        voice = ss.HELDOUT_VOICES[i % len(ss.HELDOUT_VOICES)]
        sets["40 held-out utterances"].append(
            ss.make_utterance(words, voice, ss.HELDOUT_SPEED, ss.HELDOUT_PITCH, rng, cache_dir=clips))
    sets[f"a {a['long_minutes']:g}-minute file"] = [
        ss.make_long_file(np.random.default_rng(777), minutes=a["long_minutes"], cache_dir=clips)]
    rows = []
    for name, items in sets.items():
        refs = [" ".join(t.word for t in timings) for _, timings in items]
        offline = [" ".join(words_of(transcribe_audio(x, "parakeet", store=store).text)) for x, _ in items]
        row = {"set": name, "words": sum(len(r.split()) for r in refs), "offline": ss.word_error_rate(refs, offline)}
        for label, ctx in a["contexts"].items():
            live = []
            for audio, _ in items:
                session = LiveSession(store, "parakeet", LiveOptions(*ctx))
                for i in range(0, len(audio), SAMPLE_RATE // 4):
                    session.feed(audio[i : i + SAMPLE_RATE // 4])
                live.append(" ".join(words_of(session.close().committed_text)))
            row[label] = ss.word_error_rate(refs, live)
            row[f"{label}_vs_offline"] = ss.word_error_rate(offline, live)
        rows.append(row)
        print(row, flush=True)
    store.close()
    return {"rows": rows}


CHILDREN = {"grid": child_grid, "realtime": child_realtime, "wer": child_wer, "build": child_build}


# ---------------------------------------------------------------------------------------------------------------
# The parent


PARTS = ("grid", "realtime", "wer")


class LiveBench(Bench):
    """Prepares the model and audio (shared with ``bench_load_and_transcribe.py``) and runs the children.

    ``quick``: fewer contexts and steps, 20 s of real time, shorter WER audio. ``check`` (what
    ``bench/gpu_check.sh`` runs): the same, without the WER part (CPU work with espeak-ng speech, measured here).
    ``parts``: which of ``PARTS`` to run.
    """

    script = Path(__file__).resolve()

    def __init__(self, cache: Path, device: str, *, quick: bool = False, check: bool = False, tiny: bool = False,
                 parts: tuple[str, ...] = PARTS) -> None:
        super().__init__(cache, device, Plan(tiny=tiny, transcribe_s=(60,), app=False))
        self.quick = quick or check or tiny
        self.parts = tuple(p for p in parts if p != "wer" or not check)

    def run(self) -> dict:
        from offline_transcribe.backends import get_backend

        t0 = time.perf_counter()
        print("Preparing (cached after the first run)…", flush=True)
        files = self.prepare()
        gpu = self.device.startswith("cuda")
        grid = GPU_GRID if gpu else CPU_GRID
        if self.quick:
            grid = grid[:2] + grid[-1:]
        steps = 3 if self.quick else 6
        results: dict[str, Any] = {"device": self.device, "quick": self.quick, "tiny": self.plan.tiny}
        if {"grid", "realtime"} & set(self.parts):
            models_dir = self.install(files["nemo"], files["canary"])
            base = {"device": self.device, "models_dir": str(models_dir), "audio": str(files["audio60"])}
            try:
                print("Measuring (each step in a fresh process)…", flush=True)
                if "grid" in self.parts:
                    if not gpu:
                        results["grid_1"] = self.run_child(
                            "grid", {**base, "contexts": grid, "steps": steps, "threads": 1}, "live-grid-1-thread")
                    results["grid_default"] = self.run_child(
                        "grid", {**base, "contexts": grid, "steps": steps}, "live-grid-default-threads")
                if "realtime" in self.parts:
                    default = get_backend("nemo_tdt").stream_context(self.device)
                    context = [default.chunk_s, default.left_s, default.right_s]
                    results["realtime"] = self.run_child(
                        "realtime", {**base, "context": context, "seconds": 20 if self.quick else 60},
                        "live-realtime")  # fmt: skip
            finally:
                shutil.rmtree(models_dir.parent, ignore_errors=True)
        if "wer" in self.parts:
            contexts = {}
            for device in ("cpu", "cuda"):
                c = get_backend("nemo_tdt").stream_context(device)
                contexts[f"{device} default ({c})"] = [c.chunk_s, c.left_s, c.right_s]
            tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-live-{os.getpid()}"
            results["wer"] = self.run_child(
                "wer", {"tmp": str(tmp), "clips": str(self.cache / "word-clips"), "contexts": contexts,
                        "long_minutes": 1 if self.quick else 3}, "live-wer")  # fmt: skip
        results.update(total_s=time.perf_counter() - t0, machine=machine())
        return results


# ---------------------------------------------------------------------------------------------------------------
# Report


def report(r: dict) -> str:
    """Markdown tables of the parts that ran: the grid and the choice it supports, the real-time run, the WER."""
    model = "the tests' tiny model" if r.get("tiny") else "0.6 B Parakeet-shaped model"
    lines: list[str] = []
    if "grid_default" in r:
        lines += grid_report(r, model)
    if "realtime" in r:
        lines += realtime_report(r["realtime"], model)
    if "wer" in r:
        lines += wer_report(r["wer"]["rows"])
    lines += ["", machine_line(r["machine"]) + f" Whole run {r['total_s'] / 60:.1f} min."]
    return "\n".join(lines).strip()


def grid_report(r: dict, model: str) -> list[str]:
    """The compute per step of each candidate context, and the lowest latency that keeps up."""
    gpu = r["device"].startswith("cuda")
    one = {(row["chunk"], row["left"], row["right"]): row for row in r.get("grid_1", {}).get("rows", [])}
    default = {(row["chunk"], row["left"], row["right"]): row for row in r["grid_default"]["rows"]}
    threads = r["grid_default"]["threads"]
    head = "| chunk s | left s | right s | chunk + right s |"
    if one:
        head += " step, 1 thread: wall s / CPU s (fastest step) | compute per second of audio, 1 thread (CPU s) |"
    head += f" step, {threads} threads: wall s (fastest) | compute per second of audio, {threads} threads (wall s) |"
    lines = [f"#### Compute per step, {r['device']} ({model}; medians once the left context is full)", "", head,
             "|---" * (head.count("|") - 1) + "|"]
    for key, d in default.items():
        chunk, left, right = key
        cells = [f"{chunk:g}", f"{left:g}", f"{right:g}", f"{chunk + right:.2f}"]
        if one:
            o = one[key]
            fastest = f"{o['step_wall_min']:.2f} / {o['step_cpu_min']:.2f}"
            cells += [f"{o['step_wall']:.2f} / {o['step_cpu']:.2f} ({fastest})", f"{o['step_cpu'] / chunk:.2f}"]
        cells += [f"{d['step_wall']:.2f} ({d['step_wall_min']:.2f})", f"{d['step_wall'] / chunk:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    limit, measure = (GPU_KEEPS_UP, "wall") if gpu else (CPU_KEEPS_UP, "cpu")
    rows = default if gpu else one
    fitting = [k for k, row in rows.items() if row[f"step_{measure}"] / k[0] <= limit]
    best = min(fitting, key=lambda k: (k[0] + k[2], -k[1])) if fitting else None
    what = "wall time" if gpu else "one thread's CPU time"
    return [*lines, "", (f"Lowest latency whose {what} per second of audio is at most {limit:g}: chunk {best[0]:g} s, "
                         f"left {best[1]:g} s, right {best[2]:g} s." if best else
                         f"No context keeps the {what} per second of audio at or below {limit:g}.")]


def realtime_report(rt: dict, model: str) -> list[str]:
    """Latency of the committed words and the compute of the default context, fed at real-time speed."""
    lines = ["", f"#### Real time, default context (chunk {rt['context'][0]:g} s, left {rt['context'][1]:g} s, right "
             f"{rt['context'][2]:g} s; {model}, {rt['threads']} torch threads; {rt['seconds']:.0f} s of speech)", "",
             "| committed words | latency median s | 90th percentile s | max s | wait after the last audio s "
             "| most audio waiting beyond the context s | CPU s per second of audio | RSS at 10 s → end MB |",
             "|---|---|---|---|---|---|---|---|"]
    lat = sorted(rt["latencies"]) or [math.nan]
    pct = lat[min(len(lat) - 1, int(0.9 * len(lat)))]
    lines.append(f"| {rt['words']} | {statistics.median(lat):.2f} | {pct:.2f} | {lat[-1]:.2f} "
                 f"| {rt['after_end_s']:.2f} | {rt['max_behind_s']:.1f} | {rt['cpu_per_audio_s']:.2f} "
                 f"| {rt['rss'][0][1] / MB:.0f} → {rt['rss'][-1][1] / MB:.0f} |")
    if rt.get("error"):
        lines.append(f"\nThe real-time run failed: {rt['error']}")
    return lines


def wer_report(rows: list[dict]) -> list[str]:
    """Offline against streaming WER of the trained tiny model."""
    labels = [k for k in rows[0] if k not in {"set", "words", "offline"} and not k.endswith("_vs_offline")]
    lines = ["", "#### Streaming against offline WER (tiny trained model, held-out voices and speed)", "",
             "| audio | words | offline WER | " + " | ".join(f"streaming, {lab}: WER (vs offline)" for lab in labels)
             + " |", "|---|---|---|" + "---|" * len(labels)]
    for row in rows:
        cells = [f"{100 * row[lab]:.1f} % ({100 * row[lab + '_vs_offline']:.1f} %)" for lab in labels]
        lines.append(f"| {row['set']} | {row['words']} | {100 * row['offline']:.1f} % | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = bench_arguments(__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer contexts and steps, 20 s of real time")
    p.add_argument("--only", default=",".join(PARTS), help=f"the parts to run, of {', '.join(PARTS)} (default: all)")
    args = p.parse_args(argv)
    parts = tuple(part.strip() for part in args.only.split(",") if part.strip())
    if unknown := [part for part in parts if part not in PARTS]:
        p.error(f"--only: unknown part {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    bench = LiveBench(args.cache.expanduser(), args.device, quick=args.quick, check=args.check, tiny=args.tiny,
                      parts=parts)
    return run_bench(args, CHILDREN, bench.prepare if args.prepare_only else bench.run, report)


if __name__ == "__main__":
    sys.exit(main())
