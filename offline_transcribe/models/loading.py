"""How a model family's stored files become a model: the ``Loader`` protocol the store loads through, and where
each family's implementation lives.

A registry entry names its family (``ModelSpec.backend``); ``FAMILIES`` maps that name to the class that implements
it (``Loader`` here; the transcribers' fuller ``Backend`` protocol is in ``offline_transcribe.backends``), imported on
first use by name, so that this layer imports none of them: ``nemo_tdt``: NeMo ``ASRModel`` with a TDT decoder
(Parakeet-TDT); ``salm``: NeMo speechlm2 ``SALM`` (Canary-Qwen); ``sortformer``: NeMo's Streaming Sortformer
diarizer, which lives with the rest of speaker identification in ``offline_transcribe.diarize``. A new family is one
module and one line here.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .registry import ModelSpec

if TYPE_CHECKING:
    import torch

    from ..config import Precision

# name -> "module:class", imported on first use (the start-up check needs none of them)
FAMILIES: dict[str, str] = {
    "nemo_tdt": "offline_transcribe.backends.nemo_tdt:NemoTdtBackend",
    "salm": "offline_transcribe.backends.salm:SalmBackend",
    "sortformer": "offline_transcribe.diarize.sortformer:SortformerBackend",
}


class Loader(Protocol):
    """How a model family's stored files become a model: all the store needs (transcribers and the diarizer).

    ``load`` raises the file layer's errors (``ModelFilesInvalidError`` naming the damaged file, ``ModelLoadError``)
    with the command that fixes them.
    """

    name: str
    loaded_as: str  # what the page says about how the files become a model
    speed_guess: dict[str, float]  # by device type ("cpu", "cuda"): seconds of audio per second, until one is measured

    def dtype(self, precision: Precision, device: str) -> torch.dtype:
        """The dtype the model runs in on ``device`` for the app's precision setting."""
        ...

    def load(self, spec: ModelSpec, models_dir: Path, device: str, dtype: torch.dtype) -> Any:
        """Build the model from its files in ``models_dir``, on ``device`` in ``dtype``, in eval mode."""
        ...


@functools.cache
def family(name: str) -> Any:
    """The implementation of the family called ``name`` (one instance per process): a ``Loader``, and for the
    transcribers a ``Backend``."""
    module, _, cls = FAMILIES[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def get_loader(name: str) -> Loader:
    """The family ``name`` as the store sees it."""
    return family(name)
