"""The command line's side of jobs: ``--transcribe`` with folders or manifests, ``--status`` and ``--watch``.

Exit statuses as for ``--transcribe`` of files: 0 all done, 1 a file failed (or the job was refused), 3 nothing
failed but a file had no speech.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..errors import AppError
from ..models.store import ModelStore
from .job import JobOptions, run_job
from .ledger import status_report
from .progress import summary
from .sources import collect

log = logging.getLogger("transcribe.jobs")

EXIT_OK, EXIT_FAILED, EXIT_NO_SPEECH = 0, 1, 3


def run(store: ModelStore, inputs: Sequence[str], opts: JobOptions, verbose: bool = False,
        out: TextIO | None = None) -> int:
    """Transcribe files, folders and manifests as one job in ``opts.out_dir``; prints failures (and, with
    ``verbose``, every file and every skipped file), then the summary."""
    out = out or sys.stdout
    try:
        store.validate([opts.model_key])
    except AppError as exc:
        print(str(exc), file=out)
        return EXIT_FAILED

    def skipped(path: Path, why: str) -> None:
        if verbose:
            print(f"SKIP   {path}: {why}", file=sys.stderr, flush=True)

    try:
        items = collect(inputs, opts.out_dir, skipped)
        counts = run_job(items, store, opts, out=out, verbose=verbose)
    except AppError as exc:  # refused before the start, or the model could not be loaded
        print(str(exc), file=out)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("Stopped. Run the same command again to go on where the job stopped.", file=sys.stderr, flush=True)
        return 130
    print(summary(counts, opts.out_dir), file=out, flush=True)
    if counts.failed:
        return EXIT_FAILED
    return EXIT_NO_SPEECH if counts.no_speech else EXIT_OK


def status(out_dir: Path) -> int:
    """Print the counts and the failures of the job in ``out_dir`` without transcribing (1 when there is none)."""
    report = status_report(out_dir)
    print(report)
    return EXIT_OK if not report.startswith("No job in") else EXIT_FAILED
