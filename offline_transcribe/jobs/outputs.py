"""Exports written atomically: each file goes to a temporary name in the output folder's hidden ``.transcribe-tmp``
first, then is renamed into place, so a job killed at any moment leaves either the old file or the new one, never
half of one. ``clean_temporary`` removes what a killed job left there."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

from ..exports import SPEAKER_FORMATS, ExportOptions, write_exports
from ..types import Transcript

TMP_DIR = ".transcribe-tmp"


def output_paths(out_dir: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    """The files an item with ``stem`` (relative, "/"-separated) may get."""
    return [out_dir / f"{stem}.{fmt}" for fmt in [*formats, *SPEAKER_FORMATS]]


def write_atomic(
    t: Transcript, out_dir: Path, stem: str, formats: Sequence[str], options: ExportOptions | None = None
) -> dict[str, Path]:
    """``exports.write_exports`` for ``stem`` below ``out_dir`` (subtitles shaped by ``options``), each file renamed
    into place when complete."""
    tmp = out_dir / TMP_DIR / uuid.uuid4().hex
    tmp.mkdir(parents=True, mode=0o700)
    final_dir = (out_dir / stem).parent
    final_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = Path(stem).name
    try:
        written = write_exports(t, tmp, "out", formats, options)
        paths = {}
        for fmt, path in written.items():
            os.chmod(path, 0o600)
            target = final_dir / f"{name}.{fmt}"
            os.replace(path, target)
            paths[fmt] = target
        return paths
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def clean_temporary(out_dir: Path) -> None:
    """Remove the temporary files a stopped job left (there are none after a job that ended)."""
    shutil.rmtree(out_dir / TMP_DIR, ignore_errors=True)
