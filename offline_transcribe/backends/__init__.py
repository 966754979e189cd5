"""How each model family runs: one backend per family, chosen by the name a registry entry gives.

``nemo_tdt``: NeMo ``ASRModel`` with a TDT decoder (Parakeet-TDT); ``salm``: NeMo speechlm2 ``SALM``
(Canary-Qwen); ``sortformer``: NeMo's Streaming Sortformer diarizer, which lives with the rest of speaker
identification in ``offline_transcribe.diarize``. A new family is one module and one line in ``BACKENDS``.
"""

from __future__ import annotations

import functools
import importlib

from .base import Backend, Loader, TextLlm

__all__ = ["BACKENDS", "Backend", "Loader", "TextLlm", "get_backend"]

# name -> "module:class", imported on first use (the start-up check needs none of them)
BACKENDS: dict[str, str] = {
    "nemo_tdt": "offline_transcribe.backends.nemo_tdt:NemoTdtBackend",
    "salm": "offline_transcribe.backends.salm:SalmBackend",
    "sortformer": "offline_transcribe.diarize.sortformer:SortformerBackend",
}


@functools.cache
def get_backend(name: str) -> Backend:
    """The backend called ``name`` (one instance per process)."""
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
