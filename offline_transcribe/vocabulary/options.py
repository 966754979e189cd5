"""What one request asks for: phrases to boost, replacements, and the boost's weight."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import VocabularyError
from .replacements import Replacement

# The boosting tree's weight (NeMo's ``boosting_tree_alpha``), measured on the trained tiny model: see
# docs/benchmarks.md, "Custom vocabulary" (bench/bench_vocabulary_recall.py).
DEFAULT_WEIGHT = 1.3
MAX_WEIGHT = 10.0


def parse_weight(value: str | float, source: str = "--vocabulary-weight") -> float:
    """A boost weight from 0 (off) to ``MAX_WEIGHT``; raises ``VocabularyError`` for anything else."""
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = -1.0
    if not 0.0 <= weight <= MAX_WEIGHT:
        raise VocabularyError(f"{source}: give a number from 0 to {MAX_WEIGHT:g}, not {value!r} "
                              f"(default {DEFAULT_WEIGHT:g}; higher boosts more but inserts the phrases more often).")
    return weight


@dataclass(frozen=True)
class Vocabulary:
    """Phrases to boost (where the model's decoder can be biased) and replacements (every model)."""

    phrases: tuple[str, ...] = ()
    replacements: tuple[Replacement, ...] = ()
    weight: float = DEFAULT_WEIGHT

    def __bool__(self) -> bool:
        return bool(self.phrases or self.replacements)

    def or_defaults(self, defaults: Vocabulary | None) -> Vocabulary:
        """This request's vocabulary, each part it leaves empty taken from ``defaults`` (the server's)."""
        if defaults is None:
            return self
        return Vocabulary(
            self.phrases or defaults.phrases,
            self.replacements or defaults.replacements,
            self.weight if self.phrases else defaults.weight,
        )

    def summary(self) -> str:
        """``3 phrases, 2 replacements`` (for notes and logs)."""
        parts = [f"{len(self.phrases)} phrase{'s' * (len(self.phrases) != 1)}"] if self.phrases else []
        if self.replacements:
            parts.append(f"{len(self.replacements)} replacement{'s' * (len(self.replacements) != 1)}")
        return ", ".join(parts) or "none"
