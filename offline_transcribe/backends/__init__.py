"""How each model family runs: one backend per family, chosen by the name a registry entry gives.

The names and where each family's class lives are in ``offline_transcribe.models.loading.FAMILIES`` (the store loads
through the same table without importing this package). ``nemo_tdt``: NeMo ``ASRModel`` with a TDT decoder
(Parakeet-TDT); ``salm``: NeMo speechlm2 ``SALM`` (Canary-Qwen); ``sortformer``: NeMo's Streaming Sortformer
diarizer, which lives with the rest of speaker identification in ``offline_transcribe.diarize``.
"""

from __future__ import annotations

from ..models.loading import FAMILIES, family
from .base import Backend, Loader, TextLlm

__all__ = ["BACKENDS", "Backend", "Loader", "TextLlm", "get_backend"]

BACKENDS = FAMILIES  # name -> "module:class", imported on first use


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (one instance per process, shared with the store's loader)."""
    return family(name)
