#!/usr/bin/env python
"""The CUDA machine's Python environment: what it has, the wheels the GPU check brings, and a stand-in for it here.

    python bench/gpu_env.py report [--json FILE]      # there: versions found against the tested pins, and imports
    python bench/gpu_env.py check-wheels DIR          # every wheel installs on CPython 3.12 x86-64; one version each
    python bench/gpu_env.py pack DIR ARCHIVE          # the wheels, stored uncompressed, in one .tar.xz
    python bench/gpu_env.py unpack ARCHIVE DIR
    python bench/gpu_env.py twins DIR OUT             # the same wheels for this Python (binary ones downloaded again)
    python bench/gpu_env.py stand-in OUT              # a virtualenv holding only the CUDA machine's packages

The CUDA machine (``bench/gpu_machine.txt``) has PyTorch, transformers, peft, lightning … but no NeMo, and it cannot
reach a package index: ``bench/gpu_prepare.sh`` downloads what it lacks (``bench/gpu_wheels.txt``) here.
``pack`` exists because two of those wheels are large (PyAV bundles FFmpeg, wandb a Go binary): zip-deflated, the
set is about 68 MB, over what may travel with the working tree; re-stored without compression and xz-compressed
as one archive it is about 48 MB, and ``unpack`` gives back wheels with the same files (pip checks each file
against the wheel's RECORD, not the zip's compression).

``stand-in`` is the dry run's version of that machine: a virtualenv whose site-packages holds links to this
environment's copies of exactly the packages the CUDA machine has (file by file, so that a namespace package
brings only its own part), with the machine's versions of transformers, huggingface_hub and tokenizers
downloaded over ours. What it cannot stand in for: CPython 3.12 (this is 3.11: ``check-wheels`` checks the tags
instead), the machine's torch 2.11 with CUDA, and the other packages whose versions there are unknown.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_DIR = HERE.parent
MACHINE_LIST = HERE / "gpu_machine.txt"
WHEEL_LIST = HERE / "gpu_wheels.txt"

# The CUDA machine: CPython 3.12 on x86-64 Linux with glibc 2.39 (Ubuntu 24.04), so manylinux_2_5 … 2_39.
TARGET_PYTHON = (3, 12)
TARGET_PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in range(39, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]
# The machine's own versions of these are put into the stand-in over this environment's (their APIs are the
# ones this project and NeMo call most; torch and numpy cannot be swapped without breaking what is built on them).
STAND_IN_VERSIONS = ("transformers", "huggingface-hub", "tokenizers")

# What the GPU steps import (tests, benchmarks): a name missing here is a wheel missing from gpu_wheels.txt.
GPU_IMPORTS = (
    "torch", "numpy", "transformers", "peft", "accelerate", "safetensors", "sentencepiece", "tokenizers", "lightning",
    "omegaconf", "hydra", "lhotse", "librosa", "soundfile", "av", "soxr", "filelock", "huggingface_hub", "pytest",
    "pytest_timeout", "offline_transcribe", "offline_transcribe.transcribe", "offline_transcribe.setup.cli",
    "nemo.collections.asr", "nemo.collections.asr.models", "nemo.collections.speechlm2.models",
    "offline_transcribe.backends.nemo_tdt", "offline_transcribe.backends.salm", "tiny_models",
)
# Their versions (tested pins: requirements.txt); the first eight are what the machine brings itself.
REPORTED = ("torch", "transformers", "peft", "accelerate", "safetensors", "sentencepiece", "lightning", "numpy",
            "huggingface_hub", "tokenizers", "nemo_toolkit", "av", "soxr", "soundfile", "omegaconf", "lhotse",
            "wandb", "protobuf", "pytest")


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_list(path: Path) -> dict[str, str | None]:
    """``name`` or ``name==version`` lines (``#`` comments) as {normalized name: version or None}."""
    out: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[normalize(name)] = version.strip() or None
    return out


def tested_pins() -> dict[str, str]:
    """The versions this project is tested with: ``requirements*.txt`` and the wheel list."""
    pins: dict[str, str] = {}
    for path in (PROJECT_DIR / "requirements.txt", PROJECT_DIR / "requirements-dev.txt", WHEEL_LIST):
        for line in path.read_text().splitlines():
            m = re.match(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s#;]+)", line)
            if m:
                pins[normalize(m.group(1))] = m.group(2)
    return pins


# ---------------------------------------------------------------------------------------------------------------
# On the CUDA machine: what is there


def report(json_path: Path | None) -> int:
    """Print the versions found (against the tested pins) and try every import the GPU steps need.

    Exit status 1, naming each missing module, when one fails: the GPU steps would fail on it.
    """
    pins = tested_pins()
    versions = {}
    print("Packages (found / tested with):")
    for name in REPORTED:
        try:
            dist = metadata.distribution(name)
            found, where = dist.version, str(Path(str(dist.locate_file(""))))
        except metadata.PackageNotFoundError:
            found, where = None, None
        tested = pins.get(normalize(name))
        same = "" if tested is None or found is None else (" (same)" if found.split("+")[0] == tested else " (DIFFERS)")
        print(f"  {name:16} {found or 'MISSING':14} tested {tested or '—':10}{same}  {where or ''}")
        versions[name] = {"found": found, "tested": tested, "location": where}
    failures = {}
    for module in GPU_IMPORTS:
        try:
            importlib.import_module(module)
        except Exception as exc:  # any failure to import is what this step is for
            failures[module] = f"{type(exc).__name__}: {exc}"
    import torch

    cuda = torch.cuda.is_available()
    gpu = {"cuda_available": cuda, "torch_cuda": torch.version.cuda,
           "name": torch.cuda.get_device_name(0) if cuda else None,
           "memory_gib": torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None,
           "bf16": torch.cuda.is_bf16_supported() if cuda else None}
    print(f"GPU: {gpu}")
    for module, error in failures.items():
        print(f"MISSING for the GPU steps: import {module} failed ({error}). Add the package that provides it to "
              "bench/gpu_wheels.txt and run bench/gpu_prepare.sh again.")
    if not failures:
        print(f"Every module the GPU steps import was imported ({len(GPU_IMPORTS)}).")
    if json_path:
        json_path.write_text(json.dumps({"python": sys.version.split()[0], "versions": versions, "gpu": gpu,
                                         "import_failures": failures}, indent=1))
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------------------------------
# Here: the wheels


def target_tags() -> set:
    """Every wheel tag CPython 3.12 on x86-64 manylinux accepts."""
    from packaging import tags

    return set(tags.cpython_tags(TARGET_PYTHON, platforms=TARGET_PLATFORMS)) | set(
        tags.compatible_tags(TARGET_PYTHON, "cp312", platforms=TARGET_PLATFORMS))


def wheels_in(folder: Path) -> list[tuple[Path, str, str, frozenset]]:
    """(path, normalized name, version, tags) of every wheel in ``folder``."""
    from packaging.utils import parse_wheel_filename

    out = []
    for path in sorted(folder.glob("*.whl")):
        name, version, _, tags = parse_wheel_filename(path.name)
        out.append((path, str(name), str(version), tags))
    return out


def is_pure(tags: frozenset) -> bool:
    """A wheel that runs on any Python 3 and any platform."""
    return any(t.abi == "none" and t.platform == "any" for t in tags)


def check_wheels(folder: Path) -> int:
    """Each wheel's tags admit CPython 3.12 on x86-64 manylinux; one version of each name; every pinned wheel there."""
    accepted = target_tags()
    problems = []
    names: dict[str, str] = {}
    wheels = wheels_in(folder)
    for path, name, version, tags in wheels:
        if not tags & accepted:
            problems.append(f"{path.name}: no tag CPython 3.12 on x86-64 manylinux accepts")
        if name in names and names[name] != version:
            problems.append(f"{name}: two versions ({names[name]} and {version}); pip installs one")
        names[name] = version
    for name, version in read_list(WHEEL_LIST).items():
        if names.get(name) != version:
            problems.append(f"{name}=={version} (bench/gpu_wheels.txt) is not in {folder}")
    total = sum(p.stat().st_size for p, *_ in wheels)
    binary = [p.name for p, _, _, tags in wheels if not is_pure(tags)]
    print(f"{len(wheels)} wheels, {total / 1e6:.1f} MB zipped; built for a platform: {', '.join(binary) or 'none'}")
    print("Every wheel's tags admit cp312-manylinux x86_64 (packaging.tags)." if not problems else "")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def pack(folder: Path, archive: Path) -> None:
    """Every wheel of ``folder``, re-stored without compression, in one xz-compressed tar (see the module doc)."""
    import lzma

    partial = archive.with_name(archive.name + ".partial")
    with lzma.open(partial, "wb", preset=9) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
        for path, *_ in wheels_in(folder):
            buffer = io.BytesIO()
            with zipfile.ZipFile(path) as src, zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as dst:
                for info in src.infolist():
                    dst.writestr(info, src.read(info), compress_type=zipfile.ZIP_STORED)
            member = tarfile.TarInfo(path.name)
            member.size, member.mtime = buffer.tell(), int(path.stat().st_mtime)
            buffer.seek(0)
            tar.addfile(member, buffer)
    os.replace(partial, archive)


def unpack(archive: Path, folder: Path) -> None:
    """The wheels of ``archive`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:xz") as tar:
        tar.extractall(folder, filter="data")


def twins(folder: Path, out: Path) -> None:
    """``folder``'s wheels for the Python running this: those it accepts copied, the others (built for CPython 3.12,
    or tagged py312) downloaded again for it, same versions."""
    from packaging import tags as wheel_tags

    here = set(wheel_tags.sys_tags())
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    for path, name, version, tags in wheels_in(folder):
        if tags & here:
            shutil.copy2(path, out / path.name)
        else:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            "-d", str(out), f"{name}=={version}"], check=True)


# ---------------------------------------------------------------------------------------------------------------
# Here: a stand-in for the CUDA machine


def stand_in(out: Path) -> Path:
    """A virtualenv at ``out`` holding this environment's copies of the CUDA machine's packages (and the machine's
    versions of ``STAND_IN_VERSIONS``); returns its ``python``."""
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(out)], check=True)
    python = out / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    machine = read_list(MACHINE_LIST)
    linked = 0
    for dist in metadata.distributions():
        name = normalize(dist.metadata["Name"])
        if name not in machine or (name in STAND_IN_VERSIONS and machine[name] != dist.version):
            continue
        base = Path(str(dist.locate_file("")))
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            source, link = base / file, site / file
            if source.exists() and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(source)
        linked += 1
    swapped = [f"{n}=={machine[n]}" for n in STAND_IN_VERSIONS
               if machine.get(n) and _version_here(n) != machine[n]]
    if swapped:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target",
                        str(site), *swapped], check=True)
    print(f"stand-in for the CUDA machine: {out} ({linked} packages linked from this environment; "
          f"the machine's versions of {', '.join(swapped) or 'nothing'} installed over them)")
    return python


def _version_here(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report")
    r.add_argument("--json", type=Path)
    c = sub.add_parser("check-wheels")
    c.add_argument("folder", type=Path)
    for name in ("pack", "twins"):
        s = sub.add_parser(name)
        s.add_argument("folder", type=Path)
        s.add_argument("out", type=Path)
    u = sub.add_parser("unpack")
    u.add_argument("archive", type=Path)
    u.add_argument("folder", type=Path)
    s = sub.add_parser("stand-in")
    s.add_argument("out", type=Path)
    a = p.parse_args(argv)
    if a.command == "report":
        return report(a.json)
    if a.command == "check-wheels":
        return check_wheels(a.folder)
    if a.command == "pack":
        pack(a.folder, a.out)
    elif a.command == "unpack":
        unpack(a.archive, a.folder)
    elif a.command == "twins":
        twins(a.folder, a.out)
    else:
        stand_in(a.out)
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(PROJECT_DIR), str(PROJECT_DIR / "tests")]  # offline_transcribe and tiny_models, for report
    sys.exit(main())
