"""A job: items (``sources``) checked against the ledger, decoded ahead and batched (``batcher``), transcribed
(``runner``), written atomically (``outputs``) and recorded; progress and a summary on the way.

Running the same job again skips what is done (a dictionary look-up and a ``stat`` per file), redoes files that
changed (size, mtime and then the content fingerprint) and retries failed files up to ``retries`` more times.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..batch import FileResult, summary_line
from ..config import LongAudioPolicy
from ..diarize import SpeakerOptions
from ..errors import JobRefusedError
from ..exports import EXPORT_FORMATS, ExportOptions
from ..models.store import ModelStore
from .ledger import FINISHED, Ledger, Row, fingerprint
from .outputs import clean_temporary, output_paths, write_atomic
from .progress import Counts, JobProgress
from .runner import Result
from .runners import make_runner
from .sources import Item

log = logging.getLogger("transcribe.jobs")

DEFAULT_RETRIES = 2
# Audio per model call. On a CPU measured on a quiet machine (bench/bench_batch_model.py; docs/benchmarks.md, jobs):
# 30 s beat 60 s in every round; one file per call is as fast on 3-30 s clips, slower on 3-15 s ones. On a GPU a
# documented value, not measured (no GPU was lent).
BATCH_SECONDS = {"cpu": 30.0, "cuda": 1920.0}


@dataclass(frozen=True)
class JobOptions:
    """How a job runs: the model, what it writes, and how it batches and retries."""

    model_key: str
    out_dir: Path
    formats: Sequence[str] = EXPORT_FORMATS
    speakers: SpeakerOptions | None = None
    retries: int = DEFAULT_RETRIES
    batch_seconds: float | None = None  # None: BATCH_SECONDS for the store's device
    overwrite: bool = False
    decode_workers: int = 0  # threads decoding files ahead; 0: one on a machine of 2 cores or fewer, else two
    policy: LongAudioPolicy | None = None
    runner: str = "local"  # where the batches run: a name in runners.RUNNERS
    runner_options: object = None  # that runner's own options (e.g. on_ray.RayOptions)
    export_options: ExportOptions | None = None  # how subtitles are shaped (None: the standard preset)

    def fingerprinted(self) -> dict:
        """The options that change what is written (a ledger of other options is refused)."""
        return {"formats": sorted(self.formats), "speakers": None if self.speakers is None else repr(self.speakers),
                "exports": repr(self.export_options or ExportOptions())}


@dataclass
class Plan:
    """What a job has to do: the items to transcribe with their (size, mtime, fingerprint), and the counts of
    what it skips."""

    todo: list[tuple[Item, int, int, str]]
    counts: Counts
    failed_now: list[tuple[Item, str]]  # known bad before decoding, recorded failed by ``plan``


def plan(items: Sequence[Item], ledger: Ledger, opts: JobOptions) -> Plan:
    """Check each item against the ledger; items known bad before decoding are recorded failed at once."""
    rows = ledger.rows()
    counts = Counts()
    todo: list[tuple[Item, int, int, str]] = []
    failed_now: list[tuple[Item, str]] = []
    for item in items:
        row = rows.get(item.key)
        error, st = item.error, None
        if error is None:
            try:
                st = os.stat(item.path)
            except OSError as exc:
                error = f"'{item.path}' could not be read ({exc.strerror or exc})."
        if error is not None or st is None:
            if row is not None and row.state == "failed" and row.attempts > opts.retries:
                counts.failed += 1
                continue
            ledger.claim([(item.key, str(item.path), item.stem, None, None, None)])
            ledger.finish(item.key, "failed", error=error)
            failed_now.append((item, error))
            counts.failed += 1
            continue
        if row is not None and row.size == st.st_size and row.state in (*FINISHED, "failed"):
            unchanged = row.mtime_ns == st.st_mtime_ns or _same_content(item, row, st.st_size)
            if unchanged and row.state in FINISHED:
                if row.mtime_ns != st.st_mtime_ns:
                    ledger.touch(item.key, st.st_mtime_ns)  # touched, not changed
                counts.skipped += 1
                continue
            if unchanged and row.attempts > opts.retries:  # failed too often: left until the file changes
                counts.failed += 1
                continue
        todo.append((item, st.st_size, st.st_mtime_ns, ""))
    if not opts.overwrite:
        foreign = [p for item, *_ in todo if item.key not in rows
                   for p in output_paths(opts.out_dir, item.stem, opts.formats) if p.exists()]
        if foreign:
            shown = "\n".join(f"  {p}" for p in foreign[:10]) + ("\n  …" if len(foreign) > 10 else "")
            raise JobRefusedError(
                f"Nothing transcribed: these output files already exist and this folder's job did not write them:\n"
                f"{shown}\nAdd --overwrite to replace them, or choose another folder with --output-dir.")
    return Plan(todo, counts, failed_now)


def _same_content(item: Item, row: Row, size: int) -> bool:
    try:
        return row.fingerprint is not None and fingerprint(item.path, size) == row.fingerprint
    except OSError:
        return False


def run_job(items: Sequence[Item], store: ModelStore, opts: JobOptions, out: TextIO | None = None,
            err: TextIO | None = None, verbose: bool = False) -> Counts:
    """Transcribe ``items`` into ``opts.out_dir`` with the folder's ledger; one line per file ended on ``out``
    (failures and no speech always, done files with ``verbose``); returns the counts. Refuses
    (``JobRefusedError``) before any work as ``Ledger.open`` and ``plan`` say."""
    out = out or sys.stdout
    ledger = Ledger.open(opts.out_dir, opts.model_key, opts.fingerprinted())
    try:
        ledger.recover()
        clean_temporary(opts.out_dir)
        job = plan(items, ledger, opts)
        counts = job.counts
        for item, error in job.failed_now:
            print(summary_line(FileResult(item.path, item.name, error=error)), file=out, flush=True)
        if not job.todo:
            return counts
        runner = make_runner(store, opts, err)  # where the batches run (runners.RUNNERS)
        progress = JobProgress(len(job.todo), counts, err)
        stats = {item.key: (size, mtime) for item, size, mtime, _ in job.todo}

        def claim(claimed: Sequence[Item]) -> None:
            ledger.claim([(i.key, str(i.path), i.stem, *stats[i.key], _fingerprint(i, stats[i.key][0]))
                          for i in claimed])

        try:
            for result in runner.results([t[0] for t in job.todo], claim):
                _record(result, ledger, opts, counts, out, verbose)
                progress.update()
        finally:
            runner.close()
            progress.close()
            clean_temporary(opts.out_dir)
        return counts
    except BaseException:
        ledger.recover()  # Ctrl-C or an error: what was running is pending again
        raise
    finally:
        ledger.close()


def _has_cuda() -> bool:
    from ..devices import default_device

    return default_device().startswith("cuda")


def default_batch_seconds(store: ModelStore) -> float:
    """The audio per model call measured for the store's device (``BATCH_SECONDS``)."""
    device = (store.device or ("cuda" if _has_cuda() else "cpu")).split(":")[0]
    return BATCH_SECONDS.get(device, BATCH_SECONDS["cpu"])


