"""What the LLM is asked: the presets, and the messages for one pass and for map-reduce.

Every prompt is one user message (as in NVIDIA's example of the LLM mode: the instruction, a blank line, the
transcript): what the transcript is and how its times read, the request, then the lines ``[mm:ss] text``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..backends.base import ChatTurn
from .transcript import TimedText, clock, render, span


@dataclass(frozen=True)
class Preset:
    """A question the page offers as a button (and ``--ask KEY`` names)."""

    key: str
    label: str
    question: str


PRESETS: tuple[Preset, ...] = (
    Preset("summary", "Summary",
           "Summarise this transcript: a short paragraph on what it is about and what was concluded, then the main "
           "topics as a list, each with the time [mm:ss] where it starts."),
    Preset("key-points", "Key points",
           "List the key points of this transcript as short bullet points, each with the time [mm:ss] where it is "
           "said."),
    Preset("action-items", "Action items",
           "List the action items in this transcript (tasks someone agreed or was asked to do) as bullet points: what "
           "is to be done, who does it and by when if that is said, and the time [mm:ss] where it is said. If there "
           "are none, say so."),
    Preset("questions", "Questions asked",
           "List the questions asked in this transcript, each with the time [mm:ss] where it is asked and, when it "
           "was answered, the answer in one sentence."),
)
PRESETS_BY_KEY = {preset.key: preset for preset in PRESETS}

ABOUT = (
    "You answer questions about the transcript of a recording, below. Each line of it starts with the time it "
    "was said, [mm:ss] (minutes:seconds from the start), and sometimes the speaker's name. Answer from the "
    "transcript only; when it does not say, say so. When you refer to a moment, give its time as [mm:ss]. "
    "Speech recognition may have misheard a few words."
)


def preset_for(asked: str) -> Preset | None:
    """The preset ``asked`` names, by key or label (any case), or None."""
    wanted = asked.strip().lower()
    return next((p for p in PRESETS if wanted in {p.key, p.label.lower()}), None)


def question_text(asked: str) -> str:
    """The question for ``asked``: a preset's (by key or label, any case) or ``asked`` itself."""
    preset = preset_for(asked)
    return preset.question if preset else asked.strip()


def question_label(asked: str) -> str:
    """What to call the question ``asked``: a preset's label, or the question itself."""
    preset = preset_for(asked)
    return preset.label if preset else asked.strip()


def one_pass(question: str, items: Sequence[TimedText]) -> list[ChatTurn]:
    """The whole transcript and the question, in one message."""
    return [ChatTurn("user", f"{ABOUT}\n\nRequest: {question}\n\nTranscript:\n{render(items)}")]


def part_notes(question: str, items: Sequence[TimedText], index: int, parts: int) -> list[ChatTurn]:
    """Map step: notes on one part of a transcript too long for one pass, for the final answer."""
    start, end = span(items)
    return [ChatTurn("user", (
        f"{ABOUT}\n\nThis is part {index} of {parts} of the transcript, from {clock(start)} to {clock(end)}. Write "
        "short notes of everything in this part that helps to answer the request below, each with its time "
        "[mm:ss]; write only 'nothing' when this part has nothing for it. Do not answer the request yet.\n\n"
        f"Request: {question}\n\nTranscript, part {index} of {parts}:\n{render(items)}"
    ))]


def combined(question: str, notes: Sequence[str]) -> list[ChatTurn]:
    """Reduce step: the answer from the notes on each part, in order."""
    blocks = "\n\n".join(f"Notes on part {i} of {len(notes)}:\n{text.strip()}" for i, text in enumerate(notes, 1))
    return [ChatTurn("user", (
        "You answer questions about the transcript of a recording. It was too long to read at once, so notes were "
        "taken on each of its parts, in order, with the times [mm:ss] of what they refer to. Answer the request "
        "from these notes only; keep their times [mm:ss] where you refer to a moment.\n\n"
        f"Request: {question}\n\n{blocks}"
    ))]
