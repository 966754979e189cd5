"""Load the local models, offline, once per process: the only place that turns model files into models.

Importing this module switches the hub libraries offline (``offline_env``) before NeMo is
imported, so nothing at run time can reach the network. The registry, paths, manifest and
file checks live in ``model_files`` and are re-exported here.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import tarfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fast_load
import offline_env  # noqa: F401  (must come before NeMo / transformers / huggingface_hub)
from model_files import (  # noqa: F401  (re-exported: the store's public API)
    DEFAULT_MODEL,
    GUIDE,
    MODELS,
    LocalModelError,
    ModelFilesInvalidError,
    ModelsMissingError,
    ModelSpec,
    Problem,
    UnknownModelError,
    check_local_models,
    get_spec,
    models_dir_option,
    read_manifest,
    resolve_models_dir,
    validate_local_models,
    verify_content,
)

log = logging.getLogger("transcribe.model_store")

class ModelLoadError(LocalModelError):
    """The files passed every check but the model still failed to build (e.g. another NeMo version)."""


@dataclass
class LoadedModel:
    """A model in memory and where it runs."""

    key: str
    model: Any
    device: str  # "cuda" or "cpu"
    device_label: str  # "GPU (NVIDIA H100 80GB HBM3)" or "CPU"
    dtype: str
    load_seconds: float


_cache: dict[tuple[str, Path], LoadedModel] = {}
_loading: set[tuple[str, Path]] = set()
_failed: dict[tuple[str, Path], str] = {}
_locks: dict[tuple[str, Path], threading.Lock] = {}
_registry_lock = threading.Lock()
_half_by_default = False


def use_half_precision(enabled: bool) -> None:
    """Load Canary in bfloat16 on a GPU from now on (half the GPU memory of float32), unless a call says otherwise."""
    global _half_by_default
    _half_by_default = enabled


def _lock_for(cache_key: tuple[str, Path]) -> threading.Lock:
    with _registry_lock:
        return _locks.setdefault(cache_key, threading.Lock())


def default_device() -> str:
    """``cuda`` when a CUDA GPU is usable, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_label(device: str) -> str:
    """A short human name for a device: ``GPU (NVIDIA H100 80GB HBM3)`` or ``CPU``."""
    if device.startswith("cuda"):
        import torch

        return f"GPU ({torch.cuda.get_device_name(torch.device(device))})"
    return "CPU"


def load_model(
    key: str, models_dir: str | os.PathLike | None = None, *, device: str | None = None, half: bool | None = None
) -> Any:
    """The model ``key`` from the models folder, loaded once per process and kept in memory.

    Two threads asking at the same moment build it once (a lock per model). The model is in
    ``eval()`` mode, on the GPU when there is one. ``half`` runs Canary on the GPU in bfloat16
    (float16 where bfloat16 is not supported); the default is float32.
    Raises ``ModelsMissingError``, ``ModelFilesInvalidError`` or ``ModelLoadError`` with a message
    that names the file and the command that fixes it.
    """
    return load(key, models_dir, device=device, half=half).model


def load(
    key: str, models_dir: str | os.PathLike | None = None, *, device: str | None = None, half: bool | None = None
) -> LoadedModel:
    """Like ``load_model`` but returns the ``LoadedModel`` record (device, dtype, load time)."""
    spec = get_spec(key)
    root = resolve_models_dir(models_dir)
    cache_key = (key, root)
    if (hit := _cache.get(cache_key)) is not None:
        return hit
    with _lock_for(cache_key):
        if (hit := _cache.get(cache_key)) is not None:
            return hit
        _loading.add(cache_key)
        _failed.pop(cache_key, None)
        try:
            loaded = _load_uncached(spec, root, device or default_device(), _half_by_default if half is None else half)
        except Exception as exc:
            _failed[cache_key] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise
        finally:
            _loading.discard(cache_key)
        _cache[cache_key] = loaded
        return loaded


def _load_uncached(spec: ModelSpec, root: Path, device: str, half: bool) -> LoadedModel:
    validate_local_models(root, [spec.key])
    if device == "cpu":
        log.warning(
            "No CUDA GPU found: %s runs on the CPU. It works, but expect it to be far slower than on a GPU.",
            spec.display_name,
        )
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"verify-{spec.key}") as pool:
        verifying = pool.submit(_verify_once, spec, root)  # hashes in parallel with the load
        model = _restore_nemo(spec, root, device) if spec.kind == "nemo" else _load_salm(spec, root, device, half)
        verifying.result()  # raises ModelFilesInvalidError if a file's content changed since setup
    model.eval()
    _release_freed_memory()
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    seconds = time.perf_counter() - started
    log.info("%s ready on %s (%s) in %.1f s", spec.display_name, device_label(device), dtype, seconds)
    return LoadedModel(spec.key, model, device, device_label(device), dtype, seconds)


