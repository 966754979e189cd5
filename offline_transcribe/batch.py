"""Files in, results out: the per-file loop that the page, the command line (and any other front end) share.

One bad file never stops the others; each ends as a ``FileResult`` with one of three outcomes: done (transcript
and written exports), no speech recognised (a transcript without text: nothing is written, and the message says
what to try), or failed (the message that explains why).

Output names: ``<stem>.<format>``; when two inputs share a stem but not their name (``b.wav``, ``b.mp3``) both
keep their extension (``b.wav.srt``, ``b.mp3.srt``); the same name twice is numbered (``b.srt``, ``b-2.srt``).
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import LongAudioPolicy
from .diarize import SpeakerOptions
from .errors import AppError, CancelledError, FileMissingError, LocalModelError, UnexpectedError
from .exports import EXPORT_FORMATS, SPEAKER_FORMATS, ExportOptions, safe_stem, write_exports
from .models.registry import transcription_models
from .models.store import ModelStore
from .transcribe import transcribe_file
from .types import Progress, Transcript
from .vocabulary import Vocabulary

log = logging.getLogger("transcribe.batch")


class Outcome(enum.Enum):
    """How one file ended."""

    DONE = "done"
    NO_SPEECH = "no speech"
    FAILED = "failed"


@dataclass
class FileResult:
    """What happened to one input file: its transcript and written files, or the message explaining why not."""

    path: Path
    name: str  # what the user calls the file (no folders)
    transcript: Transcript | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    error: str | None = None

    @property
    def outcome(self) -> Outcome:
        """Done (text recognised, outputs written), no speech recognised, or failed."""
        if self.error is not None or self.transcript is None:
            return Outcome.FAILED
        return Outcome.DONE if self.transcript.text.strip() else Outcome.NO_SPEECH

    @property
    def ok(self) -> bool:
        """True when the file was transcribed, text was recognised and the outputs were written."""
        return self.outcome is Outcome.DONE

    @property
    def message(self) -> str:
        """What the user reads about a file that is not done: the error, or what to try when no speech was found."""
        if self.outcome is Outcome.NO_SPEECH:
            assert self.transcript is not None
            return no_speech_message(self.name, self.transcript)
        return self.error or ""


def no_speech_message(name: str, transcript: Transcript, installed: Collection[str] | None = None) -> str:
    """No speech recognised in a file: what the model heard (nothing), why that may be, and what to try (the other
    transcription models, only the ``installed`` ones when that is given)."""
    others = [spec for key, spec in transcription_models().items()
              if key != transcript.model and (installed is None or key in installed)]  # fmt: skip
    languages = [spec.display_name for spec in others if len(spec.languages) > 1]
    lines = [
        f"No speech recognised in '{name}' ({transcript.audio_duration:.1f} s of audio with {transcript.model_name}); "
        "no files were written.",
        *transcript.notes,
        "Try: play the file to check that it has speech at a normal level (not only music or noise), "
        + (f"or another model ({', '.join(s.display_name for s in others)})" if others else "or a clearer recording")
        + (f"; for speech that is not in English: {', '.join(languages)}." if languages else "."),
    ]
    return "\n".join(lines)


def parse_formats(value: str) -> tuple[str, ...]:
    """``"srt"``, ``"srt,vtt"`` or ``"all"`` as a tuple of export formats; raises ``ValueError`` on unknown ones."""
    names = [v.strip().lower().lstrip(".") for v in value.split(",") if v.strip()]
    if not names or names == ["all"]:
        return EXPORT_FORMATS
    unknown = [n for n in names if n not in EXPORT_FORMATS + SPEAKER_FORMATS]
    if unknown:
        raise ValueError(f"unknown format {', '.join(unknown)}; choose from {', '.join(EXPORT_FORMATS)} or all")
    return tuple(dict.fromkeys(names))


def output_stems(names: Sequence[str]) -> list[str]:
    """A file stem per input name that no other input of the run shares (see the module docstring)."""
    stems = [safe_stem(Path(name).stem) for name in names]
    full_names: dict[str, set[str]] = {}
    for stem, name in zip(stems, names, strict=True):
        full_names.setdefault(stem.lower(), set()).add(Path(name).name.lower())
    stems = [
        safe_stem(Path(name).name) if len(full_names[stem.lower()]) > 1 else stem
        for stem, name in zip(stems, names, strict=True)
    ]
    counts: Counter[str] = Counter()
    numbered = []
    for stem in stems:
        counts[stem.lower()] += 1
        numbered.append(stem if counts[stem.lower()] == 1 else f"{stem}-{counts[stem.lower()]}")
    return numbered


CANCELLED_LATER = "Not transcribed: the run was cancelled."  # the files after a cancel
MODEL_FAILED_LATER = "Not transcribed: the model could not be loaded (see the message above)."


def planned_outputs(names: Sequence[str], out_dir: Path, formats: Sequence[str]) -> list[Path]:
    """Every path ``transcribe_files`` may write for these inputs (to refuse overwriting before any work)."""
    return [out_dir / f"{stem}.{fmt}" for stem in output_stems(names) for fmt in formats]


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
    on_start: Callable[[int, FileResult], None] | None = None,
    on_done: Callable[[FileResult], None] | None = None,
    speakers: SpeakerOptions | None = None,
    export_options: ExportOptions | None = None,
    vocabulary: Vocabulary | None = None,
) -> list[FileResult]:
    """Transcribe each file in turn and write its exports to ``out_dir``; one bad file never stops the others.

    ``names`` are the names shown to the user (default: the files' own names). Errors written for the user
    (``AppError``) are kept as they are; anything else is logged with its traceback and reported briefly.
    When the model itself cannot be loaded the remaining files are not attempted (they would fail the same way).
    A file with no speech recognised gets no outputs. ``on_start`` is called with each file's index and result
    before it begins, ``on_done`` with its result as soon as it is finished. With ``speakers`` the speakers are
    identified too (and an RTTM file is written beside the others). ``export_options``: how the files are written
    (subtitle shape); with ``vocabulary`` its phrases are boosted and its replacements applied.
    """
    names = list(names) if names is not None else [Path(p).name for p in paths]
    results = [FileResult(Path(p), n) for p, n in zip(paths, names, strict=True)]
    stems = output_stems(names)
    total = len(results)
    for i, res in enumerate(results):

        def report(fraction: float, message: str, i: int = i, name: str = res.name) -> None:
            if progress is not None:
                prefix = f"[{i + 1}/{total}] {name}" if total > 1 else name
                progress((i + min(max(fraction, 0.0), 1.0)) / total, f"{prefix}: {message}")

        if on_start is not None:
            on_start(i, res)
        try:
            report(0.0, "starting")
            res.transcript = _transcribe_one(res, model_key, store, report, policy, speakers, vocabulary)
            if res.outcome is Outcome.DONE:
                res.outputs = _write_outputs(res, out_dir, stems[i], formats, export_options)
        except CancelledError as exc:  # stopped by the person: what is finished stays, the rest is not started
            res.error, res.transcript = str(exc), None
            for later in results[i + 1 :]:
                later.error = CANCELLED_LATER
            for finished in results[i:]:
                if on_done is not None:
                    on_done(finished)
            break
        except LocalModelError as exc:  # the model itself: every other file would fail the same way
            res.error = str(exc)
            for later in results[i + 1 :]:
                later.error = MODEL_FAILED_LATER
            for finished in results[i:]:
                if on_done is not None:
                    on_done(finished)
            break
        except AppError as exc:
            res.error, res.transcript = str(exc), None  # e.g. outputs not written: report the file as failed
        report(1.0, res.outcome.value)
        if on_done is not None:
            on_done(res)
    return results


def _transcribe_one(
    res: FileResult, model_key: str, store: ModelStore, report: Progress, policy: LongAudioPolicy | None,
    speakers: SpeakerOptions | None = None, vocabulary: Vocabulary | None = None,
) -> Transcript:  # fmt: skip
    """``transcribe_file`` with anything that is not an ``AppError`` logged and turned into one."""
    if not res.path.is_file():
        raise FileMissingError(f"'{res.name}' was not found: {res.path}")
    try:
        return transcribe_file(res.path, model_key, store=store, progress=report, policy=policy, speakers=speakers,
                               vocabulary=vocabulary)
    except AppError:
        raise
    except Exception as exc:
        log.exception("Transcribing %s failed", res.name)
        raise UnexpectedError(
            f"Unexpected error while transcribing '{res.name}'. The details are in the server log; please report them."
        ) from exc


def _write_outputs(
    res: FileResult, out_dir: Path, stem: str, formats: Sequence[str], options: ExportOptions | None = None
) -> dict[str, Path]:
    """``exports.write_exports`` with file-system errors turned into a message."""
    assert res.transcript is not None
    try:
        return write_exports(res.transcript, out_dir, stem, formats, options)
    except OSError as exc:
        log.exception("Could not write the outputs of %s", res.name)
        raise UnexpectedError(
            f"Could not write the transcript files of '{res.name}' to {out_dir}: {exc.strerror or exc}."
        ) from exc


def summary_line(res: FileResult) -> str:
    """The one line the command prints for a file: ``OK``, ``EMPTY`` (no speech recognised) or ``FAILED``."""
    if res.outcome is not Outcome.DONE:
        label = "EMPTY " if res.outcome is Outcome.NO_SPEECH else "FAILED"
        return f"{label} {res.path}: {' '.join(line.strip() for line in res.message.splitlines())}".strip()
    t = res.transcript
    assert t is not None
    written = ", ".join(str(p) for p in res.outputs.values())
    notes = f" [{' '.join(t.notes)}]" if t.notes else ""
    return (
        f"OK     {res.path} -> {written} ({t.audio_duration:.1f} s audio in {t.processing_time:.1f} s, "
        f"RTF {t.real_time_factor:.3f}, {t.device}){notes}"
    )
