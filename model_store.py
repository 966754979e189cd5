"""The model store's public face, as the original request named it: check the local model files and load them.

    import model_store
    model_store.validate_local_models()           # raises, naming every missing or damaged file
    model = model_store.load_model("parakeet")    # offline, once per process

Importing it switches the hub libraries offline (the package ``offline_transcribe`` does that when imported).
Each models folder gets one ``ModelStore`` (``default_store``); programs that want their own store, device or
precision use ``offline_transcribe.ModelStore`` directly.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from offline_transcribe import ModelStore
from offline_transcribe.config import GUIDE, resolve_models_dir
from offline_transcribe.errors import (
    LocalModelError,
    ModelFilesInvalidError,
    ModelLoadError,
    ModelsMissingError,
    UnknownModelError,
)
from offline_transcribe.models.files import Problem, check_local_models, read_manifest, validate_local_models
from offline_transcribe.models.registry import DEFAULT_MODEL, MODELS, ModelSpec, get_spec
from offline_transcribe.models.store import LoadedModel

__all__ = [
    "DEFAULT_MODEL",
    "GUIDE",
    "MODELS",
    "LoadedModel",
    "LocalModelError",
    "ModelFilesInvalidError",
    "ModelLoadError",
    "ModelSpec",
    "ModelsMissingError",
    "Problem",
    "UnknownModelError",
    "check_local_models",
    "default_store",
    "forget",
    "get_spec",
    "load",
    "load_model",
    "model_status",
    "preload",
    "read_manifest",
    "resolve_models_dir",
    "validate_local_models",
]

_stores: dict[Path, ModelStore] = {}
_stores_lock = threading.Lock()


def default_store(models_dir: str | os.PathLike | None = None) -> ModelStore:
    """The process's store for ``models_dir`` (default: ``$LOCAL_MODELS_DIR`` or ``local_models/``)."""
    root = resolve_models_dir(models_dir)
    with _stores_lock:
        return _stores.setdefault(root, ModelStore(root))


def load_model(
    key: str, models_dir: str | os.PathLike | None = None, *, device: str | None = None, half: bool | None = None
) -> Any:
    """The model ``key`` from the models folder, loaded once per process and kept in memory (in eval mode, on the
    GPU when there is one). Models that support it (Canary) run in bfloat16 on a GPU that supports it;
    ``half=False`` keeps them in float32, ``half=True`` also allows float16 on a GPU without bfloat16.

    Raises ``ModelsMissingError`` (a ``FileNotFoundError``), ``ModelFilesInvalidError`` or ``ModelLoadError`` with
    a message that names the file and the command that fixes it.
    """
    return load(key, models_dir, device=device, half=half).model


def load(
    key: str, models_dir: str | os.PathLike | None = None, *, device: str | None = None, half: bool | None = None
) -> LoadedModel:
    """Like ``load_model`` but returns the ``LoadedModel`` record (device, dtype, load time)."""
    precision = None if half is None else ("half" if half else "float32")
    return default_store(models_dir).load(key, device=device, precision=precision)


def model_status(key: str, models_dir: str | os.PathLike | None = None) -> str:
    """``not installed`` | ``not loaded`` | ``loading…`` | ``ready on GPU (…)`` | ``ready on CPU`` | ``failed: …``."""
    return str(default_store(models_dir).status(key))


def preload(key: str, models_dir: str | os.PathLike | None = None) -> threading.Thread:
    """Load ``key`` in a background thread (errors are logged and shown by ``model_status``)."""
    return default_store(models_dir).preload(key)


def forget(key: str, models_dir: str | os.PathLike | None = None) -> None:
    """Drop a model from memory (the next ``load_model`` loads it from disk again)."""
    default_store(models_dir).unload(key)
