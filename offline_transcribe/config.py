"""Settings in one place: every option of the app with its default, read from the command line and the
environment here and nowhere else.

``Settings`` is what the page, the headless mode and the store are built from; ``LongAudioPolicy`` is the
option set of the long-audio mode, ``LiveOptions`` that of live transcription (frozen dataclasses, in the manner of
faster-whisper's options).
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .models.registry import DEFAULT_MODEL, required_keys
from .paths import (  # noqa: F401  (where the files are: kept importable from here)
    APP_SCRIPT,
    GUIDE,
    MODELS_DIR_ENV,
    PROJECT_DIR,
    SETUP_SCRIPT,
    default_models_dir,
    is_default_models_dir,
    resolve_models_dir,
)

log = logging.getLogger("transcribe.config")

CACHE_TTL_ENV = "TRANSCRIBE_UI_CACHE_TTL_S"  # a shorter age for uploads and results than the default hour
API_KEY_ENV = "TRANSCRIBE_UI_API_KEY"  # the key other computers must give (better than --api-key: not in `ps`)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MAX_FILE_SIZE = "2gb"
DELETE_CACHE = (1800, 3600)  # every 30 min, delete uploads and downloads older than 1 h

# "auto": bfloat16 on a GPU that supports it for models that allow it (Canary), float32 elsewhere;
# "float32": float32 everywhere; "half": bfloat16, or float16 on a GPU without bfloat16 (the old ``--half``).
Precision = Literal["auto", "float32", "half"]


@dataclass(frozen=True)
class LongAudioPolicy:
    """When long audio changes how a model runs, and how audio is cut into windows."""

    local_attention_above_s: float = 480.0  # NVIDIA's Parakeet demo switches above 8 minutes
    local_attention_context: tuple[int, int] = (256, 256)
    window_above_s: float = 1500.0  # above 25 minutes, cut into windows (memory stays flat)
    window_s: float = 1200.0
    overlap_s: float = 10.0
    canary_window_s: float = 40.0  # Canary-Qwen-2.5B was trained on audio up to 40 s
    canary_batch_size: int = 4
    borrow_word_times: bool = True  # Canary gets Parakeet's word times when it is installed (wordtimes.borrow)


@dataclass(frozen=True)
class LiveOptions:
    """Live transcription's context in seconds, where the user set it (None: the model's default for the device)."""

    chunk_s: float | None = None  # audio decoded per step
    left_s: float | None = None  # audio before the chunk the encoder sees
    right_s: float | None = None  # audio after it: words are final once it has arrived


def cache_setting(env: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """How often and after how long (seconds) uploads and results are deleted: ``DELETE_CACHE``, or a shorter
    age from ``$TRANSCRIBE_UI_CACHE_TTL_S`` (checked every half of that age, at most every 30 min)."""
    raw = env.get(CACHE_TTL_ENV, "").strip()
    if not raw:
        return DELETE_CACHE
    try:
        age = int(float(raw))
    except ValueError:
        age = 0
    if age < 1:
        log.warning("Ignoring %s=%r: give a whole number of seconds, 1 or more.", CACHE_TTL_ENV, raw)
        return DELETE_CACHE
    return max(1, min(DELETE_CACHE[0], age // 2)), age


_SIZE = re.compile(r"\s*(\d+)\s*([kmgt]?b)?\s*", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}


def parse_size(text: str) -> int:
    """``"2gb"``, ``"500 MB"``, ``"1024"`` in bytes (units of 1024, as Gradio reads ``max_file_size``)."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a size: write a whole number with b, kb, mb, gb or tb (e.g. 500mb)")
    return int(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def normal_origin(text: str) -> str:
    """A web origin as ``scheme://host:port`` (lower case, the default port written out); ``ValueError`` for
    anything that is not an http(s) origin without a path."""
    try:
        parts = urllib.parse.urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not an origin such as https://notes.example.org:8443") from None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname or parts.path not in {"", "/"} or (
        parts.query or parts.fragment or parts.username
    ):
        raise ValueError(f"{text.strip()!r} is not an origin such as https://notes.example.org:8443")
    scheme = parts.scheme.lower()
    host = parts.hostname.rstrip(".")
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


@dataclass(frozen=True)
class Settings:
    """Everything the app is started with."""

    models_dir: Path = field(default_factory=resolve_models_dir)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    share: bool = False
    preload: bool = False
    precision: Precision = "auto"  # see Precision
    default_model: str = DEFAULT_MODEL
    only_models: tuple[str, ...] = ()  # --only: the models checked at start (empty: the required ones)
    verbose: bool = False  # --verbose: the libraries' (NeMo, Lightning, transformers) log lines too
    max_file_size: str = MAX_FILE_SIZE
    delete_cache: tuple[int, int] = DELETE_CACHE  # (how often, how old), seconds
    unload_after_s: float | None = None  # unload a model idle this long (None: keep it)
    long_audio: LongAudioPolicy = field(default_factory=LongAudioPolicy)
    live: LiveOptions = field(default_factory=LiveOptions)
    allowed_hosts: tuple[str, ...] = ()  # Host names besides loopback that the server answers (a reverse proxy's)
    allowed_origins: tuple[str, ...] = ()  # pages (scheme://host:port) besides the server's own that may use it
    api_key: str | None = field(default=None, repr=False)  # needed off loopback; never printed or logged

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **options: object) -> Settings:
        """Settings from ``options`` (command-line values; None means "not given") and the environment."""
        given = {k: v for k, v in options.items() if v is not None}
        models_dir = resolve_models_dir(given.pop("models_dir", None), env)  # type: ignore[arg-type]
        given["api_key"] = str(given.get("api_key") or env.get(API_KEY_ENV, "")).strip() or None
        return cls(models_dir=models_dir, delete_cache=cache_setting(env), **given)  # type: ignore[arg-type]

    @property
    def startup_models(self) -> list[str]:
        """The models whose files must pass the check before the page starts: ``--only``, else the required ones."""
        return list(self.only_models) or required_keys()

    @property
    def keep_results_s(self) -> int:
        """How long uploads and results are kept (seconds)."""
        return self.delete_cache[1]

    @property
    def max_file_bytes(self) -> int:
        """``max_file_size`` in bytes."""
        return parse_size(self.max_file_size)
