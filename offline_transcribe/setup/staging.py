"""Assembling a model in the models folder: staged files, their checksums, and the atomic move into place.

Files are gathered under a hidden staging folder, verified against what the hub published, laid out in their
final shape there and renamed into place only when complete, so an interrupted run never leaves a half-written
model where the app looks. The manifest records every file's size, sha256 and origin.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ..errors import SetupError
from ..models.files import fsync_dir, read_manifest, sha256_file, verify_content, write_manifest
from ..models.registry import ModelSpec

SPACE_MARGIN = 256_000_000  # keep this much free beyond what the files need


@dataclass
class StagedFile:
    """A file assembled in the staging folder, with where it came from and what it must hash to."""

    rel: str  # path inside the models folder, e.g. "canary/model.safetensors"
    path: Path  # where it is now (staging)
    origin: str  # "nvidia/canary-qwen-2.5b@<sha>:model.safetensors" or a local path
    expected_sha256: str | None = None  # published LFS sha256, when known
    expected_git_sha1: str | None = None  # published git blob id of a small file, when known


@dataclass
class Staged:
    """Everything one model needs, gathered under the staging folder and not yet in place."""

    spec: ModelSpec
    revision: str | None
    source: str
    files: list[StagedFile] = field(default_factory=list)
    downloaded_bytes: int = 0


def say(message: str) -> None:
    """Progress for the person running setup (stdout, flushed: setup runs for minutes)."""
    print(message, flush=True)


def human(n: float) -> str:
    """Bytes as a short figure in decimal units, as disks and downloads count them: ``1.5 MB``, ``4.8 GB``."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def nemo_version() -> str:
    """The installed NeMo toolkit version (recorded in the manifest)."""
    try:
        return metadata.version("nemo_toolkit")
    except metadata.PackageNotFoundError:
        return "unknown"


def git_blob_sha1(path: Path) -> str:
    """The git blob id of a file: how the hub identifies files that are not in LFS."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def staging_dir(root: Path, spec: ModelSpec) -> Path:
    """The hidden folder where a model is assembled before it is renamed into place."""
    return root / f".staging-{spec.key}"


def copy_into(src: Path, dst: Path, rel: str, origin: str) -> StagedFile:
    """Copy ``src`` to ``dst`` (following symlinks, e.g. into the hub cache's blobs)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    say(f"  copying {src} ({human(src.stat().st_size)})")
    shutil.copyfile(src, dst)
    expected = src.resolve().name if _is_sha256(src.resolve().name) else None  # hub cache blobs are named by it
    return StagedFile(rel, dst, origin, expected_sha256=expected)


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def ensure_space(root: Path, needed: int) -> None:
    """Refuse to start when the models folder's disk cannot hold ``needed`` bytes (plus a margin)."""
    free = shutil.disk_usage(root).free
    if free < needed + SPACE_MARGIN:
        raise SetupError(
            f"Not enough free disk space in {root}: {human(needed)} needed (+{human(SPACE_MARGIN)} margin), "
            f"{human(free)} free.\nFree some space, or choose a folder on a larger disk with --models-dir DIR."
        )


def verify_staged(staged: Staged) -> dict[str, dict]:
    """Hash every staged file and check it against the published checksum; the manifest's file records."""
    records = {}
    for f in staged.files:
        sha256 = sha256_file(f.path)
        if f.expected_sha256 and sha256 != f.expected_sha256:
            f.path.unlink(missing_ok=True)
            raise SetupError(
                f"{f.origin}: the file's sha256 is {sha256}, the hub published {f.expected_sha256}.\n"
                f"The download was damaged and has been deleted; run setup again."
            )
        if f.expected_git_sha1 and git_blob_sha1(f.path) != f.expected_git_sha1:
            f.path.unlink(missing_ok=True)
            raise SetupError(f"{f.origin}: the file does not match the hub's published id; run setup again.")
        records[f.rel] = {"size": f.path.stat().st_size, "sha256": sha256, "origin": f.origin}
    return records


def install(staged: Staged, root: Path) -> dict:
    """Move a verified model into place atomically and record it in the manifest; returns the entry."""
    spec = staged.spec
    records = verify_staged(staged)
    final = spec.path(root)
    stage = staging_dir(root, spec)
    ready = stage / "ready"
    shutil.rmtree(ready, ignore_errors=True)
    for f in staged.files:  # lay out the final shape inside staging (renames on the same disk)
        dst = ready / f.rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f.path, dst)
        with open(dst, "rb") as fh:
            os.fsync(fh.fileno())
    fsync_dir(ready)
    manifest = read_manifest(root)
    old = manifest["models"].get(spec.key)
    if old is not None and sha256s(old.get("files") or {}) != sha256s(records):
        del manifest["models"][spec.key]  # its files are about to change: forget the old ones first
        write_manifest(root, manifest)
    trash = root / f".trash-{spec.key}-{os.getpid()}"
    if final.exists() or final.is_symlink():
        os.replace(final, trash)
    os.replace(ready / spec.local_name, final)
    fsync_dir(root)
    entry = {
        "name": spec.display_name,
        "repo": spec.repo_id,
        "revision": staged.revision,
        "nemo_version": nemo_version(),
        "source": staged.source,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "storage": spec.storage,
        "backend": spec.backend,
        "files": records,
    }
    manifest = read_manifest(root)
    manifest["models"][spec.key] = entry
    write_manifest(root, manifest)
    verify_content(spec, root, entry, trust_stamps=False)  # just hashed: stamp it so the first load skips it
    remove_path(trash)
    shutil.rmtree(stage, ignore_errors=True)
    return entry


def sha256s(records: dict[str, dict]) -> dict[str, str | None]:
    """Path -> sha256 of a manifest entry's file records."""
    return {rel: info.get("sha256") for rel, info in records.items()}


def remove_path(path: Path) -> None:
    """Delete a file or a folder tree, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
