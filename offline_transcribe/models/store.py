"""Which models are in memory: ``ModelStore`` turns the files of the models folder into models, offline.

One store serves one models folder. It loads each model once per (model, folder, device, dtype) and keeps it
until ``unload`` (or, with ``unload_after_s``, until it has been idle that long), so a model loaded for the page
also serves every other request. ``use`` hands a model to one job at a time (a long file changes the model's
attention settings while it runs). Loading validates the files first and re-hashes those changed since setup,
so a missing or damaged file is reported by name with the command that fixes it, never as a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Precision, Settings, resolve_models_dir
from ..devices import default_device, device_label, free_accelerator_memory
from ..native_memory import release_freed_memory
from ..types import ModelState, ModelStatus
from .files import (
    Problem,
    check_local_models,
    corrupt_files_error,
    installed_keys,
    read_manifest,
    validate_local_models,
    verify_content,
)
from .loading import get_loader
from .registry import ModelSpec, get_spec

if TYPE_CHECKING:
    import torch

log = logging.getLogger("transcribe.model_store")

SPEED_MIN_AUDIO_S = 10.0


@dataclass(frozen=True)
class LoadKey:
    """What makes two loaded models the same one."""

    model: str
    folder: Path
    device: str
    dtype: str  # "float32", "bfloat16", "float16"


@dataclass(eq=False)
class LoadedModel:
    """A model in memory and where it runs."""

    key: str
    model: Any
    device: str  # "cuda" or "cpu"
    device_label: str  # "GPU (NVIDIA H100 80GB HBM3)" or "CPU"
    dtype: str
    load_seconds: float
    job_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    last_used: float = field(default_factory=time.monotonic, repr=False)
    speed: float | None = None  # seconds of audio per second of transcription, last measured (None: not yet)

    def record_speed(self, audio_s: float, wall_s: float) -> None:
        """Remember how fast the last transcription ran, for the next one's progress estimate (clips under
        ``SPEED_MIN_AUDIO_S`` are not counted: fixed costs, not the audio, decide their time)."""
        if audio_s >= SPEED_MIN_AUDIO_S and wall_s > 0:
            self.speed = audio_s / wall_s


class ModelStore:
    """The models of one models folder, loaded on first use and kept in memory."""

    def __init__(
        self,
        models_dir: str | os.PathLike | None = None,
        *,
        device: str | None = None,
        precision: Precision = "auto",
        unload_after_s: float | None = None,
    ) -> None:
        self.models_dir = resolve_models_dir(models_dir)
        self.device = device  # None: a CUDA GPU when there is one, else the CPU
        self.precision = precision
        self.unload_after_s = unload_after_s
        self._loaded: dict[LoadKey, LoadedModel] = {}
        self._loading: dict[str, int] = {}  # loads under way, by model
        self._failed: dict[str, str] = {}
        self._locks: dict[LoadKey, threading.Lock] = {}
        self._guard = threading.Lock()
        self._changed = threading.Condition(self._guard)
        self._version = 0  # counts changes of state (a load started, ended, failed; an unload)
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelStore:
        """The store the app's settings describe."""
        return cls(settings.models_dir, precision=settings.precision, unload_after_s=settings.unload_after_s)

    # -----------------------------------------------------------------------------------------------------------
    # Files

    def validate(self, keys: list[str] | None = None, deep: bool = False) -> Path:
        """Check the files of ``keys`` (default: the required models); raise with every problem listed."""
        return validate_local_models(self.models_dir, keys, deep=deep)

    def problems(self, keys: list[str] | None = None) -> list[Problem]:
        """What is wrong with the files of ``keys`` (default: the required models), without raising."""
        return check_local_models(self.models_dir, keys)

    def installed(self) -> list[str]:
        """The models whose files are in place (registry order)."""
        return installed_keys(self.models_dir)

    # -----------------------------------------------------------------------------------------------------------
    # Loading

    def load(
        self,
        key: str,
        *,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        precision: Precision | None = None,
    ) -> LoadedModel:
        """The model ``key`` on ``device`` in ``dtype``, loaded once and kept in memory.

        Two threads asking at the same moment build it once. ``device`` defaults to the store's (a CUDA GPU when
        there is one); ``dtype`` to what ``precision`` (default: the store's) means for this model on that device.
        Raises ``ModelsMissingError``, ``ModelFilesInvalidError`` or ``ModelLoadError`` with a message that names
        the file and the command that fixes it.
        """
        spec = get_spec(key)
        with self._guard:
            in_memory = any(k.model == key for k in self._loaded)
        if in_memory:  # the usual case: a dictionary look-up (another device or dtype is loaded below)
            return self._load(spec, device, dtype, precision)
        with self._marked_loading(key):  # "loading…" from the start: the first load also imports torch (seconds)
            return self._load(spec, device, dtype, precision)

    def _load(
        self, spec: ModelSpec, device: str | None, dtype: str | torch.dtype | None, precision: Precision | None
    ) -> LoadedModel:
        backend = get_loader(spec.backend)
        device = device or self.device or default_device()
        torch_dtype = _as_dtype(dtype) if dtype is not None else backend.dtype(precision or self.precision, device)
        load_key = LoadKey(spec.key, self.models_dir, device, _dtype_name(torch_dtype))
        if (hit := self._loaded.get(load_key)) is not None:
            return hit
        with self._lock_for(load_key):
            if (hit := self._loaded.get(load_key)) is not None:
                return hit
            with self._marked_loading(spec.key):
                try:
                    loaded = self._load_uncached(spec, device, torch_dtype)
                except Exception as exc:
                    with self._guard:
                        self._failed[spec.key] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise
                with self._guard:
                    self._loaded[load_key] = loaded
            self._start_reaper()
            return loaded

    @contextlib.contextmanager
    def _marked_loading(self, key: str) -> Iterator[None]:
        """``status(key)`` says "loading…" while this block runs (and not "failed" from an earlier try)."""
        with self._guard:
            self._loading[key] = self._loading.get(key, 0) + 1
            self._failed.pop(key, None)
            self._note_change()
        try:
            yield
        finally:
            with self._guard:
                self._loading[key] -= 1
                if not self._loading[key]:
                    del self._loading[key]
                self._note_change()

    @contextlib.contextmanager
    def use(
        self, key: str, *, device: str | None = None, dtype: str | torch.dtype | None = None
    ) -> Iterator[LoadedModel]:
        """``load`` the model and hold it for one job: other jobs on the same model wait, and the idle unloader
        leaves it alone until the job ends."""
        loaded = self.load(key, device=device, dtype=dtype)
        with loaded.job_lock:
            try:
                yield loaded
            finally:
                loaded.last_used = time.monotonic()

    def preload(self, key: str) -> threading.Thread:
        """Load ``key`` in a background thread (errors are logged and shown by ``status``)."""

        def run() -> None:
            try:
                self.load(key)
            except Exception as exc:  # reported through status()
                log.error("Preloading %s failed: %s", key, exc)

        thread = threading.Thread(target=run, name=f"preload-{key}", daemon=True)
        thread.start()
        return thread

    def _load_uncached(self, spec: ModelSpec, device: str, dtype: torch.dtype) -> LoadedModel:
        root = self.models_dir
        validate_local_models(root, [spec.key])
        if device == "cpu":
            log.warning(
                "No CUDA GPU found: %s runs on the CPU. It works, but expect it to be far slower than on a GPU.",
                spec.display_name,
            )
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"verify-{spec.key}") as pool:
            verifying = pool.submit(self._verify_changed_files, spec)  # hashes in parallel with the load
            model = get_loader(spec.backend).load(spec, root, device, dtype)
            verifying.result()  # raises ModelFilesInvalidError if a file's content changed since setup
        model.eval()
        release_freed_memory()
        dtype_name = _dtype_name(next(model.parameters()).dtype)
        seconds = time.perf_counter() - started
        log.info("%s ready on %s (%s) in %.1f s", spec.display_name, device_label(device), dtype_name, seconds)
        return LoadedModel(spec.key, model, device, device_label(device), dtype_name, seconds)

    def _verify_changed_files(self, spec: ModelSpec) -> None:
        """Hash files changed since they were last verified (``files.verify_content``); raise if one is corrupt."""
        entry = read_manifest(self.models_dir)["models"].get(spec.key, {})
        problems = verify_content(spec, self.models_dir, entry, trust_stamps=True)
        if problems:
            reason = "does not match the sha256 recorded at setup: the file is corrupt"
            raise corrupt_files_error(spec, problems[0].path, reason, self.models_dir)

    def _lock_for(self, load_key: LoadKey) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(load_key, threading.Lock())

    # -----------------------------------------------------------------------------------------------------------
    # State and unloading

    def status(self, key: str) -> ModelStatus:
        """not installed | not loaded | loading… | ready on <device> | failed: <why>."""
        with self._guard:
            ready = [m for k, m in self._loaded.items() if k.model == key]
            loading, failed = key in self._loading, self._failed.get(key)
        if ready:
            return ModelStatus(ModelState.READY, device=ready[0].device_label, dtype=ready[0].dtype)
        if loading:
            return ModelStatus(ModelState.LOADING)
        if failed is not None:
            return ModelStatus(ModelState.FAILED, detail=failed)
        if self.problems([key]):
            return ModelStatus(ModelState.NOT_INSTALLED)
        return ModelStatus(ModelState.NOT_LOADED)

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Block until the state has changed since version ``seen`` (or ``timeout`` seconds); the current version.

        Versions count every load started, ended or failed and every unload, so a caller showing ``status``
        can redraw exactly when something changed (start with ``seen=-1`` to get the current version at once).
        """
        with self._changed:
            self._changed.wait_for(lambda: self._version != seen, timeout)
            return self._version

    def _note_change(self) -> None:
        """Count a change of state and wake the waiters (call with ``_guard`` held)."""
        self._version += 1
        self._changed.notify_all()

    def loaded(self) -> list[LoadedModel]:
        """The models in memory now."""
        with self._guard:
            return list(self._loaded.values())

    def unload(self, key: str) -> int:
        """Drop every loaded copy of ``key`` and free the GPU memory it held; returns how many were dropped.

        A job already running keeps its model until it ends; the next request loads it again.
        """
        with self._guard:
            dropped = [k for k in self._loaded if k.model == key]
            for k in dropped:
                del self._loaded[k]
            self._failed.pop(key, None)
            self._note_change()
        if dropped:
            free_accelerator_memory()
            release_freed_memory()
            log.info("Unloaded %s", key)
        return len(dropped)

    def unload_idle(self, idle_s: float) -> list[str]:
        """Unload the models unused for ``idle_s`` seconds and not running a job; returns their keys."""
        now = time.monotonic()
        idle = []
        with self._guard:
            for k, m in list(self._loaded.items()):
                if now - m.last_used >= idle_s and m.job_lock.acquire(blocking=False):
                    try:
                        del self._loaded[k]
                        idle.append(k.model)
                    finally:
                        m.job_lock.release()
            if idle:
                self._note_change()
        if idle:
            free_accelerator_memory()
            release_freed_memory()
            log.info("Unloaded %s after %.0f s without use", ", ".join(idle), idle_s)
        return idle

    def close(self) -> None:
        """Stop the idle unloader and unload every model."""
        self._stop.set()
        for key in {k.model for k in self._loaded}:
            self.unload(key)

    def _start_reaper(self) -> None:
        """With ``unload_after_s``, a daemon thread that unloads idle models (started with the first load)."""
        idle_s = self.unload_after_s
        if idle_s is None:
            return
        interval = min(60.0, max(0.05, idle_s / 4))

        def run() -> None:
            while not self._stop.wait(interval):
                self.unload_idle(idle_s)

        with self._guard:
            if self._reaper is not None:
                return
            self._reaper = threading.Thread(target=run, name="unload-idle-models", daemon=True)
        self._reaper.start()


def _as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    import torch

    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")
