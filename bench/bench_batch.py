#!/usr/bin/env python
"""Jobs against today's one-file-at-a-time path, with a model shaped like Parakeet-TDT-0.6B-v2.

    python bench/bench_batch.py                 # 100 clips of 3-30 s (about 27 min of audio), on the CPU
    python bench/bench_batch.py --clips 40      # a shorter run
    python bench/bench_batch.py --tiny          # the tests' tiny model: a dry run in a minute
    python bench/bench_batch.py --sweep 30 60 120 240   # also the job with these --batch-seconds (40 clips)
    python bench/bench_batch.py --device cuda --job-only --clips 64 --seconds 60 60   # bench/gpu_check.sh's row

The model is the random-weight Parakeet-shaped ``.nemo`` that ``bench/bench_load_and_transcribe.py`` builds into
its cache (built here the same way when it is missing), installed with the real setup script. Clips are cut from
espeak-ng speech at lengths drawn uniformly from 3-30 s (seed 0), in nested folders. In one process, after a
warm-up: ``batch.transcribe_files`` over the clips (today's path: one model call per file), then the job over
the folder (``jobs.run_job``: decode ahead, batches by duration). Measured: audio seconds per wall second of
each, peak RSS during each (sampled every 0.1 s), the ledger's cost per file (claim and finish, each a
transaction) and the time to rerun a job of 10,000 done files (every file skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests"), str(PROJECT_DIR / "bench")]

from bench_load_and_transcribe import CACHE_ENV, DEFAULT_CACHE, MODEL_FORMAT, build_model, make_speech  # noqa: E402


def rss_mb() -> float:
    """This process's resident memory now."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


class PeakRss:
    """Peak RSS while the block runs (sampled every 0.1 s)."""

    def __enter__(self) -> PeakRss:
        self.peak, self.stop = rss_mb(), threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(0.1):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss_mb())


def model_file(cache: Path, tiny: bool) -> Path:
    """The cached Parakeet-shaped ``.nemo`` (built in a child process when missing)."""
    shape = "tiny" if tiny else "v2-shaped"
    nemo = cache / f"parakeet-{shape}-{MODEL_FORMAT}" / f"parakeet_{shape.replace('-', '_')}.nemo"
    if not nemo.exists():
        nemo.parent.mkdir(parents=True, exist_ok=True)
        print(f"Building the model once into {nemo}…", flush=True)
        subprocess.run([sys.executable, __file__, "--build", str(nemo), *(["--tiny"] if tiny else [])], check=True)
    return nemo


def make_clips(cache: Path, root: Path, n: int, lo: float, hi: float) -> float:
    """``n`` WAV clips of ``lo``-``hi`` s cut from espeak-ng speech, in nested folders; returns their seconds."""
    import numpy as np
    import soundfile

    (cache / "audio").mkdir(parents=True, exist_ok=True)
    source = make_speech(cache / "audio" / "batch-source-600s.wav", 600)
    speech, rate = soundfile.read(source, dtype="float32")
    rng = np.random.default_rng(0)
    total = 0.0
    for i in range(n):
        seconds = float(rng.uniform(lo, hi))
        start = int(rng.integers(0, len(speech) - int(seconds * rate)))
        folder = root / f"day{i % 4}" / (f"part{i % 3}" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"clip{i:03d}.wav", speech[start : start + int(seconds * rate)], rate)
        total += seconds
    return total


