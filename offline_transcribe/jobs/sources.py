"""What the user named (files, folders, manifests) as job items, each with an output name that depends only on the
item itself and what lies beside it on disk, never on the other inputs of the run.

- A loose file keeps today's name: ``<stem>.<format>`` in the output folder (``batch.output_stems`` over the loose
  files of the run, so two loose files named alike still get the suffixes they always had).
- A folder is searched recursively (symbolic links followed, hidden entries and non-media files skipped); its
  outputs mirror its tree: ``in/2024/a.wav`` -> ``out/2024/a.srt``. When another media file with the same stem
  lies in the same folder (``a.wav`` beside ``a.mp3``), both keep their extension (``a.wav.srt``, ``a.mp3.srt``).
- A manifest is NeMo's JSONL (``audio_filepath``, optionally ``offset`` and ``duration`` in seconds) or a text/CSV
  file with one path per line (a header naming ``audio_filepath`` or ``path`` picks that column). Relative paths
  are read from the manifest's folder; outputs mirror the paths below that folder (paths outside it keep their
  whole path, without the root). An excerpt (``offset``/``duration``) adds ``.<start>-<end>s`` to its name.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import JobRefusedError

log = logging.getLogger("transcribe.jobs")

MEDIA_EXTENSIONS = frozenset({
    ".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wma", ".aif", ".aiff", ".amr", ".ac3",
    ".mka", ".webm", ".mp4", ".m4v", ".mov", ".mkv", ".avi", ".wmv", ".mpg", ".mpeg", ".ts", ".3gp", ".caf", ".au",
    ".spx",
})  # fmt: skip
JSONL_EXTENSIONS = frozenset({".jsonl", ".json"})
LIST_EXTENSIONS = frozenset({".txt", ".csv", ".tsv", ".lst", ".list"})
LEDGER_NAME = ".transcribe-job.sqlite"


@dataclass(frozen=True)
class Item:
    """One input of a job: the file, the output path without extension (relative to the output folder), and,
    for a manifest excerpt, where it starts and how long it is. ``error`` is set for an input that is known to be
    bad before decoding (a missing manifest file, a symbolic-link loop): it becomes a failed row."""

    path: Path
    stem: str  # relative output path without the format's extension, "/"-separated
    offset: float = 0.0
    duration: float | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        """The ledger's key: the absolute path, and the excerpt when there is one."""
        key = os.path.abspath(self.path)
        if self.offset or self.duration is not None:
            key += f"#{self.offset:g}+{self.duration if self.duration is not None else ''}"
        return key

    @property
    def name(self) -> str:
        """What the user calls the item (the file's name, and the excerpt)."""
        if self.offset or self.duration is not None:
            return f"{self.path.name} [{self.offset:g} s+{self.duration if self.duration is not None else ''}]"
        return self.path.name


def is_media(path: Path) -> bool:
    """True when the name looks like an audio or video file (by extension)."""
    return path.suffix.lower() in MEDIA_EXTENSIONS


def is_manifest(path: Path) -> bool:
    """True for a file that ``--transcribe`` reads as a manifest (JSONL, text or CSV list of paths)."""
    return path.suffix.lower() in JSONL_EXTENSIONS | LIST_EXTENSIONS and path.is_file()


def needs_job(inputs: Sequence[str | Path]) -> bool:
    """True when any input is a folder or a manifest (loose files alone keep the plain per-file path)."""
    return any(Path(p).is_dir() or is_manifest(Path(p)) for p in inputs)


def _safe_part(part: str) -> str:
    """A folder or file name made safe (separators and control characters replaced, no leading dots)."""
    from ..exports import safe_stem

    return safe_stem(part)


def sibling_stem(path: Path) -> str:
    """``a`` for ``a.wav``, unless another media file named ``a.*`` lies in the same folder: then ``a.wav``."""
    stem = path.stem
    try:
        clash = any(
            other.name != path.name and other.stem.lower() == stem.lower() and is_media(other)
            for other in path.parent.glob(f"{glob_escape(stem)}.*")
        )
    except OSError:
        clash = False
    return path.name if clash else stem


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def mirrored_stem(relative: Path, file: Path, clash: bool | None = None) -> str:
    """The output stem of ``file`` found at ``relative`` below a searched root: the folders, then its own stem
    (``sibling_stem``; ``clash`` says whether a sibling shares the stem, when the caller knows)."""
    parts = [_safe_part(p) for p in relative.parent.parts if p not in ("", ".")]
    own = sibling_stem(file) if clash is None else file.name if clash else file.stem
    return "/".join([*parts, _safe_part(own)])


def check_output_outside(root: Path, out_dir: Path) -> None:
    """Refuse an output folder that is an input folder or lies inside one (the job would read its own outputs)."""
    root_r, out_r = root.resolve(), out_dir.resolve()
    if out_r == root_r or root_r in out_r.parents:
        raise JobRefusedError(
            f"The output folder {out_dir} lies inside the input folder {root}: the job would find its own files "
            f"there. Choose an --output-dir outside {root}."
        )


