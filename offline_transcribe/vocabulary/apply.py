"""A request's vocabulary around one transcription: the phrases boosted while the model decodes (where its backend
can: ``phrase_boosting``), then the phrases written as typed and the replacements applied to the words.

The backend is used through its attributes only (``phrase_boosting``, ``spell_phrases``, ``boosting``), so this
module names no model and imports no backend.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from ..types import Segment
from .options import Vocabulary
from .replacements import finish_segments

log = logging.getLogger("transcribe.vocabulary")


def can_boost(backend: Any) -> bool:
    """Whether ``backend``'s models can be biased towards phrases (a backend that does not say cannot)."""
    return bool(getattr(backend, "phrase_boosting", False))


def not_boosted_note(model_name: str) -> str:
    """What a transcript with phrases says for a model that cannot boost them."""
    return (f"Vocabulary: {model_name} has no phrase boosting (NeMo offers none for it), so the phrases were not "
            "used; the replacements apply.")


WARNING = "⚠ Vocabulary: "  # how a transcript's note that warns about the vocabulary starts


def unspellable_note(phrases: Sequence[str], model_name: str) -> str:
    """The warning naming the phrases the model cannot write."""
    names = ", ".join(repr(p) for p in phrases[:10]) + (" …" if len(phrases) > 10 else "")
    verb = "it was" if len(phrases) == 1 else "they were"
    return (f"{WARNING}{model_name} cannot write {names} (its tokenizer lacks some of the characters), so {verb} "
            "not boosted; a replacement can still give that spelling.")


def vocabulary_warnings(notes: Sequence[str]) -> list[str]:
    """The warnings among a transcript's ``notes`` (a phrase the model cannot write), without the ⚠ sign."""
    return [note.removeprefix("⚠ ") for note in notes if note.startswith(WARNING)]


class VocabularyRun:
    """One transcription's vocabulary: ``boosting(model)`` around the decoding, ``finish(segments)`` after."""

    def __init__(self, backend: Any, vocabulary: Vocabulary | None, model_name: str, notes: list[str]) -> None:
        self.backend, self.vocabulary = backend, vocabulary or Vocabulary()
        self.model_name, self.notes = model_name, notes
        self.boosted: tuple[str, ...] = ()

    def boosting(self, model: Any) -> contextlib.AbstractContextManager[Any]:
        """The backend's boosting of the phrases it can write (nothing without phrases or boosting); the phrases it
        cannot write are named in the notes."""
        phrases, weight = self.vocabulary.phrases, self.vocabulary.weight
        if not phrases:
            return contextlib.nullcontext(model)
        if not can_boost(self.backend):
            self.notes.append(not_boosted_note(self.model_name))
            return contextlib.nullcontext(model)
        self.boosted, unspellable = self.backend.spell_phrases(model, phrases)
        if unspellable:
            self.notes.append(unspellable_note(unspellable, self.model_name))
            log.warning("Vocabulary: %s cannot write %s", self.model_name, ", ".join(map(repr, unspellable)))
        if not self.boosted or weight <= 0:
            return contextlib.nullcontext(model)
        self.notes.append(f"Vocabulary: {len(self.boosted)} phrase{'s' * (len(self.boosted) != 1)} boosted "
                          f"(weight {weight:g}).")
        return self.backend.boosting(model, self.boosted, weight)

    def finish(self, segments: Sequence[Segment]) -> list[Segment]:
        """The boosted phrases written as typed, then the replacements, on ``segments`` (times kept)."""
        return finish_segments(segments, self.boosted, self.vocabulary.replacements)
