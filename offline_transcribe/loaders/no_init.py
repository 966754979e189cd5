"""Build torch modules without random initial weights, when every weight is then loaded from a checkpoint.

Random initialisation is most of the time NeMo and transformers spend building a model that is then
overwritten by its checkpoint (about 5 s for 0.6 B parameters on a CPU). ``skip_weight_init`` makes the
initialisation functions no-ops in one thread while a model is built.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

_skip_state = threading.local()
_patch_lock = threading.Lock()
_patch_users = 0
_originals: list[tuple[dict[str, Any], str, Callable[..., Any]]] = []  # (table, name, original function)


def _init_function_tables() -> list[dict[str, Any]]:
    """Where initialisation functions are looked up when a module is built: the namespace of ``torch.nn.init``
    (what ``reset_parameters`` calls) and, once transformers is imported, the table of torch's originals that
    its own ``_init_weights`` calls (``transformers.initialization.TORCH_INIT_FUNCTIONS``)."""
    import sys

    import torch.nn.init

    tables: list[dict[str, Any]] = [vars(torch.nn.init)]  # a module's namespace: writing to it is setattr
    hf_init = sys.modules.get("transformers.initialization")
    if isinstance(getattr(hf_init, "TORCH_INIT_FUNCTIONS", None), dict):
        tables.append(hf_init.TORCH_INIT_FUNCTIONS)
    return tables


def _skipping(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def init_or_skip(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_skip_state, "active", False):
            return tensor
        return original(tensor, *args, **kwargs)

    return init_or_skip


@contextlib.contextmanager
def skip_weight_init() -> Iterator[None]:
    """Make the weight initialisation functions no-ops in this thread only: ``torch.nn.init``'s (which
    ``reset_parameters`` uses) and those transformers' ``_init_weights`` calls.

    Parameters built inside are left uninitialised: use it only for modules whose every parameter is then
    loaded from a checkpoint, and check that it was. Other threads keep initialising normally (the store may
    build another model at the same time).
    """
    global _patch_users
    with _patch_lock:
        if _patch_users == 0:
            for table in _init_function_tables():
                for name, fn in sorted(table.items()):
                    if name.endswith("_") and not name.startswith("_") and callable(fn):
                        _originals.append((table, name, fn))
                        table[name] = _skipping(fn)
        _patch_users += 1
    previous = getattr(_skip_state, "active", False)
    _skip_state.active = True
    try:
        yield
    finally:
        _skip_state.active = previous
        with _patch_lock:
            _patch_users -= 1
            if _patch_users == 0:
                for table, name, original in reversed(_originals):
                    table[name] = original
                _originals.clear()
