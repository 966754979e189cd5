"""The model files on disk: paths, the manifest written by setup, and the checks that run before a load.

This is the file layer: it knows how each storage format (one ``.nemo`` archive, or a checkpoint folder) looks
on disk, and nothing about how a model runs. It imports nothing heavy and sets no environment, so both the app
(offline) and the setup script (online, once) use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelFilesInvalidError, ModelsMissingError
from ..paths import APP_SCRIPT, GUIDE, SETUP_SCRIPT, is_default_models_dir, resolve_models_dir
from .registry import MODELS, ModelSpec, get_spec, required_keys

MANIFEST_NAME = "manifest.json"
VERIFIED_STAMP = ".verified.json"  # files whose sha256 was checked, by size/mtime/inode
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the local models, for reports that list every problem at once."""

    key: str
    path: Path
    message: str
    missing: bool  # the file is absent (as opposed to present but wrong)


def models_dir_option(models_dir: Path) -> str:
    """`` --models-dir DIR`` when the folder is not the default, for commands shown to the user."""
    return "" if is_default_models_dir(models_dir) else f" --models-dir {models_dir}"


def start_command(models_dir: Path, installed: list[str]) -> str:
    """The command that starts the app with the models in ``installed``: plain when every required model is there,
    else with ``--only`` naming the installed ones."""
    only = "" if set(required_keys()) <= set(installed) else f" --only {','.join(installed)}"
    return f"python {APP_SCRIPT}{models_dir_option(models_dir)}{only}"