def _fingerprint(item: Item, size: int) -> str | None:
    try:
        return fingerprint(item.path, size)
    except OSError:
        return None


def _record(result: Result, ledger: Ledger, opts: JobOptions, counts: Counts, out: TextIO, verbose: bool) -> None:
    """Write one result's outputs and its row; print its line."""
    item = result.decoded.item
    res = FileResult(item.path, item.name, result.transcript, error=result.error)
    if result.transcript is not None and result.error is None and res.ok:
        try:
            res.outputs = write_atomic(result.transcript, opts.out_dir, item.stem, opts.formats, opts.export_options)
        except OSError as exc:
            res.error, res.transcript = (f"Could not write the transcript files of '{item.path}' to "
                                         f"{opts.out_dir}: {exc.strerror or exc}."), None
    t = res.transcript
    state = {"done": "done", "no speech": "no_speech", "failed": "failed"}[res.outcome.value]
    ledger.finish(item.key, state, {k: str(v) for k, v in res.outputs.items()}, res.message or None,
                  t.audio_duration if t else None, t.processing_time if t else None)
    if state == "done":
        counts.done += 1
    elif state == "no_speech":
        counts.no_speech += 1
    else:
        counts.failed += 1
    counts.audio_s += t.audio_duration if t else 0.0
    if state != "done" or verbose:
        print(summary_line(res), file=out, flush=True)