def _corrupt(spec: ModelSpec, path: Path, reason: str, root: Path) -> ModelFilesInvalidError:
    return ModelFilesInvalidError(
        f"{spec.display_name} cannot be loaded: {path} {reason}.\n"
        f"Re-create it with:\n  {spec.setup_command()}{models_dir_option(root)} --force\n"
        f"See {GUIDE} for instructions.",
        [path],
    )


def _restore_nemo(spec: ModelSpec, root: Path, device: str):
    path = spec.path(root)
    try:
        # ASRModel.restore_from's model, without extracting the archive or initialising weights (fast_load).
        return fast_load.restore_nemo(path, device)
    except FileNotFoundError as exc:
        if not path.exists():
            validate_local_models(root, [spec.key])  # raises ModelsMissingError naming every missing path
        raise _corrupt(spec, path, f"is incomplete ({exc})", root) from exc
    except (tarfile.TarError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise _corrupt(spec, path, f"is corrupt or truncated ({type(exc).__name__}: {exc})", root) from exc
    except RuntimeError as exc:
        if "PytorchStreamReader" in str(exc) or "zip archive" in str(exc):
            raise _corrupt(spec, path, f"has damaged weights ({exc})", root) from exc
        raise ModelLoadError(_load_failed_message(spec, path, exc, root)) from exc
    except Exception as exc:
        raise ModelLoadError(_load_failed_message(spec, path, exc, root)) from exc


def _load_failed_message(spec: ModelSpec, path: Path, exc: BaseException, root: Path) -> str:
    return (
        f"{spec.display_name} could not be built from {path}: {type(exc).__name__}: {exc}\n"
        f"If the files came from another NeMo version or another machine, re-create them with:\n"
        f"  {spec.setup_command()}{models_dir_option(root)} --force\n"
        f"See {GUIDE} for instructions."
    )


def _load_salm(spec: ModelSpec, root: Path, device: str, half: bool):
    import torch
    from safetensors import safe_open

    folder = spec.path(root)
    weights = folder / "model.safetensors"
    try:
        with safe_open(str(weights), framework="pt"):  # its header parses: a safetensors file, not something else
            pass
    except Exception as exc:
        raise _corrupt(spec, weights, f"is not a readable safetensors file ({exc})", root) from exc
    dtype = torch.float32
    if half and device == "cpu":
        log.info("Half precision applies on a GPU: %s stays in float32 on the CPU.", spec.display_name)
    elif half:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        # SALM.from_pretrained's model, built without random initial weights and with the weights copied
        # straight to the device in their final dtype (fast_load.restore_salm).
        return fast_load.restore_salm(folder, device, dtype)
    except fast_load.CheckpointMismatchError as exc:
        raise _corrupt(spec, weights, f"does not match the model: {exc}", root) from exc
    except Exception as exc:
        raise ModelLoadError(_load_failed_message(spec, folder, exc, root)) from exc


def _verify_once(spec: ModelSpec, root: Path) -> None:
    """Hash files changed since they were last verified (see ``model_files.verify_content``); raise if corrupt."""
    entry = read_manifest(root)["models"].get(spec.key, {})
    problems = verify_content(spec, root, entry, trust_stamps=True)
    if problems:
        raise _corrupt(spec, problems[0].path, "does not match the sha256 recorded at setup: the file is corrupt", root)


def _release_freed_memory() -> None:
    """Give the state-dict memory freed after loading back to the OS (glibc keeps it otherwise)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# ---------------------------------------------------------------------------------------------------------------
# State for the page


def model_status(key: str, models_dir: str | os.PathLike | None = None) -> str:
    """``not installed`` | ``not loaded`` | ``loading…`` | ``ready on GPU (…)`` | ``ready on CPU`` | ``failed: …``."""
    root = resolve_models_dir(models_dir)
    cache_key = (key, root)
    if (hit := _cache.get(cache_key)) is not None:
        return f"ready on {hit.device_label}"
    if cache_key in _loading:
        return "loading…"
    if cache_key in _failed:
        return f"failed: {_failed[cache_key]}"
    if check_local_models(root, [key]):
        return "not installed"
    return "not loaded"


def preload(key: str, models_dir: str | os.PathLike | None = None) -> threading.Thread:
    """Load ``key`` in a background thread (errors are logged and shown by ``model_status``)."""

    def run() -> None:
        try:
            load(key, models_dir)
        except Exception as exc:  # reported through model_status
            log.error("Preloading %s failed: %s", key, exc)

    thread = threading.Thread(target=run, name=f"preload-{key}", daemon=True)
    thread.start()
    return thread


def forget(key: str, models_dir: str | os.PathLike | None = None) -> None:
    """Drop a model from memory (the next ``load_model`` loads it from disk again)."""
    cache_key = (key, resolve_models_dir(models_dir))
    with _lock_for(cache_key):
        _cache.pop(cache_key, None)
        _failed.pop(cache_key, None)
    free_accelerator_memory()


def free_accelerator_memory() -> None:
    """Return cached GPU memory to the driver (after an out-of-memory error or an unload)."""
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
