#!/usr/bin/env python
"""The same job on one machine and on a local Ray instance: what Ray costs on this machine.

    python bench/bench_ray.py --tiny            # the tests' trained tiny TDT (what docs/benchmarks.md reports)
    python bench/bench_ray.py                   # the Parakeet-TDT-0.6B-v2-shaped model (random weights)
    python bench/bench_ray.py --clips 20        # a shorter run

The model and the clips are those of ``bench/bench_batch.py`` (60 clips of 3-30 s cut from espeak-ng speech, seed
0, in nested folders; the model built into its cache when missing, installed with the real setup script). Each
run is the real command line in a fresh process, as a user runs it, timed from start to exit:

1. the local job: ``transcribe_ui.py --transcribe CLIPS`` (torch on all cores);
2. the Ray job: the same with ``--ray --ray-actors 2 --ray-cpus-per-actor 1`` (a local Ray instance, 2
   transcribers of 1 torch thread each: the same two cores);
3. both again with one clip only, ``--repeats`` times in alternating order (medians): the Ray run's extra time
   there is Ray's fixed start-up cost (the instance, the actors' processes, the node checks; the model loads and
   NeMo's import happen in both, in the actor or in the command);
4. ``ray.init`` of a local instance alone, then ``ray.shutdown``, ``--repeats`` times in fresh processes (median).

The outputs of 1 and 2 are compared (txt: they must be the same). The peak RSS of each transcriber process (read
from /proc every 0.2 s) is the per-actor memory. Multi-GPU scaling (one actor per GPU) is not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests"), str(PROJECT_DIR / "bench")]

from bench_batch import make_clips, model_file  # noqa: E402
from bench_load_and_transcribe import CACHE_ENV, DEFAULT_CACHE  # noqa: E402

ACTOR_TITLE = b"MapWorker(MapBatches(Transcriber))"
TINY_WORDS = PROJECT_DIR / "tests" / "data" / "tiny_words_tdt.nemo"  # trained: it writes words


class ActorRss:
    """Peak RSS of any Ray transcriber process while the block runs."""

    def __enter__(self) -> ActorRss:
        self.peak_mb, self.pids, self.stop = 0.0, set(), threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(0.2):
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    if ACTOR_TITLE not in Path(f"/proc/{entry}/cmdline").read_bytes():
                        continue
                    status = Path(f"/proc/{entry}/status").read_text()
                except OSError:
                    continue
                rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0)
                self.pids.add(int(entry))
                self.peak_mb = max(self.peak_mb, rss / 1024)

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def command(models: Path, inputs: Path, out: Path, ray: bool) -> tuple[float, str]:
    """One job through the command line in a fresh process; its wall time and its output."""
    cmd = [sys.executable, str(PROJECT_DIR / "transcribe_ui.py"), "--models-dir", str(models), "--only", "parakeet",
           "--format", "txt", "--output-dir", str(out), "--transcribe", str(inputs)]
    if ray:
        cmd += ["--ray", "--ray-actors", "2", "--ray-cpus-per-actor", "1"]
    started = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
    wall = time.perf_counter() - started
    if run.returncode not in (0, 3):  # 3: a clip without speech recognised
        raise SystemExit(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    return wall, run.stdout + run.stderr


def ray_init_s() -> float:
    """Seconds ``ray.init`` takes to start a local instance (no dashboard), in a fresh process."""
    code = ("import time, ray; t = time.perf_counter(); ray.init(num_cpus=3, include_dashboard=False, "
            "logging_level='ERROR'); print(time.perf_counter() - t); ray.shutdown()")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(run.stdout.strip().splitlines()[-1])


def texts(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*.txt"))}


def run(args: argparse.Namespace) -> dict:
    """The whole benchmark (see the module docstring)."""
    cache = args.cache.expanduser()
    nemo = TINY_WORDS if args.tiny else model_file(cache, tiny=False)
    with tempfile.TemporaryDirectory(prefix="bench-ray-", dir=cache) as tmp_name:
        tmp = Path(tmp_name)
        models = tmp / "local_models"
        subprocess.run([sys.executable, str(PROJECT_DIR / "setup_local_models.py"), "--models-dir", str(models),
                        "--only", "parakeet", "--from", str(nemo), "--no-check-load"], check=True,
                       capture_output=True)
        clips = tmp / "clips"
        audio_s = make_clips(cache, clips, args.clips, *args.seconds)
        one = tmp / "one"
        one.mkdir()
        first = sorted(clips.rglob("*.wav"))[0]
        (one / first.name).write_bytes(first.read_bytes())
        command(models, one, tmp / "warm", ray=False)  # the file cache warm for both
        local_s, _ = command(models, clips, tmp / "local", ray=False)
        with ActorRss() as actors:
            ray_s, printed = command(models, clips, tmp / "ray", ray=True)
        assert texts(tmp / "local") == texts(tmp / "ray"), "the Ray job wrote other files than the local job"
        local_ones, ray_ones = [], []
        for i in range(args.repeats):
            for ray in (False, True) if i % 2 == 0 else (True, False):
                wall, _ = command(models, one, tmp / f"one-{i}-{ray}", ray=ray)
                (ray_ones if ray else local_ones).append(wall)
        local_one_s, ray_one_s = statistics.median(local_ones), statistics.median(ray_ones)
        init = [ray_init_s() for _ in range(args.repeats)]
        return {
            "model": "the trained tiny TDT" if args.tiny else "Parakeet-TDT-0.6B-v2-shaped (random weights)",
            "clips": args.clips,
            "clip_seconds": list(args.seconds), "audio_s": audio_s, "cores": os.cpu_count(),
            "local_s": local_s, "ray_s": ray_s, "ratio": ray_s / local_s, "local_rtfx": audio_s / local_s,
            "ray_rtfx": audio_s / ray_s, "local_one_s": local_one_s, "ray_one_s": ray_one_s,
            "ray_fixed_s": ray_one_s - local_one_s, "local_ones": local_ones, "ray_ones": ray_ones,
            "ray_init_s": statistics.median(init), "ray_inits": init, "actor_peak_rss_mb": actors.peak_mb,
            "actor_processes": len(actors.pids), "ray_line": next((line for line in printed.splitlines()
                                                                    if line.startswith("[ray]")), ""),
        }


def report(r: dict) -> str:
    """The Markdown table for docs/benchmarks.md."""
    return "\n".join([
        f"{r['clips']} clips of {r['clip_seconds'][0]:g}-{r['clip_seconds'][1]:g} s ({r['audio_s'] / 60:.1f} min of "
        f"audio), {r['model']}, CPU ({r['cores']} cores), the command line from start to exit:",
        "",
        "| run | wall (s) | audio s per s |",
        "|---|---|---|",
        f"| local job (torch on {r['cores']} threads) | {r['local_s']:.1f} | {r['local_rtfx']:.1f} |",
        f"| `--ray` (local instance, 2 actors × 1 thread) | {r['ray_s']:.1f} | {r['ray_rtfx']:.1f} |",
        f"| local job, 1 clip (median of {len(r['local_ones'])}) | {r['local_one_s']:.1f} | |",
        f"| `--ray`, 1 clip (median of {len(r['ray_ones'])}) | {r['ray_one_s']:.1f} | |",
        f"| `ray.init` of a local instance alone (median of {len(r['ray_inits'])}) | {r['ray_init_s']:.1f} | |",
        "",
        f"Ray / local wall time: **{r['ratio']:.2f}**. Ray's fixed start-up cost (1 clip, Ray minus local): "
        f"**{r['ray_fixed_s']:.1f} s**. Peak RSS of a transcriber process: {r['actor_peak_rss_mb']:.0f} MB. The "
        "files written are the same.",
    ])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)))
    p.add_argument("--clips", type=int, default=60)
    p.add_argument("--seconds", type=float, nargs=2, default=(3.0, 30.0), metavar=("MIN", "MAX"))
    p.add_argument("--repeats", type=int, default=3, help="runs of the one-clip pair and of ray.init (medians)")
    p.add_argument("--tiny", action="store_true", help="the tests' trained tiny TDT (tests/data/tiny_words_tdt.nemo)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    results = run(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(json.dumps(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