def walk_folder(root: Path, skipped: list[tuple[Path, str]]) -> list[Item]:
    """Media files below ``root`` in a stable order, symbolic links followed; a link that leads back into a folder
    already searched (a loop) or that cannot be resolved becomes a failed item; hidden and non-media files are
    added to ``skipped`` with the reason."""
    items: list[Item] = []
    seen: set[tuple[int, int]] = set()

    def visit(folder: Path, rel: Path) -> None:
        try:
            st = folder.stat()
        except OSError as exc:
            items.append(Item(folder, mirrored_stem(rel, folder), error=_link_message(folder, exc)))
            return
        if (st.st_dev, st.st_ino) in seen:
            items.append(Item(folder, mirrored_stem(rel, folder), error=(
                f"'{folder}' is a symbolic link back into a folder already searched (a loop); it was not followed. "
                "Remove the link, or point it elsewhere.")))
            return
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            items.append(Item(folder, mirrored_stem(rel, folder), error=(
                f"The folder '{folder}' could not be read ({exc.strerror or exc}). Check its permissions.")))
            return
        stems = Counter(Path(e.name).stem.lower() for e in entries if is_media(Path(e.name)))
        prefix = "".join(f"{_safe_part(p)}/" for p in rel.parts if p not in ("", "."))
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                skipped.append((path, "hidden"))
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
                is_file = entry.is_file(follow_symlinks=True)
                if entry.is_symlink() and not (is_dir or is_file):
                    os.stat(path)  # raises ELOOP / ENOENT for a broken or looping link
            except OSError as exc:
                if is_media(path) or entry.is_symlink():
                    items.append(Item(path, mirrored_stem(rel / entry.name, path), error=_link_message(path, exc)))
                else:
                    skipped.append((path, "unreadable"))
                continue
            if is_dir:
                visit(path, rel / entry.name)
            elif not is_file:
                skipped.append((path, "not a regular file"))
            elif is_media(path):
                clash = stems[path.stem.lower()] > 1
                items.append(Item(path, prefix + _safe_part(path.name if clash else path.stem)))
            else:
                skipped.append((path, "not audio or video"))

    visit(root, Path("."))
    return items


def _link_message(path: Path, exc: OSError) -> str:
    """Why a path could not be followed: a symbolic-link loop, a broken link, or another error."""
    import errno

    if exc.errno == errno.ELOOP:
        return f"'{path}' is a symbolic link loop (it leads back to itself). Remove the link or fix its target."
    if exc.errno == errno.ENOENT:
        return f"'{path}' is a symbolic link to a file that does not exist. Remove the link or fix its target."
    return f"'{path}' could not be read ({exc.strerror or exc}). Check its permissions."


def read_manifest(path: Path) -> list[Item]:
    """The items a manifest lists (see the module docstring); refuses (``JobRefusedError``) a JSONL manifest with
    a line that is not a JSON object with ``audio_filepath``. A listed file that is missing becomes a failed item."""
    base = path.parent
    entries: list[tuple[str, float, float | None]] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        message = f"The manifest {path} could not be read ({exc}). Check the file and its permissions."
        raise JobRefusedError(message) from exc
    if path.suffix.lower() in JSONL_EXTENSIONS:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                audio = row["audio_filepath"]
                offset = float(row.get("offset") or 0.0)
                duration = float(row["duration"]) if row.get("duration") is not None and "offset" in row else None
                if not isinstance(audio, str) or offset < 0 or (duration is not None and duration <= 0):
                    raise ValueError("bad values")
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
                raise JobRefusedError(
                    f"Line {number} of the manifest {path} is not a JSON object with \"audio_filepath\" "
                    f"({type(exc).__name__}: {exc}): {line[:120]!r}. Each line must look like "
                    '{"audio_filepath": "a.wav", "duration": 12.5} (offset optional). Fix the line and start again.'
                ) from exc
            entries.append((audio, offset, duration))
    else:
        rows = list(csv.reader(io.StringIO(text), dialect="excel-tab" if path.suffix.lower() == ".tsv" else "excel"))
        column = 0
        if rows and any(c.strip().lower() in ("audio_filepath", "path", "file", "filename") for c in rows[0]):
            header = [c.strip().lower() for c in rows[0]]
            column = next(i for i, c in enumerate(header) if c in ("audio_filepath", "path", "file", "filename"))
            rows = rows[1:]
        entries = [(r[column].strip(), 0.0, None) for r in rows if len(r) > column and r[column].strip()
                   and not r[column].lstrip().startswith("#")]
    items = []
    for audio, offset, duration in entries:
        file = Path(audio).expanduser()
        file = file if file.is_absolute() else base / file
        try:
            rel = Path(os.path.relpath(file, base))
            inside = not rel.parts or rel.parts[0] != ".."
        except ValueError:
            inside = False
        if not inside:
            rel = Path(*Path(os.path.abspath(file)).parts[1:])
        stem = mirrored_stem(rel, file)
        if offset or duration is not None:
            stem += f".{offset:g}-{offset + duration:g}s" if duration is not None else f".{offset:g}s-"
        error = None if file.exists() else (
            f"'{file}' (listed in the manifest {path.name}) was not found. Fix the path in the manifest, or restore "
            "the file.")
        items.append(Item(file, stem, offset, duration, error))
    return items


def collect(
    inputs: Sequence[str | Path], out_dir: Path, on_skip: Callable[[Path, str], None] | None = None
) -> list[Item]:
    """Every item of ``inputs`` (files, folders, manifests) in order, duplicates left out; refuses an output
    folder inside an input folder and an invalid JSONL manifest before anything starts."""
    from ..batch import output_stems

    loose: list[Path] = []
    groups: list[list[Item] | None] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            check_output_outside(path, out_dir)
            skipped: list[tuple[Path, str]] = []
            groups.append(walk_folder(path, skipped))
            for skipped_path, why in skipped:
                (on_skip or (lambda p, w: None))(skipped_path, why)
        elif is_manifest(path):
            groups.append(read_manifest(path))
        else:
            loose.append(path)
            groups.append(None)
    loose_stems = iter(output_stems([p.name for p in loose]))
    loose_iter = iter(loose)
    items: list[Item] = []
    keys: set[str] = set()
    for group in groups:
        group = group if group is not None else [Item(next(loose_iter), next(loose_stems))]
        for item in group:
            if item.key not in keys:
                keys.add(item.key)
                items.append(item)
    return items
