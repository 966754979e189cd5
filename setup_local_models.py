"""One-time setup: put both models in local_models/, at a pinned revision, verified, ready to load offline.

    python setup_local_models.py                      # both models: re-use what you have, download the rest
    python setup_local_models.py --only parakeet --from ~/parakeet-tdt-0.6b-v2.nemo
    python setup_local_models.py --verify             # re-hash everything against the manifest

Each model is taken, in this order, from: ``--from PATH``; a file already at its place in the models
folder but not yet recorded (an interrupted run, or a copy you made); the Hugging Face cache (no
network); a download of exactly the pinned commit. Files are assembled under a hidden staging name
and renamed into place only when complete and verified, so an interrupted run never leaves a
half-written model where the app looks. A lock keeps two runs apart; a second run with good files
downloads nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from filelock import FileLock, Timeout

from model_files import (
    GUIDE,
    MODELS,
    ModelFilesInvalidError,
    ModelSpec,
    check_local_models,
    check_model,
    check_nemo_archive,
    format_problems,
    fsync_dir,
    manifest_path,
    model_files_on_disk,
    models_dir_option,
    read_manifest,
    resolve_models_dir,
    sha256_file,
    verify_content,
    write_manifest,
)

LOCK_NAME = ".setup.lock"
SALM_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")
SPACE_MARGIN = 256 << 20  # keep this much free beyond what the files need


class SetupError(Exception):
    """Setup cannot go on; the message says why and what to do."""


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
    """Bytes as a short human figure."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"


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


# ---------------------------------------------------------------------------------------------------------------
# Sources


def stage_from_path(spec: ModelSpec, source: Path, root: Path, api=None) -> Staged:
    """Copy a model the user already has (a ``.nemo`` file, or a SALM folder) into staging."""
    source = source.expanduser().resolve()
    if not source.exists():
        raise SetupError(f"--from {source}: no such file or folder.")
    stage = staging_dir(root, spec)
    staged = Staged(spec, revision=None, source=f"adopted from {source}")
    if spec.kind == "nemo":
        if source.is_dir():
            raise SetupError(f"--from {source}: {spec.display_name} is a single .nemo file, not a folder.")
        reason = check_nemo_archive(source)
        if reason:
            raise SetupError(f"--from {source}: {reason}.")
        ensure_space(root, source.stat().st_size)
        staged.files.append(copy_into(source, stage / spec.local_name, spec.local_name, str(source)))
        return staged
    if not source.is_dir():
        raise SetupError(f"--from {source}: {spec.display_name} is a folder (config.json, model.safetensors, …).")
    for name in ("config.json", "model.safetensors"):
        if not (source / name).is_file():
            raise SetupError(f"--from {source}: {name} is missing; this is not a SALM checkpoint folder.")
    ensure_space(root, sum(p.stat().st_size for p in source.rglob("*") if p.is_file()))
    for name in ("config.json", "model.safetensors", *SALM_TOKENIZER_FILES, "llm_backbone/config.json"):
        if (source / name).is_file():
            rel = f"{spec.local_name}/{name}"
            staged.files.append(copy_into(source / name, stage / rel, rel, str(source / name)))
    have = {f.rel.split("/", 1)[1] for f in staged.files}
    if not {"tokenizer.json", "tokenizer_config.json", "llm_backbone/config.json"} <= have:
        say(f"  {source} has no LLM tokenizer/config beside the weights; taking them from {spec.llm_repo_id}.")
        staged.files = [f for f in staged.files if f.rel.split("/", 1)[1] in ("config.json", "model.safetensors")]
        staged.files += stage_llm_artifacts(spec, stage, api)
    return staged


