#!/usr/bin/env python
"""The model alone: how much audio per call suits a CPU (``--batch-seconds``), with the Parakeet-shaped model.

    python bench/bench_batch_model.py                          # 16 clips of 3-30 s, caps 0 20 30 60, 2 rounds
    python bench/bench_batch_model.py --seconds 3 15           # short clips, where batching helps most

``nemo_tdt.batch_words`` (the job's model call) over the same clips grouped by the job's own batcher: sorted by
duration, cut into batches of at most CAP seconds of audio (cap 0: one file per call). The caps alternate within
each round, so a slow spell of a shared machine touches all of them. Prints audio seconds per wall second (RTFx)
for each cap and round, and the minor page faults (memory the kernel had to hand out afresh) of each pass.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests"), str(PROJECT_DIR / "bench")]

from bench_batch import make_clips, model_file  # noqa: E402
from bench_load_and_transcribe import CACHE_ENV, DEFAULT_CACHE  # noqa: E402


def groups(audios: list, cap: float) -> list[list]:
    """``audios`` in the job's batches (``jobs.batcher.batches``: sorted by duration, at most ``cap`` seconds of audio
    per batch; cap 0: one file per batch)."""
    from offline_transcribe.jobs.batcher import Decoded, batches

    return [[d.audio for d in batch] for batch in batches((Decoded(None, a, None, 0.0) for a in audios), cap, math.inf)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)))
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--seconds", type=float, nargs=2, default=(3.0, 30.0), metavar=("MIN", "MAX"))
    p.add_argument("--caps", type=float, nargs="+", default=[0, 20, 30, 60], metavar="S")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--tiny", action="store_true", help="the tests' tiny model (a dry run)")
    args = p.parse_args(argv)
    cache = args.cache.expanduser()
    nemo = model_file(cache, args.tiny)
    with tempfile.TemporaryDirectory(prefix="bench-batch-model-", dir=cache) as tmp_name:
        tmp = Path(tmp_name)
        subprocess.run(
            [
                sys.executable,
                str(PROJECT_DIR / "setup_local_models.py"),
                "--models-dir",
                str(tmp / "local_models"),
                "--only",
                "parakeet",
                "--from",
                str(nemo),
                "--no-check-load",
            ],
            check=True,
            capture_output=True,
        )
        audio_s = make_clips(cache, tmp / "clips", args.clips, *args.seconds)
        import soundfile
        import torch

        from offline_transcribe import ModelStore
        from offline_transcribe.backends.nemo_tdt import batch_words

        model = ModelStore(tmp / "local_models", device="cpu").load("parakeet").model
        audios = sorted(
            (soundfile.read(str(f), dtype="float32")[0] for f in sorted((tmp / "clips").rglob("*.wav"))), key=len
        )
        batch_words(model, audios[:2])  # warm-up
        print(
            f"{len(audios)} clips of {args.seconds[0]:g}-{args.seconds[1]:g} s ({audio_s:.0f} s of audio), "
            f"torch threads {torch.get_num_threads()}; RTFx (minor page faults, thousands) per cap and round:\n"
        )
        rtfx: dict[float, list[float]] = {cap: [] for cap in args.caps}
        print("| round | " + " | ".join(f"cap {c:g} s" if c else "one file per call" for c in args.caps) + " |")
        print("|---|" + "---|" * len(args.caps))
        for round_no in range(args.rounds):
            cells = []
            for cap in args.caps:
                faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                started = time.perf_counter()
                calls = groups(audios, cap)
                for batch in calls:
                    batch_words(model, batch)
                rtfx[cap].append(audio_s / (time.perf_counter() - started))
                faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
                cells.append(f"{rtfx[cap][-1]:.2f} ({faults / 1000:.0f}k; {len(calls)} calls)")
            print(f"| {round_no + 1} | " + " | ".join(cells) + " |", flush=True)
        base = statistics.median(rtfx[args.caps[0]])
        print(
            "| median, against the first | "
            + " | ".join(f"{statistics.median(v):.2f} ({statistics.median(v) / base:.2f}x)" for v in rtfx.values())
            + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
