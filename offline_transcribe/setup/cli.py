"""The setup command: put the models in local_models/, at their pinned commits, verified, ready to load offline.

    python setup_local_models.py                      # the required models: re-use what you have, download the rest
    python setup_local_models.py --only parakeet --from ~/parakeet-tdt-0.6b-v2.nemo
    python setup_local_models.py --only parakeet-v3   # an optional model
    python setup_local_models.py --only diarizer      # the speaker model ("Identify speakers")
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
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

from .. import offline
from ..config import PROJECT_DIR, resolve_models_dir
from ..devices import gpu_check, nvidia_driver, torch_build
from ..errors import ModelFilesInvalidError, SetupError
from ..models.files import (
    check_local_models,
    check_model,
    format_problems,
    installed_keys,
    manifest_path,
    read_manifest,
    start_command,
    write_manifest,
)
from ..models.registry import MODELS, ModelSpec, required_keys
from .hub import hub_api
from .sources import stage_download, stage_existing, stage_from_hub_cache, stage_from_path
from .staging import human, install, remove_path, say, staging_dir

LOCK_NAME = ".setup.lock"


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
    revision = args.revision or spec.revision
    staged = None
    if args.source:
        staged = stage_from_path(spec, Path(args.source), root)
    if staged is None and not args.force:
        staged = stage_existing(spec, root)
    if staged is None and not args.revision:
        staged = stage_from_hub_cache(spec, root)
    if staged is None:
        staged = stage_download(spec, root, hub_api(args.token), revision)
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
    code = "import sys; from offline_transcribe import ModelStore; ModelStore(sys.argv[2]).load(sys.argv[1])"
    for key in keys:
        say(f"Checking that {MODELS[key].display_name} loads (offline, in a separate process)…")
        proc = subprocess.run(
            [sys.executable, "-c", code, key, str(root)],
            cwd=PROJECT_DIR,  # the checkout's package, also when it is not installed
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
    p.add_argument("--only", choices=list(MODELS), action="append",
                   help="set up only this model (repeatable); without it: " + ", ".join(required_keys()))
    p.add_argument("--revision", help="hub revision (commit SHA, tag, branch) instead of the pinned one; needs --only")
    p.add_argument("--from", dest="source", metavar="PATH",
                   help="adopt a copy you already have: a .nemo file or a checkpoint folder")
    p.add_argument("--force", action="store_true", help="re-create the model even if it is already set up")
    p.add_argument("--verify", action="store_true", help="re-hash every file against the manifest and report")
    p.add_argument("--no-check-load", action="store_true", help="skip loading each new model once to prove it works")
    p.add_argument("--lock-timeout", type=float, default=3600, help="seconds to wait for another running setup")
    p.add_argument("--token", help="Hugging Face token for repositories that need a login (default: $HF_TOKEN); used\n"
                   "for this run only, never saved; HF_TOKEN keeps it out of the process list")
    args = p.parse_args(argv)
    if (args.revision or args.source) and len(args.only or []) != 1 and not (args.source and not args.only):
        p.error(f"--revision and --from apply to one model: add --only KEY (one of {', '.join(MODELS)})")
    if args.source and not args.only:
        args.only = [guess_model(Path(args.source))]
    return args


def guess_model(source: Path) -> str:
    """The required model stored the way ``source`` is (a file or a folder), for ``--from`` without ``--only``."""
    folder = source.expanduser().is_dir()
    return next(key for key, spec in MODELS.items() if spec.required and spec.is_folder == folder)


def keys_to_verify(root: Path) -> list[str]:
    """The required models and every optional one the manifest records."""
    try:
        recorded = read_manifest(root)["models"]
    except ModelFilesInvalidError:
        recorded = {}
    return [key for key, spec in MODELS.items() if spec.required or key in recorded]


def main(argv: list[str] | None = None) -> int:
    """Run setup; returns the process exit status."""
    args = parse_args(argv)
    root = resolve_models_dir(args.models_dir)
    keys = args.only or (keys_to_verify(root) if args.verify else required_keys())
    if args.verify and not root.is_dir():
        return verify(root, keys)
    if not args.verify:
        say(gpu_check(torch_build(), nvidia_driver()))  # before any download: is there a GPU, and what it means
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
        say(f"Done. Start the app with: {start_command(root, installed_keys(root))}")
        return 0
    finally:
        with contextlib.suppress(Exception):
            lock.release()


def run() -> None:
    """The ``setup_local_models.py`` / ``setup-local-models`` command: online for the hub, then ``main``."""
    offline.allow_hub_downloads()
    sys.exit(main())
