"""The page's custom vocabulary: a "Vocabulary" box (one phrase per line) and a "Replacements" box
(``find => replace`` per line), remembered in the browser between visits (``gr.BrowserState``), and what applies to
which model, from the backends' ``phrase_boosting`` capability.

``request_vocabulary`` turns the boxes into the request's ``Vocabulary``, the server's ``--vocabulary`` /
``--replacements`` filling in the parts left empty; the live mode reads the boxes of its browser tab through
``TabVocabulary``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import gradio as gr

from ..backends import get_backend
from ..config import Settings
from ..errors import VocabularyError
from ..models.registry import transcription_models
from ..vocabulary import DEFAULT_WEIGHT, MAX_PHRASES, Vocabulary, parse_phrases, parse_replacements
from ..vocabulary.apply import can_boost

STORAGE_KEY = "offline-transcribe-vocabulary"


@dataclass(frozen=True)
class VocabularyControls:
    phrases: gr.Textbox
    replacements: gr.Textbox


def applies_md(settings: Settings) -> str:
    """Which models boost the phrases and which use the replacements only (from the backends), and the server's
    defaults."""
    boosting = [s.display_name for s in transcription_models().values() if can_boost(get_backend(s.backend))]
    others = [s.display_name for s in transcription_models().values() if not can_boost(get_backend(s.backend))]
    live = [s.display_name for s in transcription_models().values()
            if can_boost(get_backend(s.backend)) and getattr(get_backend(s.backend), "streaming", False)]
    live_note = (" (the live text and its final transcript; boxes changed while recording apply from the next Record)"
                 if live else " (not in Live)")
    lines = [
        f"**Vocabulary** (up to {MAX_PHRASES:,} names or terms, one per line): boosted while "
        f"{' and '.join(boosting)} decode{'s' * (len(boosting) == 1)}, in files and in Live{live_note}, and written "
        "as you typed them.",
        "**Replacements** (`find => replace`, one per line, e.g. `parakeet t d t => Parakeet-TDT`): applied to "
        "every model's words, at word boundaries; lower-case finds match any capitals. Word times are kept.",
    ]
    if others:
        lines.append(f"{' and '.join(others)}: NeMo has no phrase boosting for {'it' if len(others) == 1 else 'them'}, "
                     "so only the replacements apply.")
    if settings.vocabulary:
        lines.append(f"Server defaults (used while a box is empty): {settings.vocabulary.summary()}.")
    return "\n\n".join(lines)


def build_controls(settings: Settings) -> VocabularyControls:
    """The two boxes in a closed "Custom vocabulary" accordion, with what applies to which model."""
    with gr.Accordion("Custom vocabulary", open=False, elem_id="vocabulary"):
        gr.Markdown(applies_md(settings), elem_id="vocabulary-help")
        phrases = gr.Textbox("", label="Vocabulary", lines=4, max_lines=12,
                             placeholder="Sortformer\nQwen\nAda Lovelace", elem_id="vocabulary-phrases")
        replacements = gr.Textbox("", label="Replacements", lines=3, max_lines=12,
                                  placeholder="parakeet t d t => Parakeet-TDT", elem_id="vocabulary-replacements")
    return VocabularyControls(phrases, replacements)


def remember(demo: gr.Blocks, controls: VocabularyControls, settings: Settings, tabs: TabVocabulary) -> None:
    """Keep the boxes in the browser's storage (restored on the next visit) and tell ``tabs`` what each tab has.

    The storage is encrypted with a key derived from the models folder, so it survives restarts of the server.
    """
    secret = hashlib.sha256(f"vocabulary:{settings.models_dir}".encode()).hexdigest()
    stored = gr.BrowserState(["", ""], storage_key=STORAGE_KEY, secret=secret)
    boxes = [controls.phrases, controls.replacements]
    private = dict(api_visibility="private", queue=False, show_progress="hidden")

    def restore(saved: list[str] | None, request: gr.Request) -> tuple[str, str]:
        phrases, replacements = (list(saved or []) + ["", ""])[:2]
        tabs.set(request, phrases, replacements)
        return phrases, replacements

    def save(phrases: str, replacements: str, request: gr.Request) -> list[str]:
        tabs.set(request, phrases, replacements)
        return [phrases, replacements]

    demo.load(restore, inputs=stored, outputs=boxes, **private)
    for box in boxes:
        box.change(save, inputs=boxes, outputs=stored, **private)
    demo.unload(tabs.forget)


def request_vocabulary(
    phrases_text: str | None, replacements_text: str | None, defaults: Vocabulary | None
) -> Vocabulary:
    """The boxes as a ``Vocabulary``, the server's ``defaults`` for what they leave empty; ``gr.Error`` for bad
    input."""
    try:
        phrases = parse_phrases(phrases_text or "", "Vocabulary")
        rules = parse_replacements(replacements_text or "", "Replacements")
    except VocabularyError as exc:
        raise gr.Error(str(exc), title="Custom vocabulary", print_exception=False) from None
    weight = defaults.weight if defaults is not None else DEFAULT_WEIGHT
    return Vocabulary(phrases, rules, weight).or_defaults(defaults)


class TabVocabulary:
    """The boxes' text per browser tab, for the live mode (whose events do not carry the boxes)."""

    def __init__(self, defaults: Vocabulary | None) -> None:
        self.defaults = defaults
        self._texts: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def set(self, request: gr.Request | None, phrases: str, replacements: str) -> None:
        if request is not None and request.session_hash:
            with self._lock:
                self._texts[request.session_hash] = (phrases or "", replacements or "")

    def forget(self, request: gr.Request) -> None:
        with self._lock:
            self._texts.pop(request.session_hash or "", None)

    def texts(self, tab_id: str) -> tuple[str, str]:
        """The tab's two boxes as last typed."""
        with self._lock:
            return self._texts.get(tab_id, ("", ""))

    def get(self, tab_id: str) -> Vocabulary | None:
        """The tab's vocabulary (the server's defaults where its boxes are empty; those alone where they are bad)."""
        try:
            return request_vocabulary(*self.texts(tab_id), self.defaults)
        except gr.Error:
            return self.defaults
