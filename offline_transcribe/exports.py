"""Turn a Transcript into downloadable files: plain text, SRT and WebVTT subtitles, JSON and CSV; a ZIP of many."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pysubs2

from .types import Transcript

EXPORT_FORMATS = ("txt", "srt", "vtt", "json", "csv")

_MAX_STEM_BYTES = 200  # file names are limited to 255 bytes; leave room for the extension
_UNSAFE_IN_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')  # separators, Windows-reserved, control characters


def to_txt(t: Transcript) -> str:
    """The transcript text, ending with a newline."""
    return t.text.strip() + "\n"


def _subtitles(t: Transcript) -> pysubs2.SSAFile:
    subs = pysubs2.SSAFile()
    for seg in t.segments:
        if not seg.text.strip():
            continue  # an empty cue would end the subtitle block early
        event = pysubs2.SSAEvent(start=pysubs2.make_time(s=seg.start), end=pysubs2.make_time(s=seg.end))
        event.plaintext = "\n".join(line.strip() for line in seg.text.splitlines() if line.strip())
        subs.append(event)
    return subs


def to_srt(t: Transcript) -> str:
    """SubRip subtitles, one cue per segment (segments without text are left out)."""
    return _subtitles(t).to_string("srt", keep_ssa_tags=True)  # keep_ssa_tags: text like "{laughs}" stays as is


def to_vtt(t: Transcript) -> str:
    """WebVTT subtitles, one cue per segment (segments without text are left out)."""
    return _subtitles(t).to_string("vtt", keep_ssa_tags=True)


def to_json(t: Transcript) -> str:
    """Everything in the transcript (segments, words, model, timings) as indented JSON."""
    return json.dumps(t.to_dict(), indent=2, ensure_ascii=False) + "\n"


def to_csv(t: Transcript) -> str:
    """One row per segment: start and end in seconds (3 decimals) and the text, with a header row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["start", "end", "text"])
    writer.writerows([f"{seg.start:.3f}", f"{seg.end:.3f}", seg.text] for seg in t.segments)
    return out.getvalue()


_WRITERS: dict[str, Callable[[Transcript], str]] = {
    "txt": to_txt,
    "srt": to_srt,
    "vtt": to_vtt,
    "json": to_json,
    "csv": to_csv,
}


def safe_stem(stem: str) -> str:
    """``stem`` made safe as a file name: no folders, no leading dots; letters of any script and spaces stay."""
    stem = _UNSAFE_IN_NAMES.sub("_", stem).strip(" ._")
    stem = stem.encode("utf-8")[:_MAX_STEM_BYTES].decode("utf-8", errors="ignore").strip(" ._")
    return stem or "transcript"


def write_exports(t: Transcript, out_dir: Path, stem: str, formats: Iterable[str] = EXPORT_FORMATS) -> dict[str, Path]:
    """Write ``<stem>.<format>`` files (UTF-8) into ``out_dir`` and return them by format."""
    formats = list(formats)
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