def copy_into(src: Path, dst: Path, rel: str, origin: str) -> StagedFile:
    """Copy ``src`` to ``dst`` (following symlinks, e.g. into the hub cache's blobs)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    say(f"  copying {src} ({human(src.stat().st_size)})")
    shutil.copyfile(src, dst)
    expected = src.resolve().name if _is_sha256(src.resolve().name) else None  # hub cache blobs are named by it
    return StagedFile(rel, dst, origin, expected_sha256=expected)


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def find_in_hub_cache(repo_id: str, filename: str, revision: str | None) -> tuple[Path, str] | None:
    """A cached copy of ``filename`` from ``repo_id`` (the pinned revision first, else the newest), no network."""
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache
    from huggingface_hub.errors import CacheNotFound

    if revision:
        hit = try_to_load_from_cache(repo_id, filename, revision=revision)
        if isinstance(hit, str):
            return Path(hit), revision
    try:
        cache = scan_cache_dir()
    except CacheNotFound:
        return None
    for repo in cache.repos:
        if repo.repo_id != repo_id or repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            for f in rev.files:
                if f.file_name == filename and f.file_path.relative_to(rev.snapshot_path).as_posix() == filename:
                    return f.file_path, rev.commit_hash
    return None


def stage_from_hub_cache(spec: ModelSpec, root: Path) -> Staged | None:
    """Copy a model already in the Hugging Face cache into staging, or None if it is not all there."""
    stage = staging_dir(root, spec)
    if spec.kind == "nemo":
        hit = find_in_hub_cache(spec.repo_id, spec.hub_filename, spec.revision)
        if hit is None:
            return None
        path, revision = hit
        ensure_space(root, path.stat().st_size)
        say(f"  found {spec.repo_id}@{revision[:7]} in the Hugging Face cache")
        staged = Staged(spec, revision, source=f"Hugging Face cache ({path})")
        staged.files.append(copy_into(path, stage / spec.local_name, spec.local_name, f"{spec.repo_id}@{revision}"))
        return staged
    hits = {name: find_in_hub_cache(spec.repo_id, name, spec.revision) for name in ("config.json", "model.safetensors")}
    if None in hits.values() or hits["config.json"][1] != hits["model.safetensors"][1]:
        return None
    llm_files = llm_artifacts_from_hub_cache(spec, stage)  # [] (nothing copied) unless all of them are cached
    if not llm_files:
        return None
    revision = hits["model.safetensors"][1]
    say(f"  found {spec.repo_id}@{revision[:7]} and {spec.llm_repo_id} in the Hugging Face cache")
    ensure_space(root, sum(p.stat().st_size for p, _ in hits.values()))
    staged = Staged(spec, revision, source="Hugging Face cache")
    for name, (path, rev) in hits.items():
        rel = f"{spec.local_name}/{name}"
        staged.files.append(copy_into(path, stage / rel, rel, f"{spec.repo_id}@{rev}:{name}"))
    staged.files += llm_files
    return staged


def resolve_revision(api, repo_id: str, revision: str | None):
    """The hub's model info at ``revision`` (default ``main``), with file metadata (sizes, LFS sha256)."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        return api.model_info(repo_id, revision=revision or "main", files_metadata=True)
    except RevisionNotFoundError as exc:
        raise SetupError(f"{repo_id} has no revision {revision!r} on the hub.") from exc
    except RepositoryNotFoundError as exc:
        raise SetupError(f"{repo_id} was not found on the hub (or needs a login).") from exc
    except Exception as exc:
        raise SetupError(
            f"Cannot reach the Hugging Face hub to look up {repo_id} ({type(exc).__name__}: {exc}).\n"
            f"Connect to the internet and run setup again, or give a copy you already have with --from PATH\n"
            f"(see {GUIDE}, 'Setting up without internet')."
        ) from exc


def download_files(api, repo_id: str, info, names: list[str], into: Path) -> list[tuple[str, Path, object]]:
    """Download ``names`` from the exact commit ``info.sha`` into ``into`` (resumable; progress bars)."""
    from huggingface_hub import hf_hub_download

    siblings = {s.rfilename: s for s in info.siblings or []}
    out = []
    for name in names:
        sibling = siblings[name]
        path = hf_hub_download(repo_id, name, revision=info.sha, local_dir=into)
        out.append((name, Path(path), sibling))
    return out


def staged_from_download(rel: str, path: Path, sibling, origin: str) -> StagedFile:
    """A downloaded file with the checksum the hub published for it."""
    lfs = getattr(sibling, "lfs", None)
    sha256 = getattr(lfs, "sha256", None) if lfs is not None else None
    git_sha1 = None if sha256 else getattr(sibling, "blob_id", None)
    return StagedFile(rel, path, origin, expected_sha256=sha256, expected_git_sha1=git_sha1)


