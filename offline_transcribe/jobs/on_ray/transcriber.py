"""What runs on the workers: ``decode_row`` (a CPU task: one item's audio, decoded and resampled as the local job
does) and ``Transcriber`` (an actor: the model loaded once, through a ``ModelStore`` over its own node's models
folder, then batches transcribed by the local job's ``LocalRunner``).

Rows carry the item pickled (``item``), the audio (``audio``, float32 16 kHz; empty when decoding failed),
``error`` and ``decode_s``; the transcriber answers ``key`` and ``result`` (the pickled transcript and error), which
the driver turns back into ``Result`` objects.
"""

from __future__ import annotations

import pickle
import socket
from typing import Any

import numpy as np

from ...config import LongAudioPolicy
from ...diarize import SpeakerOptions
from ...errors import LocalModelError
from ...models.store import ModelStore
from ..batcher import Decoded, batches, decode
from ..runner import LocalRunner

EMPTY = np.zeros(0, dtype=np.float32)


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """One row's item decoded (``batcher.decode``: the excerpt cut, errors as messages)."""
    d = decode(pickle.loads(row["item"]))
    return {"item": row["item"], "audio": EMPTY if d.audio is None else d.audio.astype(np.float32, copy=False),
            "error": d.error or "", "decode_s": d.decode_s}


class NodeSetupError(RuntimeError):
    """A transcriber could not load its model on its node (the message names the node and the fix)."""


class Transcriber:
    """One actor of the pool: its model loaded once, then each batch of decoded rows transcribed, grouped by
    duration as the local job groups them."""

    def __init__(self, models_dir: str, model_key: str, keys: list[str], device: str, threads: int,
                 batch_seconds: float, policy: LongAudioPolicy | None, speakers: SpeakerOptions | None) -> None:
        import torch

        if device == "cpu":
            torch.set_num_threads(max(1, threads))
        self.store = ModelStore(models_dir, device=device)
        try:
            self.store.validate(keys)  # as at the app's start; loading re-hashes files changed since setup
            for key in keys:
                self.store.load(key)
        except LocalModelError as exc:
            raise NodeSetupError(f"On node {socket.gethostname()} the model could not be loaded (nothing is "
                                 f"downloaded):\n{exc}") from None
        self.runner = LocalRunner(self.store, model_key, policy, speakers)
        self.batch_seconds = batch_seconds
        self.alone_above = self.runner.policy.local_attention_above_s if self.runner.batches else 0.0

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The rows of ``batch`` transcribed: their keys and pickled (transcript, error)."""
        decoded = [Decoded(pickle.loads(item), None if error else np.asarray(audio, dtype=np.float32), error or None,
                           float(decode_s))
                   for item, audio, error, decode_s in zip(batch["item"], batch["audio"], batch["error"],
                                                           batch["decode_s"], strict=True)]
        keys, results = [], []
        for group in batches(decoded, self.batch_seconds, self.alone_above):
            for r in self.runner.run(group):
                keys.append(r.decoded.item.key)
                results.append(pickle.dumps((r.transcript, r.error)))
        return {"key": np.array(keys, dtype=object), "result": np.array(results, dtype=object)}
