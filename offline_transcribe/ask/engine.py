"""Answers about a transcript from Canary-Qwen's own LLM: one pass when it fits, map-reduce when it does not.

``ask(question, lines, store=...)`` starts the job and returns its ``Run``: read it for the status lines, the
answer as it is written, and the ``Answer``. The model is the store's (the one already in memory when it is
loaded: ``store.use``, never a copy), held for the whole job, after the server's job line (``hold``) gave the job
its turn; its backend runs the LLM alone with the speech adapter off (``backends.base.TextLlm``).

**The context budget** (``AskPolicy.context_tokens``, 8,192 tokens for one LLM call, prompt and answer together, of
which 1,024 are kept for the answer; lower when the LLM's own context is smaller). Qwen3-1.7B reads up to 32,768
tokens, but:

* memory: its key/value cache takes 2 × 28 layers × 8 heads × 128 × 2 bytes = 112 KiB per token in bfloat16, so
  8,192 tokens add 0.9 GiB to Canary's ≈ 5 GB on a GPU (an 8 GB card still fits it; 32,768 tokens would add
  3.5 GiB), and 1.8 GiB in float32 on the CPU;
* time: reading the prompt grows with its length, faster than linearly (on a 2-core CPU, minutes before the first
  word of the answer for a few thousand tokens: ``bench/bench_ask.py``, ``docs/benchmarks.md``);
* quality: a 1.7 B model follows its instructions less well deep into a long context.

A minute of speech is about 260 tokens as the LLM reads it (≈ 150 words at ≈ 1.3 Qwen3 tokens each, and a time
``[mm:ss]`` of ≈ 8 tokens per segment of ≈ 15 words), so one pass reads about 25 minutes. A longer transcript is cut
into consecutive parts that fit (``budget``), the LLM takes notes on each part (with their times), and answers from
the notes (in rounds, if even the notes do not fit); the answer says so (``Answer.note``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ..backends import TextLlm, get_backend
from ..backends.base import ChatTurn
from ..devices import free_accelerator_memory, is_out_of_memory
from ..errors import AskError, ContextTooLongError, GpuOutOfMemoryError, LlmNotInstalledError
from ..models.files import models_dir_option
from ..models.registry import ModelSpec, llm_specs
from ..models.store import ModelStore
from . import prompts
from .budget import pack, split_transcript
from .run import Delta, Emit, Run, Status
from .thinking import TextStream, ThinkingFilter, strip_thinking
from .transcript import TimedText, clock, line, span

# The server's job line: given what to call when the job has to wait, holds the job's turn for the block.
Hold = Callable[[Callable[[], None]], AbstractContextManager[Any]]

WAITING = "Waiting for the job before this one (one at a time on this machine)…"


@dataclass(frozen=True)
class AskPolicy:
    """Token budgets of the LLM mode (see the module docstring for why these)."""

    context_tokens: int = 8192  # one LLM call, prompt and answer together (capped by the LLM's own context)
    answer_tokens: int = 1024  # the answer's length at most (at most a quarter of the budget)
    notes_tokens: int = 512  # the notes on one part, in map-reduce (at most an eighth of the budget)


@dataclass(frozen=True)
class Answer:
    """An answer about a transcript, without the model's thinking, and how it was made."""

    question: str
    text: str
    parts: int  # 1: the transcript was read in one pass; more: notes on that many parts, then the answer
    transcript_tokens: int  # the one-pass prompt's length (transcript, question and instructions)
    budget: int  # tokens of one LLM call
    finish_reason: str  # "stop", "length" (cut at answer_tokens), "cancelled"
    seconds: float
    model: str  # "Canary-Qwen-2.5B"
    llm: str  # "Qwen3-1.7B"

    @property
    def note(self) -> str:
        """What the reader should know about how the answer was made ("" when nothing)."""
        notes = []
        if self.parts > 1:
            notes.append(
                f"The transcript ({self.transcript_tokens:,} tokens) is longer than the model reads at once "
                f"({self.budget:,} tokens with the answer), so it was read in {self.parts} parts and this answer was "
                "put together from notes on each part (map-reduce)."
            )
        if self.finish_reason == "length":
            notes.append("The answer stopped at its length limit.")
        elif self.finish_reason == "cancelled":
            notes.append("Stopped before the answer was complete.")
        return " ".join(notes)