def stage_download(spec: ModelSpec, root: Path, api, revision: str | None) -> Staged:
    """Download exactly the pinned commit of the model into staging."""
    stage = staging_dir(root, spec)
    info = resolve_revision(api, spec.repo_id, revision)
    siblings = {s.rfilename: s for s in info.siblings or []}
    say(f"  {spec.repo_id}: revision {info.sha}")
    staged = Staged(spec, info.sha, source=f"downloaded from the Hugging Face hub ({spec.repo_id}@{info.sha})")
    if spec.kind == "nemo":
        if spec.hub_filename not in siblings:
            raise SetupError(f"{spec.repo_id}@{info.sha} has no {spec.hub_filename}.")
        discard_partial_downloads(stage / "download")
        ensure_space(root, remaining_bytes(stage / "download", [siblings[spec.hub_filename]]))
        for name, path, sibling in download_files(api, spec.repo_id, info, [spec.hub_filename], stage / "download"):
            origin = f"{spec.repo_id}@{info.sha}:{name}"
            staged.files.append(staged_from_download(spec.local_name, path, sibling, origin))
        return staged
    names = [n for n in ("config.json", "model.safetensors") if n in siblings]
    if len(names) < 2:
        raise SetupError(f"{spec.repo_id}@{info.sha} has no config.json/model.safetensors: not a SALM checkpoint.")
    discard_partial_downloads(stage / "download")
    ensure_space(root, remaining_bytes(stage / "download", [siblings[n] for n in names]))
    for name, path, sibling in download_files(api, spec.repo_id, info, names, stage / "download"):
        staged.files.append(
            staged_from_download(f"{spec.local_name}/{name}", path, sibling, f"{spec.repo_id}@{info.sha}:{name}")
        )
    staged.files += stage_llm_artifacts(spec, stage, api)
    return staged


def stage_llm_artifacts(spec: ModelSpec, stage: Path, api) -> list[StagedFile]:
    """The LLM tokenizer files and config a SALM folder needs to load offline (from the LLM's repo)."""
    cached = llm_artifacts_from_hub_cache(spec, stage)
    if cached:
        return cached
    if api is None:
        api = hub_api()
    info = resolve_revision(api, spec.llm_repo_id, spec.llm_revision)
    present = {s.rfilename for s in info.siblings or []}
    names = [n for n in (*SALM_TOKENIZER_FILES, "config.json") if n in present]
    missing = {"tokenizer.json", "tokenizer_config.json", "config.json"} - set(names)
    if missing:
        raise SetupError(f"{spec.llm_repo_id}@{info.sha} lacks {', '.join(sorted(missing))}.")
    files = []
    discard_partial_downloads(stage / "llm-download")
    for name, path, sibling in download_files(api, spec.llm_repo_id, info, names, stage / "llm-download"):
        rel = f"{spec.local_name}/llm_backbone/config.json" if name == "config.json" else f"{spec.local_name}/{name}"
        files.append(staged_from_download(rel, path, sibling, f"{spec.llm_repo_id}@{info.sha}:{name}"))
    return files


def llm_artifacts_from_hub_cache(spec: ModelSpec, stage: Path) -> list[StagedFile]:
    """The LLM tokenizer and config from the Hugging Face cache (no network), or [] if any is missing there."""
    hits = {name: find_in_hub_cache(spec.llm_repo_id, name, spec.llm_revision)
            for name in (*SALM_TOKENIZER_FILES, "config.json")}
    if any(hits[name] is None for name in ("tokenizer.json", "tokenizer_config.json", "config.json")):
        return []
    say(f"  found {spec.llm_repo_id}'s tokenizer and config in the Hugging Face cache")
    files = []
    for name, hit in hits.items():
        if hit is None:
            continue
        path, rev = hit
        rel = f"{spec.local_name}/llm_backbone/config.json" if name == "config.json" else f"{spec.local_name}/{name}"
        files.append(copy_into(path, stage / rel, rel, f"{spec.llm_repo_id}@{rev}:{name}"))
    return files


def remaining_bytes(download_dir: Path, siblings: list) -> int:
    """Bytes still to fetch: every file not already complete in the download folder."""
    total = 0
    for s in siblings:
        size = s.size or 0
        done = download_dir / s.rfilename
        total += 0 if done.is_file() and done.stat().st_size == size else size
    return total


def discard_partial_downloads(download_dir: Path) -> None:
    """Delete the partial files of interrupted runs: huggingface_hub names them per process and never resumes
    them in a later one, so each would only hold disk space (up to a whole model) until setup completes."""
    for partial in (download_dir / ".cache").rglob("*.incomplete"):
        partial.unlink(missing_ok=True)


