"""The transcript in paragraphs: a new one at a long pause, at a sentence end once a paragraph runs long, and at
each change of speaker (headed by the speaker)."""

from __future__ import annotations

from offline_transcribe.paragraphs import LONG_PARAGRAPH_S, PAUSE_S, paragraph_text, paragraphs
from offline_transcribe.types import Segment


def test_a_long_pause_starts_a_paragraph_and_a_short_one_does_not():
    segments = [
        Segment(0.0, 2.0, "Good morning."),
        Segment(2.5, 4.0, "Let us begin."),  # 0.5 s pause: same paragraph
        Segment(4.0 + PAUSE_S, 8.0, "First, the budget."),  # a long pause: a new one
        Segment(8.2, 9.0, "  "),  # no text: skipped
    ]
    assert paragraphs(segments) == ["Good morning. Let us begin.", "First, the budget."]
    assert paragraph_text(segments) == "Good morning. Let us begin.\n\nFirst, the budget."


def test_a_monologue_breaks_at_a_sentence_end_once_it_runs_long():
    """Contiguous windows (Canary's, cut at quiet points) have no pauses between them."""
    window = LONG_PARAGRAPH_S / 2
    segments = [Segment(i * window, (i + 1) * window, text) for i, text in
                enumerate(["one and", "two.", "three and", "four", "five."])]
    assert paragraphs(segments) == ["one and two.", "three and four five."]


def test_nothing_said_is_no_paragraph():
    assert paragraphs([]) == [] and paragraph_text([Segment(0, 1, "")]) == ""


def test_each_speaker_turn_is_a_paragraph_headed_by_the_speaker():
    segments = [
        Segment(0.0, 1.0, "Hello.", speaker="Speaker 1"),
        Segment(1.2, 2.0, "How are you?", speaker="Speaker 1"),
        Segment(2.1, 3.0, "Fine.", speaker="Speaker 2"),  # no pause, another speaker: a new paragraph
        Segment(3.0 + PAUSE_S, 6.0, "Good.", speaker="Speaker 2"),  # the same speaker after a long pause
    ]
    assert paragraph_text(segments) == "Speaker 1: Hello. How are you?\n\nSpeaker 2: Fine.\n\nSpeaker 2: Good."
