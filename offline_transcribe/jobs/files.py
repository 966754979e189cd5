"""Several files from one request (the page's multi-file upload) through the job's batched path, with what
``batch.transcribe_files`` gives: a ``FileResult`` per file, in order, exports written to one folder, progress
lines per file, and a cancel that stops before the next batch and keeps what is finished.

Files are decoded ahead in a background thread, grouped by duration into model calls (``batcher.batches``) and
transcribed by the job's ``LocalRunner``; long files go alone, with their own progress. When the files cannot share
a model call (one file, speakers identified, phrases to boost, a family without a batch call) this is
``transcribe_files`` itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from ..batch import (
    CANCELLED_LATER,
    MODEL_FAILED_LATER,
    FileResult,
    Outcome,
    _write_outputs,
    output_stems,
    transcribe_files,
)
from ..config import LongAudioPolicy
from ..diarize import SpeakerOptions
from ..errors import AppError, CancelledError, LocalModelError
from ..exports import EXPORT_FORMATS, ExportOptions
from ..models.store import ModelStore
from ..types import Progress
from ..vocabulary import Vocabulary
from .batcher import batches, decode_ahead
from .job import default_batch_seconds
from .runner import LocalRunner
from .sources import Item


def transcribe_files_batched(
    paths: Sequence[str | Path],
    model_key: str,
    out_dir: Path,
    *,
    store: ModelStore,
    formats: Sequence[str] = EXPORT_FORMATS,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    policy: LongAudioPolicy | None = None,
    speakers: SpeakerOptions | None = None,
    export_options: ExportOptions | None = None,
    vocabulary: Vocabulary | None = None,
    seconds_per_batch: float | None = None,
) -> list[FileResult]:
    """``batch.transcribe_files`` (same arguments, same results and messages), files sharing model calls.

    ``progress(fraction, message)`` is called before each batch (``[3–6/10] …: transcribing 4 files together``),
    after it, and within a file that goes alone; when it raises ``CancelledError`` the run stops there: the files
    finished keep their results, the others get the cancel message.
    """
    runner = LocalRunner(store, model_key, policy, speakers, vocabulary)
    if len(paths) < 2 or not runner.batches:
        return transcribe_files(paths, model_key, out_dir, store=store, formats=formats, names=names,
                                progress=progress, policy=policy, speakers=speakers, export_options=export_options,
                                vocabulary=vocabulary)
    names = list(names) if names is not None else [Path(p).name for p in paths]
    results = [FileResult(Path(p), n) for p, n in zip(paths, names, strict=True)]
    stems = output_stems(names)
    total = len(results)
    items: list[Item] = []
    where: dict[int, int] = {}  # id(item) -> index in results
    for i, res in enumerate(results):
        if res.path.is_file():
            items.append(Item(res.path, stems[i]))
            where[id(items[-1])] = i
        else:
            res.error = f"'{res.name}' was not found: {res.path}"
    finished: set[int] = {i for i, res in enumerate(results) if res.error is not None}
    started: list[int] = []

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(min(max(fraction, 0.0), 1.0), message)

    try:
        if not store.status(model_key).ready:
            report(0.0, f"Loading {runner.spec.display_name} (first use)")
            store.load(model_key)
        cap, alone_above = seconds_per_batch or default_batch_seconds(store), runner.policy.local_attention_above_s
        with contextlib.closing(decode_ahead(items, workers=1)) as decoded:
            for batch in batches(decoded, cap, alone_above, in_order=True):
                started = [where[id(d.item)] for d in batch]
                done = len(finished)
                report(done / total, _batch_message(started, names, done, total))

                def alone(fraction: float, message: str, i: int = started[0], done: int = done) -> None:
                    report((done + min(max(fraction, 0.0), 1.0)) / total, f"[{i + 1}/{total}] {names[i]}: {message}")

                for i, result in zip(started, runner.run(batch, progress=alone), strict=True):
                    res = results[i]
                    res.transcript, res.error = result.transcript, result.error
                    if res.error is None and res.outcome is Outcome.DONE:
                        try:
                            res.outputs = _write_outputs(res, out_dir, stems[i], formats, export_options)
                        except AppError as exc:
                            res.error, res.transcript = str(exc), None
                    finished.add(i)
                last = started[-1]
                report(len(finished) / total, f"[{last + 1}/{total}] {names[last]}: {results[last].outcome.value}")
    except CancelledError as exc:  # stopped by the person: what is finished stays, the rest is not started
        _end_rest(results, finished, started, str(exc), CANCELLED_LATER)
    except LocalModelError as exc:  # the model itself: every other file would fail the same way
        _end_rest(results, finished, started, str(exc), MODEL_FAILED_LATER)
    return results


def _batch_message(started: list[int], names: list[str], done: int, total: int) -> str:
    if len(started) == 1:
        return f"[{started[0] + 1}/{total}] {names[started[0]]}: starting"
    shown = ", ".join(names[i] for i in started[:3]) + (", …" if len(started) > 3 else "")
    return f"[{done + 1}–{done + len(started)}/{total}] {shown}: transcribing {len(started)} files together"


def _end_rest(results: list[FileResult], finished: set[int], current: list[int], now: str, later: str) -> None:
    """Files of the current batch (the first file left, before any batch) get ``now``, files not started
    ``later``; finished ones are kept."""
    left = [i for i in range(len(results)) if i not in finished]
    current = [i for i in current if i not in finished] or left[:1]
    for i in left:
        results[i].error, results[i].transcript = (now if i in current else later), None