@dataclass(frozen=True)
class ChatReply:
    """The LLM's reply to a conversation (the API's chat completions)."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class _Cancelled(Exception):
    """The reader left before the job had its turn (nobody reads this)."""


def answering_model(store: ModelStore) -> ModelSpec:
    """The installed (or loaded) model whose LLM answers; ``LlmNotInstalledError`` with its setup command if none."""
    specs = llm_specs()
    loaded = {m.key for m in store.loaded()}
    installed = set(store.installed())
    for spec in specs:
        if spec.key in loaded or spec.key in installed:
            return spec
    if not specs:
        raise LlmNotInstalledError("No model with an LLM mode is known to this app.")
    spec = specs[0]
    raise LlmNotInstalledError(
        f"Answers about a transcript come from {spec.display_name}'s own LLM ({spec.llm_label}), which is not "
        f"installed here ({spec.path(store.models_dir)} is missing). Set it up with "
        f"`{spec.setup_command()}{models_dir_option(store.models_dir)}`, then start the app again."
    )


class Session:
    """LLM calls on one loaded model for one job: the budget, token counts, and calls that stream their answer."""

    def __init__(self, spec: ModelSpec, model: Any, policy: AskPolicy, emit: Emit, cancelled: threading.Event):
        backend = get_backend(spec.backend)
        if not isinstance(backend, TextLlm):
            raise AskError(f"{spec.display_name} has no LLM mode.")
        self.spec, self.backend, self.model, self.emit, self.cancelled = spec, backend, model, emit, cancelled
        self.budget = min(policy.context_tokens, backend.context_tokens(model))
        self.answer_room = min(policy.answer_tokens, self.budget // 4)
        self.notes_room = min(policy.notes_tokens, self.budget // 8)

    def prompt(self, turns: Sequence[ChatTurn]) -> list[int]:
        """The prompt's token ids."""
        return self.backend.chat_prompt(self.model, turns)

    def tokens(self, text: str) -> int:
        """``text``'s length in tokens."""
        return self.backend.count_tokens(self.model, text)

    def call(self, prompt: Sequence[int], max_new_tokens: int, stream: bool) -> tuple[str, str, int]:
        """The visible answer to ``prompt`` (thinking removed), why it ended and how many tokens it took; with
        ``stream``, its pieces are emitted as ``Delta`` while it is written."""
        decoded = TextStream(lambda ids: self.backend.decode_text(self.model, ids))
        visible = ThinkingFilter()

        def on_token(token: int) -> None:
            if piece := visible.feed(decoded.add(token)):
                self.emit(Delta(piece))

        out = self.backend.generate_text(self.model, prompt, max_new_tokens, on_token if stream else None,
                                         self.cancelled.is_set)
        if stream and (rest := visible.finish()):
            self.emit(Delta(rest))
        return strip_thinking(self.backend.decode_text(self.model, out.ids)), out.finish_reason, len(out.ids)

    # -- a transcript -------------------------------------------------------------------------------------------

    def answer(self, question: str, items: Sequence[TimedText]) -> Answer:
        """The answer to ``question`` about ``items``: in one pass when it fits the budget, else map-reduce."""
        started = time.perf_counter()
        whole = self.prompt(prompts.one_pass(question, items))
        parts = 1
        if len(whole) + self.answer_room <= self.budget:
            text, reason, _ = self.call(whole, self.answer_room, stream=True)
        else:
            notes = self._notes_on_parts(question, items)
            parts = len(notes)
            text, reason = self._answer_from_notes(question, notes)
        return Answer(question, text, parts, len(whole), self.budget, reason, time.perf_counter() - started,
                      self.spec.display_name, self.spec.llm_label)

    def _notes_on_parts(self, question: str, items: Sequence[TimedText]) -> list[str]:
        """Map: notes on each part of the transcript (each part's prompt and notes within the budget)."""
        limit = self.budget - self.notes_room
        worst = lambda part: len(self.prompt(prompts.part_notes(question, part, 999, 999)))  # noqa: E731
        parts = split_transcript(items, lambda item: self.tokens(line(item) + "\n"), worst, limit)
        notes = []
        for i, part in enumerate(parts, 1):
            self._check()
            start, end = span(part)
            self.emit(Status(f"Reading part {i} of {len(parts)} ({clock(start)}–{clock(end)})…"))
            notes.append(self.call(self.prompt(prompts.part_notes(question, part, i, len(parts))), self.notes_room,
                                   stream=False)[0])
        return notes

    def _answer_from_notes(self, question: str, notes: list[str]) -> tuple[str, str]:
        """Reduce: the answer from the notes, streamed; notes that do not fit one prompt are combined in rounds."""
        limit = self.budget - self.answer_room
        while len(final := self.prompt(prompts.combined(question, notes))) > limit and len(notes) > 1:
            room = limit - len(self.prompt(prompts.combined(question, [])))
            groups = pack(notes, lambda note: self.tokens(note) + 16, room)
            if len(groups) == len(notes):  # one note per group: nothing would shrink
                groups = [notes[i : i + 2] for i in range(0, len(notes), 2)]
            self.emit(Status(f"Combining the notes of {len(notes)} parts into {len(groups)}…"))
            combined = []
            for group in groups:
                self._check()
                combined.append(self.call(self.prompt(prompts.combined(question, group)), self.notes_room, False)[0])
            notes = combined
        self._check()
        self.emit(Status("Writing the answer from the notes on each part…"))
        text, reason, _ = self.call(final, self.answer_room, stream=True)
        return text, reason

    def _check(self) -> None:
        if self.cancelled.is_set():
            raise _Cancelled

    # -- a conversation (the API) -------------------------------------------------------------------------------

    def reply(self, turns: Sequence[ChatTurn], max_tokens: int | None) -> ChatReply:
        """The next assistant message; ``ContextTooLongError`` when the conversation leaves no room for it."""
        prompt = self.prompt(turns)
        room = self.budget - len(prompt)
        if room < 1:
            raise ContextTooLongError(
                f"The conversation is {len(prompt):,} tokens long; {self.spec.llm_name} reads {self.budget:,} tokens "
                "at once, its reply included. Send fewer or shorter messages.", len(prompt), self.budget)
        text, reason, used = self.call(prompt, min(max_tokens or self.answer_room, room), stream=True)
        return ChatReply(text, reason, len(prompt), used)


