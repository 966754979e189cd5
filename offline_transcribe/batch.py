"""Files in, results out: the per-file loop that the page, the command line (and any other front end) share.

One bad file never stops the others; each ends as a ``FileResult`` with its transcript and written exports, or
with the message that explains why not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import LongAudioPolicy
from .diarize import SpeakerOptions
from .errors import AppError, FileMissingError, LocalModelError, UnexpectedError
from .exports import EXPORT_FORMATS, SPEAKER_FORMATS, safe_stem, write_exports
from .models.store import ModelStore
from .transcribe import transcribe_file
from .types import Progress, Transcript

log = logging.getLogger("transcribe.batch")


@dataclass
class FileResult:
    """What happened to one input file: its transcript and written files, or the message explaining why not."""

    path: Path
    name: str  # what the user calls the file (no folders)
    transcript: Transcript | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the file was transcribed and its outputs written."""
        return self.error is None and self.transcript is not None


def parse_formats(value: str) -> tuple[str, ...]:
    """``"srt"``, ``"srt,vtt"`` or ``"all"`` as a tuple of export formats; raises ``ValueError`` on unknown ones."""
    names = [v.strip().lower().lstrip(".") for v in value.split(",") if v.strip()]
    if not names or names == ["all"]:
        return EXPORT_FORMATS
    unknown = [n for n in names if n not in EXPORT_FORMATS + SPEAKER_FORMATS]
    if unknown:
        raise ValueError(f"unknown format {', '.join(unknown)}; choose from {', '.join(EXPORT_FORMATS)} or all")
    return tuple(dict.fromkeys(names))


def unique_stem(name: str, used: set[str]) -> str:
    """A safe file stem for ``name`` that no earlier file of this run has taken (``talk``, ``talk-2``, …)."""
    stem = base = safe_stem(Path(name).stem)
    n = 1
    while stem.lower() in used:
        n += 1
        stem = f"{base}-{n}"
    used.add(stem.lower())
    return stem


def transcribe_files(
    paths: Sequence[str | Path],
    model_key: str,
    out_dir: Path,
    *,
    store: ModelStore,
    formats: Sequence[str] = EXPORT_FORMATS,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    policy: LongAudioPolicy | None = None,
    on_done: Callable[[FileResult], None] | None = None,
    speakers: SpeakerOptions | None = None,
) -> list[FileResult]:
    """Transcribe each file in turn and write its exports to ``out_dir``; one bad file never stops the others.

    ``names`` are the names shown to the user (default: the files' own names). Errors written for the user
    (``AppError``) are kept as they are; anything else is logged with its traceback and reported briefly.
    When the model itself cannot be loaded the remaining files are not attempted (they would fail the same way).
    ``on_done`` is called with each result as soon as that file is finished. With ``speakers`` the speakers are
    identified too (and an RTTM file is written beside the others).
    """
    names = list(names) if names is not None else [Path(p).name for p in paths]
    results = [FileResult(Path(p), n) for p, n in zip(paths, names, strict=True)]
    used: set[str] = set()
    total = len(results)
    for i, res in enumerate(results):

        def report(fraction: float, message: str, i: int = i, name: str = res.name) -> None:
            if progress is not None:
                prefix = f"[{i + 1}/{total}] {name}" if total > 1 else name
                progress((i + min(max(fraction, 0.0), 1.0)) / total, f"{prefix}: {message}")

        report(0.0, "starting")
        try:
            res.transcript = _transcribe_one(res, model_key, store, report, policy, speakers)
            res.outputs = _write_outputs(res, out_dir, unique_stem(res.name, used), formats)
        except LocalModelError as exc:  # the model itself: every other file would fail the same way
            res.error = str(exc)
            for later in results[i + 1 :]:
                later.error = "Not transcribed: the model could not be loaded (see the message above)."
            for finished in results[i:]:
                if on_done is not None:
                    on_done(finished)
            break
        except AppError as exc:
            res.error, res.transcript = str(exc), None  # e.g. outputs not written: report the file as failed
        report(1.0, "done" if res.error is None else "failed")
        if on_done is not None:
            on_done(res)
    return results


def _transcribe_one(
    res: FileResult, model_key: str, store: ModelStore, report: Progress, policy: LongAudioPolicy | None,
    speakers: SpeakerOptions | None = None,
) -> Transcript:  # fmt: skip
    """``transcribe_file`` with anything that is not an ``AppError`` logged and turned into one."""
    if not res.path.is_file():
        raise FileMissingError(f"'{res.name}' was not found: {res.path}")
    try:
        return transcribe_file(res.path, model_key, store=store, progress=report, policy=policy, speakers=speakers)
    except AppError:
        raise
    except Exception as exc:
        log.exception("Transcribing %s failed", res.name)
        raise UnexpectedError(
            f"Unexpected error while transcribing '{res.name}'. The details are in the server log; please report them."
        ) from exc


def _write_outputs(res: FileResult, out_dir: Path, stem: str, formats: Sequence[str]) -> dict[str, Path]:
    """``exports.write_exports`` with file-system errors turned into a message."""
    assert res.transcript is not None
    try:
        return write_exports(res.transcript, out_dir, stem, formats)
    except OSError as exc:
        log.exception("Could not write the outputs of %s", res.name)
        raise UnexpectedError(
            f"Could not write the transcript files of '{res.name}' to {out_dir}: {exc.strerror or exc}."
        ) from exc


def summary_line(res: FileResult) -> str:
    """The one line the command prints for a file."""
    if not res.ok:
        return f"FAILED {res.path}: {' '.join(line.strip() for line in (res.error or 'failed').splitlines())}".strip()
    t = res.transcript
    assert t is not None
    written = ", ".join(str(p) for p in res.outputs.values())
    notes = f" [{' '.join(t.notes)}]" if t.notes else ""
    return (
        f"OK     {res.path} -> {written} ({t.audio_duration:.1f} s audio in {t.processing_time:.1f} s, "
        f"RTF {t.real_time_factor:.3f}, {t.device}){notes}"
    )