def ensure_space(root: Path, needed: int) -> None:
    """Refuse to start when the models folder's disk cannot hold ``needed`` bytes (plus a margin)."""
    free = shutil.disk_usage(root).free
    if free < needed + SPACE_MARGIN:
        raise SetupError(
            f"Not enough free disk space in {root}: {human(needed)} needed (+{human(SPACE_MARGIN)} margin), "
            f"{human(free)} free.\nFree some space, or choose a folder on a larger disk with --models-dir DIR."
        )


def hub_api():
    """A hub client (imported late: only setup ever talks to the network)."""
    from huggingface_hub import HfApi

    return HfApi()


# ---------------------------------------------------------------------------------------------------------------
# Install


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
        "kind": spec.kind,
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


def stage_existing(spec: ModelSpec, root: Path) -> Staged | None:
    """Files already at the final place but not recorded (an interrupted run, or a copy the user made)."""
    final = spec.path(root)
    if not final.exists():
        return None
    if spec.kind == "nemo":
        if final.is_dir() or check_nemo_archive(final):
            return None
    elif not all((root / rel).is_file() for rel in spec.required_files()):
        return None
    say(f"  {final} is already there but not recorded: checking it instead of downloading")
    stage = staging_dir(root, spec)
    stage.mkdir(parents=True, exist_ok=True)
    staged = Staged(spec, revision=None, source=f"adopted from {final}")
    rels = model_files_on_disk(spec, root)
    for rel in rels:
        dst = stage / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dst)
        staged.files.append(StagedFile(rel, dst, str(root / rel)))
    return staged


def setup_model(spec: ModelSpec, root: Path, args: argparse.Namespace) -> str:
    """Make one model present, verified and recorded; returns a one-line outcome."""
    say(f"{spec.display_name} → {spec.path(root)}")
    for stale in root.glob(f".trash-{spec.key}-*"):  # old files a run killed mid-swap left (we hold the lock)
        remove_path(stale)
    manifest = read_manifest(root)
    if not args.force and not args.source and not check_model(spec, root, manifest):
        shutil.rmtree(staging_dir(root, spec), ignore_errors=True)  # a killed run's partial downloads
        entry = manifest["models"][spec.key]
        rev = entry["revision"][:12] if entry.get("revision") else "revision unknown"
        size = sum(f["size"] for f in entry["files"].values())
        return f"{spec.key}: already set up ({rev}, {human(size)}); nothing downloaded."
    started = time.monotonic()
    recorded = manifest["models"].get(spec.key) or {}
    revision = args.revision or spec.revision or recorded.get("revision")  # no pin: the one set up first
    staged = None
    if args.source:
        staged = stage_from_path(spec, Path(args.source), root)
    if staged is None and not args.force:
        staged = stage_existing(spec, root)
    if staged is None and not args.revision:
        staged = stage_from_hub_cache(spec, root)
    if staged is None:
        staged = stage_download(spec, root, hub_api(), revision)
    entry = install(staged, root)
    size = sum(f["size"] for f in entry["files"].values())
    return f"{spec.key}: installed — {staged.source} ({human(size)}, {time.monotonic() - started:.0f} s)."


def set_aside_unreadable_manifest(root: Path) -> None:
    """Move a manifest that cannot be read out of the way: the files in place are then checked and recorded anew."""
    try:
        read_manifest(root)
    except ModelFilesInvalidError as exc:
        path = manifest_path(root)
        aside = path.with_name(f"{path.name}.unreadable-{dt.datetime.now():%Y%m%d-%H%M%S}")
        os.replace(path, aside)
        say(f"{str(exc).splitlines()[0]}\nMoved it aside to {aside}; the model files in place are checked again.")


def check_load(keys: list[str], root: Path) -> list[tuple[str, str]]:
    """Load each model once in a child process (so its memory goes back); (key, message) of each failure."""
    failures = []
    code = "import sys, model_store; model_store.load_model(sys.argv[1], sys.argv[2]); print('ok')"
    for key in keys:
        say(f"Checking that {MODELS[key].display_name} loads (offline, in a separate process)…")
        proc = subprocess.run(
            [sys.executable, "-c", code, key, str(root)],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-12:])
            failures.append((key, f"{key}: the files are in place but the model did not load:\n{tail}"))
    return failures


