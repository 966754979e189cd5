"""Shared fixtures: tiny real NeMo models installed through the real setup path, once per session."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
TESTS_DIR = Path(__file__).resolve().parent
for _p in (str(PROJECT_DIR), str(TESTS_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import model_store  # noqa: E402  (switches the hub libraries offline before anything imports them)
import setup_local_models  # noqa: E402


def install_model(models_dir: Path, key: str, source: Path) -> Path:
    """Adopt ``source`` into ``models_dir`` with the real setup script (in-process, no load check)."""
    status = setup_local_models.main(
        ["--models-dir", str(models_dir), "--only", key, "--from", str(source), "--no-check-load"]
    )
    assert status == 0, f"setup failed for {key} from {source}"
    return models_dir


def install_parakeet(models_dir: Path, nemo: Path) -> Path:
    """Install a ``.nemo`` as the Parakeet model of ``models_dir`` (the way a user adopts a copy)."""
    return install_model(models_dir, "parakeet", nemo)


@pytest.fixture(scope="session")
def tiny_sources(tmp_path_factory) -> dict[str, Path]:
    """A tiny FastConformer-TDT ``.nemo`` and a tiny SALM folder built with the real NeMo classes."""
    from tiny_models import build_tiny_canary, build_tiny_parakeet

    root = tmp_path_factory.mktemp("tiny_sources")
    nemo = root / "tiny_parakeet.nemo"
    build_tiny_parakeet(nemo)
    build_tiny_canary(root / "tiny_canary", nemo)
    return {"parakeet": nemo, "canary": root / "tiny_canary"}


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory, tiny_sources) -> Path:
    """A models folder holding both tiny models and their manifest, made by setup_local_models.py."""
    models_dir = tmp_path_factory.mktemp("tiny_models") / "local_models"
    for key, source in tiny_sources.items():
        install_model(models_dir, key, source)
    return models_dir


@pytest.fixture
def models_dir(tmp_path, tiny_models_dir) -> Path:
    """A fresh copy of the tiny models folder that a test may damage."""
    copy = tmp_path / "local_models"
    shutil.copytree(tiny_models_dir, copy)
    return copy


@pytest.fixture
def fresh_model_cache():
    """The store's in-memory models are forgotten before and after the test (each test loads its own)."""
    model_store._cache.clear()
    model_store._failed.clear()
    yield
    model_store._cache.clear()