def format_problems(problems: list[Problem], models_dir: Path) -> str:
    """The message a person reads when models are missing or damaged: every path, the fix, the guide."""
    missing = [p for p in problems if p.missing]
    damaged = [p for p in problems if not p.missing]
    keys = sorted({p.key for p in problems if p.key in MODELS}, key=list(MODELS).index)
    only = f" --only {keys[0]}" if len(keys) == 1 else ""
    lines: list[str] = []
    if missing:
        lines.append("Local models not found!" if not damaged else "Local model files are missing or damaged.")
        lines.append("")
        lines.append("Missing:")
        lines += [f"  • {p.path}" + (f"  ({p.message})" if p.message else "") for p in missing]
    if damaged:
        if not missing:
            lines.append("Local model files are damaged or incomplete.")
        lines.append("")
        lines.append("Damaged or inconsistent:")
        lines += [f"  • {p.path}: {p.message}" for p in damaged]
    force = " --force" if any(p.key in MODELS for p in damaged) else ""  # an unreadable manifest needs no re-fetch
    lines += [
        "",
        "These files are created once by the setup script (it re-uses copies you already have and downloads only",
        "what is missing). Run:",
        f"  python {SETUP_SCRIPT}{models_dir_option(models_dir)}{only}{force}",
        "",
        f"See {GUIDE} for instructions.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Manifest


def manifest_path(models_dir: str | os.PathLike | None = None) -> Path:
    """Where the manifest of ``models_dir`` lives."""
    return resolve_models_dir(models_dir) / MANIFEST_NAME


def read_manifest(models_dir: str | os.PathLike | None = None) -> dict:
    """The manifest as a dict (``{"format": 1, "models": {}}`` when there is none).

    Raises ``ModelFilesInvalidError`` when the file exists but is not a manifest.
    """
    path = manifest_path(models_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format": MANIFEST_FORMAT, "models": {}}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFilesInvalidError(
            f"The manifest {path} cannot be read ({exc}).\n"
            f"Re-create it (nothing is downloaded again if the model files are intact):\n"
            f"  python {SETUP_SCRIPT}{models_dir_option(path.parent)}",
            [path],
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ModelFilesInvalidError(
            f"The manifest {path} is not a model manifest.\n"
            f"Re-create it:\n  python {SETUP_SCRIPT}{models_dir_option(path.parent)}",
            [path],
        )
    return data


def write_manifest(models_dir: str | os.PathLike | None, manifest: dict) -> Path:
    """Write the manifest atomically (temporary file, fsync, rename)."""
    path = manifest_path(models_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (no-op where directories cannot be fsynced)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: Path, chunk_size: int = 8 << 20) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def model_files_on_disk(spec: ModelSpec, models_dir: Path) -> list[str]:
    """Every file of a model as it is on disk, relative to the models folder (sorted)."""
    root = models_dir / spec.local_name
    if not spec.is_folder:
        return [spec.local_name]
    return sorted(str(p.relative_to(models_dir)) for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------------------------
# Checks


def check_nemo_archive(path: Path) -> str | None:
    """Why ``path`` is not a loadable ``.nemo`` archive, or None when its table of contents looks right.

    Reads only the tar headers (a plain tar: a few KB; a gzip one: decompresses once).
    """
    try:
        with tarfile.open(path, "r:*") as tar:
            names = {Path(m.name).name for m in tar.getmembers() if m.isfile()}
    except tarfile.ReadError as exc:
        reason = "it is empty" if path.stat().st_size == 0 else f"it is not a .nemo archive ({exc})"
        return reason
    except (EOFError, OSError) as exc:
        return f"it is truncated or unreadable ({exc})"
    needed = {"model_config.yaml", "model_weights.ckpt"} - names
    if needed:
        return f"it is not a complete .nemo archive (no {', '.join(sorted(needed))} inside)"
    return None


def check_model(spec: ModelSpec, models_dir: Path, manifest: dict, deep: bool = False) -> list[Problem]:
    """Problems with one model's files: presence, kind, sizes against the manifest, and (``deep``) sha256."""
    root = models_dir / spec.local_name
    problems: list[Problem] = []
    if not spec.is_folder:
        if root.is_dir():
            return [Problem(spec.key, root, "this should be a .nemo file but is a folder", missing=False)]
        if not root.exists():
            return [Problem(spec.key, root, "", missing=True)]
    else:
        if root.exists() and not root.is_dir():
            return [Problem(spec.key, root, "this should be a folder but is a file", missing=False)]
        absent = [models_dir / rel for rel in spec.required_files() if not (models_dir / rel).is_file()]
        if not root.exists():
            return [Problem(spec.key, root, "", missing=True)]
        if absent:
            return [Problem(spec.key, p, f"required by {spec.display_name}", missing=True) for p in absent]

    entry = manifest.get("models", {}).get(spec.key)
    if not entry or not isinstance(entry.get("files"), dict):
        return [
            Problem(
                spec.key,
                manifest_path(models_dir),
                f"has no entry for {spec.key} (setup did not finish; run it again — intact files are re-used)",
                missing=True,
            )
        ]
    recorded: dict[str, dict] = entry["files"]
    for rel in spec.required_files():
        if rel not in recorded:
            problems.append(Problem(spec.key, models_dir / rel, "not listed in the manifest", missing=False))
    for rel, info in sorted(recorded.items()):
        path = models_dir / rel
        if not path.is_file():
            problems.append(Problem(spec.key, path, "listed in the manifest", missing=True))
            continue
        size = path.stat().st_size
        if size != info.get("size"):
            expected = f"{info.get('size'):,}" if isinstance(info.get("size"), int) else "?"
            message = f"size is {size:,} bytes, the manifest says {expected}"
            problems.append(Problem(spec.key, path, message, missing=False))
    if not spec.is_folder and not problems:
        reason = check_nemo_archive(root)
        if reason:
            problems.append(Problem(spec.key, root, reason, missing=False))
    if deep and not problems:
        problems += verify_content(spec, models_dir, entry, trust_stamps=False)
    return problems


def verify_content(spec: ModelSpec, models_dir: Path, entry: dict, trust_stamps: bool = True) -> list[Problem]:
    """Compare each file's sha256 with the manifest ``entry``; remember verified files in a stamp file.

    With ``trust_stamps`` a file whose size, modification time and inode are unchanged since it was
    last verified is not hashed again, so a normal start costs nothing; a file edited, copied or
    damaged since then is hashed before use.
    """
    stamp_path = models_dir / VERIFIED_STAMP
    try:
        stamps = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamps = {}
    problems: list[Problem] = []
    changed = False
    for rel, info in sorted(entry.get("files", {}).items()):
        path = models_dir / rel
        st = path.stat()
        fingerprint = [st.st_size, st.st_mtime_ns, st.st_ino, info.get("sha256")]
        if trust_stamps and stamps.get(rel) == fingerprint:
            continue
        if sha256_file(path) != info.get("sha256"):
            stamps.pop(rel, None)
            problems.append(
                Problem(spec.key, path, "content differs from the sha256 recorded at setup: the file is corrupt",
                        missing=False)
            )
        else:
            stamps[rel] = fingerprint
        changed = True
    if changed:
        tmp = stamp_path.with_name(f"{VERIFIED_STAMP}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(stamps, indent=1))
            os.replace(tmp, stamp_path)
        except OSError:  # a read-only models folder: files are verified again next time
            pass
    return problems


def check_local_models(
    models_dir: str | os.PathLike | None = None, keys: list[str] | tuple[str, ...] | None = None, deep: bool = False
) -> list[Problem]:
    """Every problem with the local models (``keys``, default: the required ones), without raising.

    Fast unless ``deep`` (which re-hashes every file).
    """
    root = resolve_models_dir(models_dir)
    specs = [get_spec(k) for k in (keys or required_keys())]
    if not root.is_dir():
        return [Problem(s.key, s.path(root), "the models folder does not exist", missing=True) for s in specs]
    try:
        manifest = read_manifest(root)
    except ModelFilesInvalidError as exc:
        return [Problem("manifest", manifest_path(root), str(exc).splitlines()[0], missing=False)]
    problems: list[Problem] = []
    for spec in specs:
        problems += check_model(spec, root, manifest, deep=deep)
    return problems


def validate_local_models(
    models_dir: str | os.PathLike | None = None, keys: list[str] | tuple[str, ...] | None = None, deep: bool = False
) -> Path:
    """Check the models folder and return it; raise with every problem listed when something is wrong.

    Raises ``ModelsMissingError`` (a ``FileNotFoundError``) when any file is missing, otherwise
    ``ModelFilesInvalidError`` when files are damaged or disagree with the manifest.
    """
    root = resolve_models_dir(models_dir)
    problems = check_local_models(root, keys, deep=deep)
    if not problems:
        return root
    message = format_problems(problems, root)
    if any(p.missing for p in problems):
        raise ModelsMissingError(message, [p.path for p in problems if p.missing])
    raise ModelFilesInvalidError(message, [p.path for p in problems])


def installed_keys(models_dir: str | os.PathLike | None = None) -> list[str]:
    """The models whose files pass the fast checks, in registry order."""
    problems = check_local_models(resolve_models_dir(models_dir), list(MODELS))
    if any(p.key not in MODELS for p in problems):  # the manifest itself is unreadable: nothing counts
        return []
    broken = {p.key for p in problems}
    return [key for key in MODELS if key not in broken]


def corrupt_files_error(spec: ModelSpec, path: Path, reason: str, root: Path) -> ModelFilesInvalidError:
    """The message for a model file found damaged while loading, with the command that re-creates it."""
    return ModelFilesInvalidError(
        f"{spec.display_name} cannot be loaded: {path} {reason}.\n"
        f"Re-create it with:\n  {spec.setup_command()}{models_dir_option(root)} --force\n"
        f"See {GUIDE} for instructions.",
        [path],
    )


def load_failed_message(spec: ModelSpec, path: Path, exc: BaseException, root: Path) -> str:
    """The message for files that passed every check but still did not build a model."""
    return (
        f"{spec.display_name} could not be built from {path}: {type(exc).__name__}: {exc}\n"
        f"If the files came from another NeMo version or another machine, re-create them with:\n"
        f"  {spec.setup_command()}{models_dir_option(root)} --force\n"
        f"See {GUIDE} for instructions."
    )
