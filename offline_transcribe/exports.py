"""Turn a Transcript into downloadable files: plain text, SRT and WebVTT subtitles, JSON and CSV; a ZIP of many;
and, when the speakers were identified, RTTM (the diarization itself) too.

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
from pathlib import Path

import pysubs2

from .diarize.rttm import to_rttm
from .types import Segment, Transcript

EXPORT_FORMATS = ("txt", "srt", "vtt", "json", "csv")
SPEAKER_FORMATS = ("rttm",)  # written only for transcripts whose speakers were identified

_MAX_STEM_BYTES = 200  # file names are limited to 255 bytes; leave room for the extension
_UNSAFE_IN_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')  # separators, Windows-reserved, control characters


def to_txt(t: Transcript) -> str:
    """The transcript text, ending with a newline."""
    return t.text.strip() + "\n"


def _subtitles(t: Transcript, speaker: Callable[[str], str] | None = None) -> pysubs2.SSAFile:
    """One event per segment with text; ``speaker`` turns a segment's speaker into the cue's first characters."""
    subs = pysubs2.SSAFile()
    for seg in t.segments:
        if not seg.text.strip():
            continue  # an empty cue would end the subtitle block early
        event = pysubs2.SSAEvent(start=pysubs2.make_time(s=seg.start), end=pysubs2.make_time(s=seg.end))
        text = "\n".join(line.strip() for line in seg.text.splitlines() if line.strip())
        event.plaintext = (speaker(seg.speaker) if speaker and seg.speaker else "") + text
        subs.append(event)
    return subs


def to_srt(t: Transcript) -> str:
    """SubRip subtitles, one cue per segment (segments without text are left out), ``Speaker 1: `` first."""
    subs = _subtitles(t, lambda name: f"{name}: ")
    return subs.to_string("srt", keep_ssa_tags=True)  # keep_ssa_tags: text like "{laughs}" stays as is


def _vtt_voice(name: str) -> str:
    """A WebVTT voice tag (``&``, ``<`` and ``>`` escaped as the format requires)."""
    return "<v " + name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + ">"


def to_vtt(t: Transcript) -> str:
    """WebVTT subtitles, one cue per segment (segments without text are left out), with voice tags."""
    return _subtitles(t, _vtt_voice).to_string("vtt", keep_ssa_tags=True)


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


_WRITERS: dict[str, Callable[[Transcript], str]] = {
    "txt": to_txt,
    "srt": to_srt,
    "vtt": to_vtt,
    "json": to_json,
    "csv": to_csv,
    "rttm": to_rttm_file,
}


def safe_stem(stem: str) -> str:
    """``stem`` made safe as a file name: no folders, no leading dots; letters of any script and spaces stay."""
    stem = _UNSAFE_IN_NAMES.sub("_", stem).strip(" ._")
    stem = stem.encode("utf-8")[:_MAX_STEM_BYTES].decode("utf-8", errors="ignore").strip(" ._")
    return stem or "transcript"


def write_exports(t: Transcript, out_dir: Path, stem: str, formats: Iterable[str] = EXPORT_FORMATS) -> dict[str, Path]:
    """Write ``<stem>.<format>`` files (UTF-8) into ``out_dir`` and return them by format.

    When the speakers were identified, RTTM is written too; without speakers it is left out (there are no turns).
    """
    formats = list(formats)
    if t.speakers and "rttm" not in formats:
        formats.append("rttm")
    elif not t.speakers:
        formats = [f for f in formats if f not in SPEAKER_FORMATS]
    unknown = [f for f in formats if f not in _WRITERS]
    if unknown:
        raise ValueError(f"Unknown export format(s) {unknown}; choose from {', '.join(EXPORT_FORMATS)}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = safe_stem(stem)
    paths = {}
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        path.write_text(_WRITERS[fmt](t), encoding="utf-8", newline="")  # newline="": keep csv's \r\n as is
        paths[fmt] = path
    return paths


def write_zip(paths: Iterable[Path], zip_path: Path) -> Path:
    """One ZIP holding ``paths`` (flat, by file name: the names are unique within a run); returns ``zip_path``."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.write(path, arcname=path.name)
    return zip_path