def ledger_costs(tmp: Path, n_rows: int = 10_000) -> dict:
    """Per-file cost of the ledger (claim + finish, each a committed transaction) and the time for a rerun over
    ``n_rows`` done files (collect, stat, skip)."""
    from offline_transcribe.jobs.job import JobOptions, run_job
    from offline_transcribe.jobs.ledger import Ledger
    from offline_transcribe.jobs.sources import collect

    root, out = tmp / "many", tmp / "many-out"
    for i in range(n_rows):
        folder = root / f"d{i // 500}"
        if i % 500 == 0:
            folder.mkdir(parents=True)
        (folder / f"f{i}.wav").write_bytes(b"RIFF")
    opts = JobOptions("parakeet", out, ("txt",))
    items = collect([root], out)
    ledger = Ledger.open(out, opts.model_key, opts.fingerprinted())
    started = time.perf_counter()
    sample = items[:2000]
    for item in sample:
        st = os.stat(item.path)
        ledger.claim([(item.key, str(item.path), item.stem, st.st_size, st.st_mtime_ns, "x")])
        ledger.finish(item.key, "done", {"txt": f"{item.stem}.txt"}, None, 1.0, 0.1)
    per_file_ms = (time.perf_counter() - started) / len(sample) * 1000
    for item in items[2000:]:
        st = os.stat(item.path)
        ledger.claim([(item.key, str(item.path), item.stem, st.st_size, st.st_mtime_ns, "x")])
        ledger.finish(item.key, "done", {"txt": f"{item.stem}.txt"}, None, 1.0, 0.1)
    ledger.close()
    started = time.perf_counter()
    counts = run_job(collect([root], out), None, opts, out=open(os.devnull, "w"))  # noqa: SIM115
    skip_s = time.perf_counter() - started
    assert counts.skipped == n_rows, counts
    return {"ledger_ms_per_file": per_file_ms, "skip_rows": n_rows, "skip_s": skip_s}


def run(args: argparse.Namespace) -> dict:
    """The whole benchmark (see the module docstring)."""
    cache = args.cache.expanduser()
    nemo = model_file(cache, args.tiny)
    with tempfile.TemporaryDirectory(prefix="bench-batch-", dir=cache) as tmp_name:
        tmp = Path(tmp_name)
        models = tmp / "local_models"
        subprocess.run([sys.executable, str(PROJECT_DIR / "setup_local_models.py"), "--models-dir", str(models),
                        "--only", "parakeet", "--from", str(nemo), "--no-check-load"], check=True,
                       capture_output=True)
        clips = tmp / "clips"
        audio_s = make_clips(cache, clips, args.clips, *args.seconds)
        import torch

        from offline_transcribe import ModelStore
        from offline_transcribe.batch import transcribe_files
        from offline_transcribe.jobs.job import BATCH_SECONDS, JobOptions, run_job
        from offline_transcribe.jobs.sources import collect

        store = ModelStore(models, device=args.device)
        store.load("parakeet")
        warm = sorted(clips.rglob("*.wav"))[:2]
        transcribe_files(warm, "parakeet", tmp / "warm", store=store, formats=("txt",))
        rss_loaded = rss_mb()
        paths = sorted(clips.rglob("*.wav"))
        batch_s = args.batch_seconds or BATCH_SECONDS["cuda" if args.device.startswith("cuda") else "cpu"]
        results = {
            "device": args.device, "torch_threads": torch.get_num_threads(), "clips": len(paths),
            "clip_seconds": list(args.seconds), "audio_s": audio_s, "batch_seconds": batch_s,
            "rss_loaded_mb": rss_loaded,
            "model": "tiny" if args.tiny else "Parakeet-TDT-0.6B-v2-shaped (random weights)",
        }
        if not args.job_only:
            with PeakRss() as single_rss:
                started = time.perf_counter()
                transcribe_files(paths, "parakeet", tmp / "single", store=store, formats=("txt",))
                single_s = time.perf_counter() - started
            results |= {"single_wall_s": single_s, "single_rtfx": audio_s / single_s,
                        "single_peak_rss_mb": single_rss.peak}

        def job(out: Path, seconds: float, items) -> float:
            opts = JobOptions("parakeet", out, ("txt",), batch_seconds=seconds)
            with open(os.devnull, "w") as devnull:
                started = time.perf_counter()
                counts = run_job(items, store, opts, out=devnull, err=devnull)
                wall = time.perf_counter() - started
            assert counts.done == len(items), counts
            return wall

        with PeakRss() as job_rss:
            job_s = job(tmp / "job", batch_s, collect([clips], tmp / "job"))
        results |= {"job_wall_s": job_s, "job_rtfx": audio_s / job_s, "job_peak_rss_mb": job_rss.peak}
        if not args.job_only:
            results["speedup"] = results["single_wall_s"] / job_s
        if args.sweep:
            items = collect([clips], tmp / "sweep")[: args.sweep_clips]
            seconds = sum(soundfile_seconds(i.path) for i in items)
            results["sweep"] = [
                {"batch_seconds": s, "clips": len(items), "audio_s": seconds,
                 "rtfx": seconds / job(tmp / f"sweep-{s:g}", s, collect([clips], tmp / f"sweep-{s:g}")[: len(items)])}
                for s in args.sweep]
        if not args.job_only:
            results |= ledger_costs(tmp)
        return results


