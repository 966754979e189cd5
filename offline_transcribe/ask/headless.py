"""Questions about transcripts from the command line: ``--ask`` after ``--transcribe``, or over ``--transcript``.

    python transcribe_ui.py --transcribe talk.mp3 --ask "What are the action items?"
    python transcribe_ui.py --transcript out/talk.json --ask summary --ask "Who decides about the budget?"

Each answer streams to stdout as the model writes it, under a line naming the question; what the job is doing
(waiting, loading, reading part 2 of 4) goes to stderr on a terminal. The answers of one transcript go into
``<stem>.answers.md`` beside its other outputs (``--output-dir``; for ``--transcript``, by default beside the JSON).
A preset's key or label asks the page's preset question (``summary``, ``key-points``, ``action-items``,
``questions``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ..errors import AppError, AskError
from ..models.store import ModelStore
from ..types import Transcript
from .engine import Answer, AskPolicy, answering_model, ask
from .prompts import question_label
from .run import Delta, Done, Status
from .transcript import TimedText, from_json, from_transcript

ANSWERS_SUFFIX = ".answers.md"


@dataclass
class Asked:
    """The answers about one transcript, or why there are none."""

    name: str  # the transcript's file as the user named it
    items: Sequence[TimedText] = ()  # what was asked about (its ``source``: the recording)
    answers: list[tuple[str, Answer]] = field(default_factory=list)  # (what the question is called, its answer)
    error: str | None = None


def answers_path(out_dir: Path, stem: str) -> Path:
    """Where the answers about the transcript ``stem`` go."""
    return out_dir / f"{stem}{ANSWERS_SUFFIX}"


def read_transcript(path: Path) -> list[TimedText]:
    """The timed lines of a transcript JSON this app wrote; ``AskError`` saying what is wrong with it otherwise."""
    if path.suffix.lower() != ".json":
        raise AskError(f"{path} is not a JSON transcript: --transcript reads the .json file the app writes "
                       "(--transcribe FILE --format json), which has the segments' times.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AskError(f"The transcript {path} was not found.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AskError(f"The transcript {path} could not be read: {exc}.") from None
    try:
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        items = from_json(data)
    except ValueError as exc:
        raise AskError(f"{path} is not a transcript this app wrote: {exc}.") from None
    if not items:
        raise AskError(f"The transcript {path} has no text to ask about.")
    return [item if item.source else TimedText(item.start, item.end, item.text, path.name, item.speaker)
            for item in items]


def answer_all(
    store: ModelStore, name: str, items: Sequence[TimedText], questions: Sequence[str], out: TextIO,
    status: TextIO | None, policy: AskPolicy | None = None,
) -> Asked:
    """Ask each question about ``items`` in turn, streaming each answer to ``out``; stops at the first error."""
    asked = Asked(name, items)
    for question in questions:
        print(f"── {question_label(question)} ({name}) ──", file=out, flush=True)
        try:
            for event in ask(question, items, store=store, policy=policy):
                if isinstance(event, Delta):
                    out.write(event.text)
                    out.flush()
                elif isinstance(event, Status) and status is not None:
                    print(event.message, file=status, flush=True)
                elif isinstance(event, Done):
                    asked.answers.append((question_label(question), event.result))
        except AppError as exc:
            print(file=out)
            asked.error = str(exc)
            return asked
        print(file=out)
        if note := asked.answers[-1][1].note:
            print(f"({note})", file=out, flush=True)
    return asked


def answers_markdown(asked: Asked) -> str:
    """The answers file: a heading per question, the answer, how it was made."""
    first = asked.answers[0][1]
    recordings = ", ".join(dict.fromkeys(item.source for item in asked.items if item.source)) or asked.name
    lines = [f"# Questions about {recordings}", "",
             f"Answered by {first.model}'s own LLM ({first.llm}), offline, on {dt.datetime.now():%Y-%m-%d %H:%M}. "
             "Times [mm:ss] are from the start of the recording; check what matters against it.", ""]
    for name, answer in asked.answers:
        lines += [f"## {name}", "", answer.text or "(no answer)", ""]
        if answer.note:
            lines += [f"*{answer.note}*", ""]
    return "\n".join(lines)


def write_answers(asked: Asked, path: Path) -> str:
    """Write the answers file; the line the command prints for it."""
    if not asked.answers:
        return f"FAILED {asked.name}: {asked.error}"
    try:
        path.write_text(answers_markdown(asked), encoding="utf-8")
    except OSError as exc:
        return f"FAILED {asked.name}: the answers could not be written to {path}: {exc.strerror or exc}."
    seconds = sum(answer.seconds for _, answer in asked.answers)
    n = len(asked.answers)
    line = f"ANSWERS {asked.name} -> {path} ({n} answer{'s' if n != 1 else ''} in {seconds:.1f} s)"
    return line + (f"; then FAILED: {asked.error}" if asked.error else "")


def check_llm(store: ModelStore, out: TextIO) -> bool:
    """Whether a model that answers is installed (else the message with its setup command is printed)."""
    try:
        answering_model(store)
    except AppError as exc:
        print(str(exc), file=out)
        return False
    return True


def status_stream() -> TextIO | None:
    """Where the job's status lines go: stderr on a terminal, else nowhere."""
    return sys.stderr if sys.stderr.isatty() else None


def ask_transcripts(
    store: ModelStore, paths: Sequence[str], questions: Sequence[str], output_dir: Path | None, overwrite: bool,
    out: TextIO,
) -> bool:
    """``--transcript FILE... --ask QUESTION...``: answers for each transcript; whether all were answered."""
    if not check_llm(store, out):
        return False
    targets = [(Path(p), answers_path(output_dir or Path(p).parent, Path(p).stem)) for p in paths]
    if not overwrite and (existing := [target for _, target in targets if target.exists()]):
        shown = "\n".join(f"  {path}" for path in existing)
        print(f"Nothing asked: these answer files already exist:\n{shown}\n"
              "Add --overwrite to replace them, or choose another folder with --output-dir.", file=out)
        return False
    ok = True
    for path, target in targets:
        try:
            items = read_transcript(path)
        except AskError as exc:
            print(f"FAILED {path}: {exc}", file=out, flush=True)
            ok = False
            continue
        asked = answer_all(store, path.name, items, questions, out, status_stream())
        target.parent.mkdir(parents=True, exist_ok=True)
        print(write_answers(asked, target), file=out, flush=True)
        ok = ok and asked.error is None
    return ok


def ask_transcribed(
    store: ModelStore, transcribed: Sequence[tuple[Transcript, Path]], questions: Sequence[str], out: TextIO,
) -> bool:
    """``--transcribe FILE... --ask QUESTION...``: answers about each (transcript, answers file) pair; whether every
    one was answered."""
    ok = True
    for transcript, target in transcribed:
        asked = answer_all(store, transcript.source, from_transcript(transcript), questions, out, status_stream())
        print(write_answers(asked, target), file=out, flush=True)
        ok = ok and asked.error is None
    return ok
