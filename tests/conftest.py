"""Shared fixtures: tiny real NeMo models installed through the real setup path, once per session, and stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from offline_transcribe import ModelStore  # first: switches the hub libraries offline before anything imports them
from offline_transcribe.setup import cli as setup_cli


def install_model(models_dir: Path, key: str, source: Path) -> Path:
    """Adopt ``source`` into ``models_dir`` with the real setup command (in-process, no load check)."""
    status = setup_cli.main(["--models-dir", str(models_dir), "--only", key, "--from", str(source), "--no-check-load"])
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


TRAINED_NEMO = Path(__file__).resolve().parent / "data" / "tiny_words_tdt.nemo"  # training/train_tiny_parakeet.py


@pytest.fixture(scope="session")
def trained_models_dir(tmp_path_factory, tiny_models_dir) -> Path:
    """The tiny models with the trained tiny TDT installed as Parakeet through the real setup (read only: a test
    that damages models makes its own copy)."""
    models_dir = tmp_path_factory.mktemp("trained_models") / "local_models"
    shutil.copytree(tiny_models_dir, models_dir)  # the tiny Canary stays: the app wants both models
    install_parakeet(models_dir, TRAINED_NEMO)
    return models_dir


@pytest.fixture(scope="session")
def tiny_store(tiny_models_dir):
    """One store over ``tiny_models_dir`` for the whole session (its models load once)."""
    store = ModelStore(tiny_models_dir)
    yield store
    store.close()


@pytest.fixture
def models_dir(tmp_path, tiny_models_dir) -> Path:
    """A fresh copy of the tiny models folder that a test may damage."""
    copy = tmp_path / "local_models"
    shutil.copytree(tiny_models_dir, copy)
    return copy


@pytest.fixture
def store(models_dir):
    """A store of its own over the test's copy of the tiny models (nothing loaded yet)."""
    store = ModelStore(models_dir)
    yield store
    store.close()