def forget(root: Path, keys: list[str]) -> None:
    """Drop models from the manifest (their files stay), so the app treats them as not set up."""
    manifest = read_manifest(root)
    for key in keys:
        manifest["models"].pop(key, None)
    write_manifest(root, manifest)


def verify(root: Path, keys: list[str]) -> int:
    """Re-hash every file against the manifest and report; exit status 0 when all match."""
    problems = check_local_models(root, keys, deep=True)
    if problems:
        say(format_problems(problems, root))
        return 1
    manifest = read_manifest(root)
    count = sum(len(manifest["models"][k]["files"]) for k in keys)
    say(f"All {count} files of {', '.join(keys)} match the sha256 recorded in {root / 'manifest.json'}.")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models-dir", help="models folder (default: $LOCAL_MODELS_DIR, else local_models/ here)")
    p.add_argument("--only", choices=list(MODELS), action="append", help="set up only this model (repeatable)")
    p.add_argument("--revision", help="hub revision (commit SHA, tag, branch) instead of the pinned one; needs --only")
    p.add_argument("--from", dest="source", metavar="PATH",
                   help="adopt a copy you already have: a .nemo file (parakeet) or a SALM folder (canary)")
    p.add_argument("--force", action="store_true", help="re-create the model even if it is already set up")
    p.add_argument("--verify", action="store_true", help="re-hash every file against the manifest and report")
    p.add_argument("--no-check-load", action="store_true", help="skip loading each new model once to prove it works")
    p.add_argument("--lock-timeout", type=float, default=3600, help="seconds to wait for another running setup")
    args = p.parse_args(argv)
    if (args.revision or args.source) and len(args.only or []) != 1 and not (args.source and not args.only):
        p.error("--revision and --from apply to one model: add --only parakeet or --only canary")
    if args.source and not args.only:
        args.only = ["canary" if Path(args.source).expanduser().is_dir() else "parakeet"]
    return args


def main(argv: list[str] | None = None) -> int:
    """Run setup; returns the process exit status."""
    args = parse_args(argv)
    root = resolve_models_dir(args.models_dir)
    keys = args.only or list(MODELS)
    if args.verify and not root.is_dir():
        return verify(root, keys)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        say(f"Cannot create the models folder {root}: {exc}")
        return 1
    lock = FileLock(str(root / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"Another setup_local_models.py is working on {root}; waiting for it to finish…")
        try:
            lock.acquire(timeout=args.lock_timeout)
        except Timeout:
            say(f"Gave up after {args.lock_timeout:.0f} s: another setup still holds {root / LOCK_NAME}.")
            return 2
    try:
        if args.verify:
            return verify(root, keys)
        for leftover in (*root.glob(".manifest.json.*.tmp"), *root.glob(".verified.json.*.tmp")):
            leftover.unlink(missing_ok=True)  # a killed run's half-written temporary files (we hold the lock)
        try:
            set_aside_unreadable_manifest(root)
        except OSError as exc:
            say(f"Cannot move the unreadable manifest out of the way: {exc}")
            return 1
        outcomes, installed = [], []
        for key in keys:
            try:
                outcome = setup_model(MODELS[key], root, args)
            except (SetupError, ModelFilesInvalidError) as exc:
                say(f"\n{MODELS[key].display_name}: setup failed.\n{exc}\n")
                return 1
            except OSError as exc:  # disk full, file-size limit, permissions
                say(f"\n{MODELS[key].display_name}: setup failed while writing files: {exc}\n"
                    f"Nothing half-written was put in place. Free space or fix permissions and run setup again.")
                return 1
            outcomes.append(outcome)
            if "already set up" not in outcome:
                installed.append(key)
        for line in outcomes:
            say(line)
        if installed and not args.no_check_load:
            failures = check_load(installed, root)
            if failures:
                say("\n\n".join(message for _, message in failures))
                forget(root, [key for key, _ in failures])
                say("\nThese files stay in place but are no longer recorded as set up, so the app will not use them.\n"
                    "Fix the cause above (e.g. install the NeMo version in requirements.txt), then run setup again;\n"
                    "add --force to fetch fresh files instead.")
                return 1
            say("Every new model loaded successfully.")
        say(f"Done. Start the app with: python transcribe_ui.py{models_dir_option(root)}")
        return 0
    finally:
        with contextlib.suppress(Exception):
            lock.release()


if __name__ == "__main__":
    sys.exit(main())
