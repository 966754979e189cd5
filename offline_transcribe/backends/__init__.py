"""How each model family runs: one backend per family, chosen by the name a registry entry gives.

``nemo_tdt``: NeMo ``ASRModel`` with a TDT decoder (Parakeet-TDT); ``salm``: NeMo speechlm2 ``SALM``
(Canary-Qwen). A new family is one module here and one line in ``BACKENDS``.
"""

from __future__ import annotations

import functools
import importlib

from .base import Backend, TextLlm

__all__ = ["BACKENDS", "Backend", "TextLlm", "get_backend"]

# name -> "module:class", imported on first use (the start-up check needs none of them)
BACKENDS: dict[str, str] = {
    "nemo_tdt": "offline_transcribe.backends.nemo_tdt:NemoTdtBackend",
    "salm": "offline_transcribe.backends.salm:SalmBackend",
}


@functools.cache
def get_backend(name: str) -> Backend:
    """The backend called ``name`` (one instance per process)."""
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
