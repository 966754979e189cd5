"""A faster CPU step for NeMo's boosting tree: its rows remembered per state.

Without Triton (every CPU), ``GPUBoostingTreeModel.advance`` runs NeMo's pure-PyTorch walk at every decoder step:
for each state, a loop over the state's back-off chain (up to the longest phrase's token count) of about fifteen
small tensor operations on the whole vocabulary. That is about 0.3 ms a step on two cores whatever the batch, as
much as the 0.6 B model's own decoder step, and it is the cost of phrase boosting on a CPU.

The tree never changes while it decodes and a state's row (its scores and next states for every token) depends on
the state alone, so ``remember_rows`` has the tree compute a state's row with NeMo's own walk the first time the
decoder reaches that state, and look it up afterwards. Decoding reaches few of the tree's states (the root, and the
states of the phrases it is partway through), so the memory is small and bounded: at most ``MAX_ROWS`` rows, after
which new states are walked as before. The result is NeMo's, bit for bit (``tests/test_vocabulary.py`` checks
every state).
"""

from __future__ import annotations

import types
from typing import Any

MAX_ROWS = 4096  # 4,096 rows × 1,024 tokens × 8 bytes = 32 MiB at most for Parakeet v2
MAX_BYTES = 32 << 20  # fewer rows for a larger vocabulary (v3's 8,192 tokens: 512 rows); 1,000 phrases reach ~200


def remember_rows(tree: Any) -> Any:
    """Make ``tree`` (a ``GPUBoostingTreeModel`` on the CPU) remember the rows its decoder steps compute; returns it.

    A tree already remembering is left as it is."""
    import torch

    if getattr(tree, "_rows_walk", None) is not None:
        return tree
    vocab = int(tree.vocab_size)
    limit = max(1, min(MAX_ROWS, MAX_BYTES // (8 * vocab)))
    tree._rows_walk = tree._advance_pytorch  # NeMo's own walk, for the rows not seen yet
    tree._rows_slot = torch.full([int(tree.num_states) + 1], -1, dtype=torch.long)
    tree._rows_scores = torch.empty([min(64, limit), vocab], dtype=torch.float32)
    tree._rows_next = torch.empty([min(64, limit), vocab], dtype=torch.int32)
    tree._rows_count, tree._rows_limit = 0, limit
    tree._advance_pytorch = types.MethodType(_advance_remembered, tree)
    return tree


def _advance_remembered(tree: Any, states: Any) -> tuple[Any, Any]:
    """``_advance_pytorch`` from the remembered rows (a fresh tensor: callers scale it in place)."""
    import torch

    slots = tree._rows_slot[states]
    if bool((slots < 0).any()):
        missing = torch.unique(states[slots < 0])
        count, need = tree._rows_count, tree._rows_count + missing.numel()
        if need > tree._rows_limit:
            return tree._rows_walk(states)  # full: NeMo's walk, as without this
        if need > tree._rows_scores.shape[0]:  # room for twice as many
            size = min(tree._rows_limit, max(need, 2 * tree._rows_scores.shape[0]))
            grown = [torch.empty([size, t.shape[1]], dtype=t.dtype) for t in (tree._rows_scores, tree._rows_next)]
            grown[0][:count], grown[1][:count] = tree._rows_scores[:count], tree._rows_next[:count]
            tree._rows_scores, tree._rows_next = grown
        scores, next_states = tree._rows_walk(missing)
        tree._rows_scores[count:need], tree._rows_next[count:need] = scores, next_states
        tree._rows_slot[missing] = torch.arange(count, need)
        tree._rows_count = need
        slots = tree._rows_slot[states]
    return tree._rows_scores[slots], tree._rows_next[slots].to(states.dtype)