def soundfile_seconds(path: Path) -> float:
    """A WAV file's duration."""
    import soundfile

    return soundfile.info(str(path)).duration


def report(r: dict) -> str:
    """The Markdown table for docs/benchmarks.md."""
    lines = [
        f"{r['clips']} clips of {r['clip_seconds'][0]:g}-{r['clip_seconds'][1]:g} s ({r['audio_s'] / 60:.1f} min of "
        f"audio), {r['model']}, {r['device']}, torch threads {r['torch_threads']}, batch {r['batch_seconds']:g} s:",
        "",
        "| path | wall (s) | audio s per s (RTFx) | peak RSS (MB) |",
        "|---|---|---|---|",
    ]
    if "single_wall_s" in r:
        lines.append(f"| today's `transcribe_files` (one call per file) | {r['single_wall_s']:.1f} | "
                     f"{r['single_rtfx']:.2f} | {r['single_peak_rss_mb']:.0f} |")
    lines.append(f"| job (`run_job`: decode ahead, batches by duration) | {r['job_wall_s']:.1f} | "
                 f"{r['job_rtfx']:.2f} | {r['job_peak_rss_mb']:.0f} |")
    lines.append("")
    if "speedup" in r:
        lines.append(f"Job / today: **{r['speedup']:.2f}x** throughput. RSS with the model loaded, before both: "
                     f"{r['rss_loaded_mb']:.0f} MB. Ledger: {r['ledger_ms_per_file']:.2f} ms per file (claim + "
                     f"finish); a rerun over {r['skip_rows']:,} done files (collect, stat, skip): {r['skip_s']:.2f} s.")
    if r.get("sweep"):
        sweep = r["sweep"]
        lines += ["", f"`--batch-seconds` on {sweep[0]['clips']} of the clips ({sweep[0]['audio_s'] / 60:.1f} min), "
                  "job path:", "", "| --batch-seconds | " + " | ".join(f"{x['batch_seconds']:g}" for x in sweep) + " |",
                  "|---|" + "---|" * len(sweep), "| RTFx | " + " | ".join(f"{x['rtfx']:.2f}" for x in sweep) + " |"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--build``, only build the model) and print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache", type=Path, default=Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)))
    p.add_argument("--clips", type=int, default=100)
    p.add_argument("--seconds", type=float, nargs=2, default=(3.0, 30.0), metavar=("MIN", "MAX"))
    p.add_argument("--batch-seconds", type=float, default=None, help="default: the job's default for the device")
    p.add_argument("--tiny", action="store_true", help="the tests' tiny model (a dry run)")
    p.add_argument("--job-only", action="store_true",
                   help="the job path alone (no one-file path, no ledger costs): bench/gpu_check.sh's batch row")
    p.add_argument("--sweep", type=float, nargs="*", default=[], metavar="S",
                   help="also run the job with each of these --batch-seconds, on --sweep-clips of the clips")
    p.add_argument("--sweep-clips", type=int, default=40)
    p.add_argument("--json", type=Path)
    p.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.build:
        build_model(args.build, tiny=args.tiny)
        return 0
    results = run(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(json.dumps(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
