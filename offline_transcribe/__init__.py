"""Offline speech transcription with local NVIDIA NeMo models: the store, the backends, the page.

Importing this package (or any module of it) first switches the hub libraries and Gradio offline, before any
of them can be imported through it: at run time nothing reaches the network.

    from offline_transcribe import ModelStore, transcribe_file

    store = ModelStore("local_models")
    transcript = transcribe_file("talk.wav", "parakeet", store=store)
    print(transcript.text)
"""

from __future__ import annotations

from .offline import enable_offline_mode

enable_offline_mode()

# isort: split
from .config import LongAudioPolicy, Settings  # noqa: E402
from .diarize import DiarizationPolicy, SpeakerOptions  # noqa: E402
from .errors import (  # noqa: E402
    AppError,
    AudioDecodeError,
    AudioTooLongError,
    GpuOutOfMemoryError,
    LocalModelError,
    ModelFilesInvalidError,
    ModelLoadError,
    ModelsMissingError,
    SetupError,
    UnknownModelError,
)
from .models.registry import DEFAULT_MODEL, MODELS, ModelSpec, get_spec  # noqa: E402
from .models.store import LoadedModel, ModelStore  # noqa: E402
from .types import ModelState, ModelStatus, Segment, SpeakerTurn, Transcript, Word  # noqa: E402

__version__ = "0.2.0"

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "AppError",
    "AudioDecodeError",
    "AudioTooLongError",
    "DiarizationPolicy",
    "GpuOutOfMemoryError",
    "LoadedModel",
    "LocalModelError",
    "LongAudioPolicy",
    "ModelFilesInvalidError",
    "ModelLoadError",
    "ModelSpec",
    "ModelState",
    "ModelStatus",
    "ModelStore",
    "ModelsMissingError",
    "Segment",
    "Settings",
    "SetupError",
    "SpeakerOptions",
    "SpeakerTurn",
    "Transcript",
    "UnknownModelError",
    "Word",
    "get_spec",
    "transcribe_audio",
    "transcribe_file",
]


def __getattr__(name: str):
    """``transcribe_file`` and ``transcribe_audio`` on first use (they import the audio decoders)."""
    if name in ("transcribe_file", "transcribe_audio"):
        from . import transcribe

        return getattr(transcribe, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