def with_model(
    spec: ModelSpec, store: ModelStore, policy: AskPolicy, hold: Hold | None, job: Callable[[Session], Any],
) -> Callable[[Emit, threading.Event], Any]:
    """The work of a ``Run``: wait for the job line, hold the store's model, run ``job`` on a ``Session``."""

    def work(emit: Emit, cancelled: threading.Event) -> Any:
        with hold(lambda: emit(Status(WAITING))) if hold is not None else contextlib.nullcontext():
            if cancelled.is_set():
                raise _Cancelled
            if not store.status(spec.key).ready:
                emit(Status(f"Loading {spec.display_name} (its LLM answers)…"))
            with store.use(spec.key) as loaded:
                try:
                    return job(Session(spec, loaded.model, policy, emit, cancelled))
                except Exception as exc:
                    if is_out_of_memory(exc):
                        free_accelerator_memory()
                        raise GpuOutOfMemoryError(
                            f"The GPU ran out of memory while {spec.display_name}'s LLM was answering. The memory has "
                            "been freed and the app keeps running: try again, ask about a shorter transcript, or "
                            "close other programs using the GPU."
                        ) from exc
                    raise

    return work


def ask(
    question: str, items: Sequence[TimedText], *, store: ModelStore, policy: AskPolicy | None = None,
    hold: Hold | None = None,
) -> Run[Answer]:
    """Start answering ``question`` (a preset's key or label, or any question) about ``items``.

    Raises at once (``LlmNotInstalledError``, ``AskError``) when it cannot be answered; errors during the job
    (a damaged model file, the GPU out of memory) are raised to whoever reads the ``Run``.
    """
    spec = answering_model(store)
    asked = prompts.question_text(question)
    if not asked:
        raise AskError("Ask a question, or choose one of: " + ", ".join(p.label for p in prompts.PRESETS) + ".")
    if not any(item.text.strip() for item in items):
        raise AskError("There is no transcript to ask about yet: transcribe a file first.")
    job = with_model(spec, store, policy or AskPolicy(), hold, lambda session: session.answer(asked, items))
    return Run(job, name="ask")


def chat(
    turns: Sequence[ChatTurn], spec: ModelSpec, *, store: ModelStore, max_tokens: int | None = None,
    policy: AskPolicy | None = None, hold: Hold | None = None,
) -> Run[ChatReply]:
    """Start the LLM's reply to a conversation (no transcript around it: the API's chat completions)."""
    job = with_model(spec, store, policy or AskPolicy(), hold, lambda session: session.reply(turns, max_tokens))
    return Run(job, name="chat")
