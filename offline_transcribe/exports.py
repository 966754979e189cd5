"""Turn a Transcript into downloadable files: plain text, SRT and WebVTT subtitles, JSON, CSV, Markdown and Word
documents; a ZIP of many; and, when the speakers were identified, RTTM (the diarization itself) too.

Every format is a ``Writer`` in the registry ``FORMATS`` (``register`` adds one). Subtitles are shaped to the limits
of ``ExportOptions.subtitles`` (``subtitles``; default: the "standard" preset).

With speakers, the text has ``Speaker 1:`` turns, SRT cues start with ``Speaker 1:``, VTT cues carry the WebVTT
voice tag ``<v Speaker 1>``, JSON has a ``speaker`` on every segment and word plus the ``speakers`` list, and CSV
a ``speaker`` column.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pysubs2

from .diarize.rttm import to_rttm
from .documents.docx import write_docx
from .documents.markdown import to_markdown
from .subtitles import PRESETS, SubtitleOptions, shape_cues
from .types import Segment, Transcript

_MAX_STEM_BYTES = 200  # file names are limited to 255 bytes; leave room for the extension
_UNSAFE_IN_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')  # separators, Windows-reserved, control characters


def to_txt(t: Transcript) -> str:
    """The transcript text, ending with a newline."""
    return t.text.strip() + "\n"


def _subtitles(
    t: Transcript, options: SubtitleOptions | None, speaker: Callable[[str], str] | None = None,
    label: Callable[[str], str] | None = None,
) -> pysubs2.SSAFile:  # fmt: skip
    """One event per cue (``subtitles.shape_cues``); ``speaker`` turns a cue's speaker into its first characters,
    ``label`` into the text that takes room on its first line."""
    subs = pysubs2.SSAFile()
    for cue in shape_cues(t.segments, options or PRESETS["standard"], label, until=t.audio_duration or None):
        event = pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000))
        first = speaker(cue.speaker) if speaker and cue.speaker and not label else ""
        event.plaintext = first + cue.text
        subs.append(event)
    return subs


def to_srt(t: Transcript, options: SubtitleOptions | None = None) -> str:
    """SubRip subtitles shaped by ``options`` (default "standard"), each cue of a speaker starting ``Speaker 1:``."""
    subs = _subtitles(t, options, label=lambda name: f"{name}:")
    return subs.to_string("srt", keep_ssa_tags=True)  # keep_ssa_tags: text like "{laughs}" stays as is


def _vtt_voice(name: str) -> str:
    """A WebVTT voice tag (``&``, ``<`` and ``>`` escaped as the format requires)."""
    return "<v " + name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + ">"


def to_vtt(t: Transcript, options: SubtitleOptions | None = None) -> str:
    """WebVTT subtitles shaped by ``options`` (default "standard"), with voice tags."""
    return _subtitles(t, options, _vtt_voice).to_string("vtt", keep_ssa_tags=True)


def to_json(t: Transcript) -> str:
    """Everything in the transcript (segments, words, model, timings) as indented JSON."""
    return json.dumps(t.to_dict(), indent=2, ensure_ascii=False) + "\n"


def to_csv(t: Transcript) -> str:
    """One row per segment: start and end in seconds (3 decimals), the speaker (when identified) and the text,
    with a header row."""
    out = io.StringIO()
    writer = csv.writer(out)
    speaker: Callable[[Segment], list[str]] = (lambda seg: [seg.speaker or ""]) if t.speakers else (lambda seg: [])
    writer.writerow(["start", "end", *(["speaker"] if t.speakers else []), "text"])
    writer.writerows([f"{seg.start:.3f}", f"{seg.end:.3f}", *speaker(seg), seg.text] for seg in t.segments)
    return out.getvalue()


def to_rttm_file(t: Transcript) -> str:
    """The speaker turns as RTTM (``diarize.rttm``), the recording named after the source file."""
    return to_rttm(t.speaker_turns, Path(t.source).stem or "audio")


@dataclass(frozen=True)
class ExportOptions:
    """How the files are written: the subtitles' limits."""

    subtitles: SubtitleOptions = field(default_factory=lambda: PRESETS["standard"])


class Writer(Protocol):
    """One export format: writes a transcript to a file."""

    needs_speakers: bool  # written only for transcripts whose speakers were identified

    def write(self, t: Transcript, path: Path, options: ExportOptions) -> None:
        """Write ``t`` to ``path`` (UTF-8 for text)."""
        ...


@dataclass(frozen=True)
class TextWriter:
    """A format whose file is text made by ``render``."""

    render: Callable[[Transcript, ExportOptions], str]
    needs_speakers: bool = False

    def write(self, t: Transcript, path: Path, options: ExportOptions) -> None:
        path.write_text(self.render(t, options), encoding="utf-8", newline="")  # newline="": csv's \r\n as is


@dataclass(frozen=True)
class FileWriter:
    """A format whose library writes the file itself (``write(t, path)``)."""

    write_file: Callable[[Transcript, Path], None]
    needs_speakers: bool = False

    def write(self, t: Transcript, path: Path, options: ExportOptions) -> None:
        self.write_file(t, path)


FORMATS: dict[str, Writer] = {}


def register(name: str, writer: Writer) -> None:
    """Add an export format (its name is also the file extension)."""
    FORMATS[name] = writer


register("txt", TextWriter(lambda t, o: to_txt(t)))
register("srt", TextWriter(lambda t, o: to_srt(t, o.subtitles)))
register("vtt", TextWriter(lambda t, o: to_vtt(t, o.subtitles)))
register("json", TextWriter(lambda t, o: to_json(t)))
register("csv", TextWriter(lambda t, o: to_csv(t)))
register("docx", FileWriter(write_docx))
register("md", TextWriter(lambda t, o: to_markdown(t)))
register("rttm", TextWriter(lambda t, o: to_rttm_file(t), needs_speakers=True))

EXPORT_FORMATS = tuple(name for name, w in FORMATS.items() if not w.needs_speakers)
SPEAKER_FORMATS = tuple(name for name, w in FORMATS.items() if w.needs_speakers)  # only with identified speakers


def safe_stem(stem: str) -> str:
    """``stem`` made safe as a file name: no folders, no leading dots; letters of any script and spaces stay."""
    stem = _UNSAFE_IN_NAMES.sub("_", stem).strip(" ._")
    stem = stem.encode("utf-8")[:_MAX_STEM_BYTES].decode("utf-8", errors="ignore").strip(" ._")
    return stem or "transcript"


def write_exports(
    t: Transcript, out_dir: Path, stem: str, formats: Iterable[str] = EXPORT_FORMATS,
    options: ExportOptions | None = None,
) -> dict[str, Path]:  # fmt: skip
    """Write ``<stem>.<format>`` files (UTF-8) into ``out_dir`` and return them by format.

    When the speakers were identified, RTTM is written too; without speakers it is left out (there are no turns).
    """
    options = options or ExportOptions()
    formats = list(formats)
    if t.speakers and "rttm" not in formats:
        formats.append("rttm")
    elif not t.speakers:
        formats = [f for f in formats if f not in SPEAKER_FORMATS]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"Unknown export format(s) {unknown}; choose from {', '.join(EXPORT_FORMATS)}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = safe_stem(stem)
    paths = {}
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        FORMATS[fmt].write(t, path, options)
        paths[fmt] = path
    return paths


def write_zip(paths: Iterable[Path], zip_path: Path) -> Path:
    """One ZIP holding ``paths`` (flat, by file name: the names are unique within a run); returns ``zip_path``."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.write(path, arcname=path.name)
    return zip_path
