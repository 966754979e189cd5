"""NeMo 3.0's batched TDT greedy decoder (label looping, no CUDA graphs: the CPU path) with each file's token
durations kept apart, so that a batch decodes every file as it decodes alone.

In ``GreedyBatchedTDTLabelLoopingComputer.torch_impl`` the inner loop (files still looking for a label after a
blank) recomputes ``durations`` for the whole batch, although it only advances the files still looking. A file
that had found its label before the loop keeps the right time index, but the duration recorded with its token is
then the one predicted at another frame: word end times in a batch came out up to two frames off. The fix takes
the new durations only for the files the loop advances (``torch.where(advance_mask, …)``), as that loop already
does for the labels and scores. It is applied to the decoder object of one model (``fixed``), from NeMo's own
source with that one line changed; should NeMo's source not have that line as expected (another version), nothing
is patched and ``fixed`` says so, and callers decode each file alone.
"""

from __future__ import annotations

import inspect
import logging
import textwrap
from functools import cache
from typing import Any

log = logging.getLogger("transcribe.backends")

_BUGGY = "durations = model_durations[jump_durations_indices]"
_FIXED = "durations = torch.where(advance_mask, model_durations[jump_durations_indices], durations)"


@cache
def _fixed_torch_impl() -> Any:
    """``torch_impl`` with the inner loop's durations masked, or None when NeMo's source is not the expected one."""
    try:
        from nemo.collections.asr.parts.submodules.transducer_decoding import tdt_label_looping as module

        source = textwrap.dedent(inspect.getsource(module.GreedyBatchedTDTLabelLoopingComputer.torch_impl))
    except (ImportError, AttributeError, OSError, TypeError):
        return None
    lines = source.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip() == _BUGGY]
    inner = next((i for i, line in enumerate(lines) if line.strip() == "while advance_mask.any():"), None)
    if len(hits) != 2 or inner is None or not hits[0] < inner < hits[1]:
        log.warning("NeMo's batched TDT decoder is not the expected version: files are decoded one at a time")
        return None
    line = lines[hits[1]]
    lines[hits[1]] = line[: len(line) - len(line.lstrip())] + _FIXED + "\n"
    namespace: dict[str, Any] = {}
    exec(compile("".join(lines), f"<fixed {module.__file__}>", "exec"), module.__dict__, namespace)
    return namespace["torch_impl"]


def fixed(model: Any) -> bool:
    """Patch ``model``'s greedy batched TDT decoder (when it has one) so that batch items do not share durations;
    True when its batched decoding gives each file what it gives alone (patched now or before, or not TDT)."""
    import types

    computer = getattr(getattr(getattr(model, "decoding", None), "decoding", None), "decoding_computer", None)
    if computer is None:
        return False
    if type(computer).__name__ != "GreedyBatchedTDTLabelLoopingComputer":
        return type(computer).__name__ == "GreedyBatchedRNNTLabelLoopingComputer"  # no durations to mix up
    if getattr(computer, "_durations_kept_apart", False):
        return True
    impl = _fixed_torch_impl()
    if impl is None:
        return False
    computer.torch_impl = types.MethodType(impl, computer)
    computer._durations_kept_apart = True
    return True
