"""What the local model files are: the registry, where they live, the manifest, and their checks.

This module imports nothing heavy and sets no environment, so both the app (offline) and
``setup_local_models.py`` (online, once) can use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from errors import AppError

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_MODELS_DIR = PROJECT_DIR / "local_models"
MODELS_DIR_ENV = "LOCAL_MODELS_DIR"
MANIFEST_NAME = "manifest.json"
VERIFIED_STAMP = ".verified.json"  # files whose sha256 was checked, by size/mtime/inode
MANIFEST_FORMAT = 1
SETUP_SCRIPT = "setup_local_models.py"
GUIDE = "user-model-setup-guide.md"

# Files a SALM folder needs to load offline: NeMo's wrapper config and weights, the LLM tokenizer
# at the root, and the LLM config under llm_backbone/ (speechlm2/parts/hf_hub.py).
SALM_REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "llm_backbone/config.json",
)


@dataclass(frozen=True)
class ModelSpec:
    """One model the app can use: where it comes from and how it is stored and loaded."""

    key: str
    display_name: str
    repo_id: str
    revision: str | None  # pinned commit SHA on the hub; None: pinned at first setup
    local_name: str  # file or folder name inside the models folder
    kind: Literal["nemo", "salm"]  # .nemo archive for ASRModel.restore_from, or a SALM folder
    summary: str
    hub_filename: str = ""  # for "nemo": the published .nemo file in the repo
    llm_repo_id: str = ""  # for "salm": where the LLM tokenizer and config come from
    llm_revision: str | None = None

    def path(self, models_dir: str | os.PathLike | None = None) -> Path:
        """The model's file (``.nemo``) or folder (SALM) inside ``models_dir``."""
        return resolve_models_dir(models_dir) / self.local_name

    def required_files(self) -> tuple[str, ...]:
        """Paths, relative to the models folder, that must exist for this model to load."""
        if self.kind == "nemo":
            return (self.local_name,)
        return tuple(f"{self.local_name}/{name}" for name in SALM_REQUIRED_FILES)

    def setup_command(self) -> str:
        """The command that (re)creates this model's files."""
        return f"python {SETUP_SCRIPT} --only {self.key}"


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            key="parakeet",
            display_name="Parakeet-TDT-0.6B-v2",
            repo_id="nvidia/parakeet-tdt-0.6b-v2",
            revision="ae9ad07059c7c739ffaf932226a8fe64ae2620b0",
            local_name="parakeet.nemo",
            kind="nemo",
            hub_filename="parakeet-tdt-0.6b-v2.nemo",
            summary="English, fastest; punctuation, capitals, word and segment timestamps.",
        ),
        ModelSpec(
            key="canary",
            display_name="Canary-Qwen-2.5B",
            repo_id="nvidia/canary-qwen-2.5b",
            revision=None,
            local_name="canary",
            kind="salm",
            llm_repo_id="Qwen/Qwen3-1.7B",
            llm_revision="70d244cc86ccca08cf5af4e1e306ecf908b1ad5e",
            summary="English, most accurate; slower; timestamps per window (up to 40 s), not per word.",
        ),
    )
}
DEFAULT_MODEL = "parakeet"


def resolve_models_dir(models_dir: str | os.PathLike | None = None) -> Path:
    """The models folder: ``models_dir``, else ``$LOCAL_MODELS_DIR``, else ``local_models/`` beside the scripts."""
    chosen = models_dir or os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR
    return Path(chosen).expanduser().resolve()


def get_spec(key: str) -> ModelSpec:
    """The registry entry for ``key``, with a clear message for an unknown name."""
    try:
        return MODELS[key]
    except KeyError:
        raise UnknownModelError(f"Unknown model {key!r}. Choose one of: {', '.join(MODELS)}.") from None


# ---------------------------------------------------------------------------------------------------------------
# Errors


class LocalModelError(AppError):
    """A problem with the model files in the models folder."""


class UnknownModelError(LocalModelError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ModelsMissingError(LocalModelError, FileNotFoundError):
    """One or more model files are not in the models folder."""

    def __init__(self, message: str, missing: list[Path]):
        super().__init__(message)
        self.missing = missing

    def __str__(self) -> str:  # FileNotFoundError would format (errno, strerror)
        return str(self.args[0])


class ModelFilesInvalidError(LocalModelError):
    """Model files are present but damaged, incomplete, or disagree with the manifest."""

    def __init__(self, message: str, paths: list[Path]):
        super().__init__(message)
        self.paths = paths


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the local models, for reports that list every problem at once."""

    key: str
    path: Path
    message: str
    missing: bool  # the file is absent (as opposed to present but wrong)


def models_dir_option(models_dir: Path) -> str:
    """`` --models-dir DIR`` when the folder is not the default, for commands shown to the user."""
    return "" if models_dir == DEFAULT_MODELS_DIR.resolve() else f" --models-dir {models_dir}"


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
    if spec.kind == "nemo":
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
    if spec.kind == "nemo":
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
    if spec.kind == "nemo" and not problems:
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
    """Every problem with the local models, without raising. Fast unless ``deep`` (which re-hashes every file)."""
    root = resolve_models_dir(models_dir)
    specs = [get_spec(k) for k in (keys or MODELS)]
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
