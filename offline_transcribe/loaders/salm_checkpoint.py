"""Load a speechlm2 ``SALM`` checkpoint folder (Canary-Qwen-2.5B) faster, and straight to its device and dtype.

See ``restore_salm``: the same model as ``SALM.from_pretrained(folder)``, without random initialisation and
without a float32 copy of the weights on the host when the model goes to a GPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .no_init import skip_weight_init

if TYPE_CHECKING:
    import torch

class CheckpointMismatchError(ValueError):
    """The weights file does not fit the model its config describes (missing, unexpected or misshapen weights)."""


def restore_salm(folder: Path, device: str, dtype: torch.dtype) -> Any:
    """What ``SALM.from_pretrained(folder).to(device, dtype)`` returns (same class, config, weights), built faster
    and without ever holding the model in float32 on the host when it goes to a GPU.

    NeMo's own path builds the model with random initial weights (nearly all of its time), then copies the
    weights in on the CPU, in float32. Here ``SALM.from_pretrained`` runs as usual (its config and tokenizer
    handling) but inside ``skip_weight_init()``, and its weight-loading step is replaced: the uninitialised model
    is moved to ``device`` in ``dtype`` first (its pages were never written, so on the host it costs no memory),
    then every tensor of the memory-mapped ``model.safetensors`` is copied into its place there, one at a time.

    Every model weight must come from the file (tied weights, such as the LLM head sharing the embedding, once)
    and every weight in the file must fit the model, shape for shape; otherwise ``CheckpointMismatchError`` is
    raised before anything is copied.
    """
    from nemo.collections.speechlm2.models import SALM

    class _SALMLoadedInPlace(SALM):  # only the hub mixin's weight-loading step differs
        @classmethod
        def _load_as_safetensor(cls, model: Any, model_file: str, map_location: Any, strict: bool) -> Any:
            model.to(device=device, dtype=dtype)
            copy_safetensors_into(model, Path(model_file))
            return model.eval()

    with skip_weight_init():
        model = _SALMLoadedInPlace.from_pretrained(str(folder), map_location="cpu")
    model.__class__ = SALM  # the subclass adds no state: the model is a plain SALM again
    return model


def copy_safetensors_into(model: Any, weights: Path) -> None:
    """Copy every tensor of the safetensors file ``weights`` into ``model``'s parameters and buffers, converting
    to their device and dtype; refuse a file that does not cover the model or does not fit it."""
    import torch
    from safetensors import safe_open

    state = model.state_dict()  # detached tensors sharing storage with the parameters and buffers
    with safe_open(str(weights), framework="pt", device="cpu") as f:
        keys = set(f.keys())
        _check_covers(state, keys, {k: tuple(f.get_slice(k).get_shape()) for k in keys & state.keys()})
        with torch.no_grad():
            for key in sorted(keys):
                state[key].copy_(f.get_tensor(key))


def _check_covers(state: dict[str, torch.Tensor], keys: set[str], shapes: dict[str, tuple[int, ...]]) -> None:
    """Raise ``CheckpointMismatchError`` unless the file's ``keys`` (with ``shapes``) fill every tensor of ``state``."""
    unexpected = sorted(keys - state.keys())
    loaded_storage = {state[k].data_ptr() for k in keys & state.keys()}
    # Tied weights share one storage and are saved once: they are not missing.
    missing = sorted(k for k in state.keys() - keys if state[k].data_ptr() not in loaded_storage)
    misshapen = sorted(k for k, shape in shapes.items() if tuple(state[k].shape) != shape)
    detail = []
    if unexpected:
        detail.append(f"{len(unexpected)} weights in the file fit nothing in the model (e.g. {unexpected[0]})")
    if missing:
        detail.append(f"{len(missing)} model weights are not in the file (e.g. {missing[0]})")
    if misshapen:
        k = misshapen[0]
        detail.append(f"{len(misshapen)} weights have another shape in the file (e.g. {k}: "
                      f"{list(shapes[k])} in the file, {list(state[k].shape)} in the model)")
    if detail:
        raise CheckpointMismatchError("; ".join(detail))
