"""The page's "Ask about this transcript" panel, under the results: preset questions (Summary, Key points, Action
items, Questions asked) and a question box; the answer streams in below them.

The transcript asked about is the one the page shows: the rows of its segments table (file, start, end, text, and a
speaker column once the page has one), whichever model made it. The answer comes from ``ask.ask`` (Canary-Qwen's own
LLM, from the store), in the server's job line like a transcription. Without Canary the panel says how to install
it, and the rest of the page works as before.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from .. import ask
from ..errors import AppError
from ..models.store import ModelStore
from .jobs import JobQueue

log = logging.getLogger("transcribe.ui")

WRITING_MARK = " ▍"  # after the answer while it is still being written
_TIME = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")


def table_seconds(value: Any) -> float:
    """A time of the segments table in seconds: ``2:03.4``, ``1:02:03``, or a number of seconds; raises
    ``ValueError`` otherwise."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    with contextlib.suppress(ValueError):
        return float(text)
    match = _TIME.match(text)
    if not match:
        raise ValueError(f"not a time: {value!r}")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def transcript_from_table(table: Any) -> list[ask.TimedText]:
    """The segments table's rows as the LLM's timed lines. Columns are found by the first word of their headers
    (``File``, ``Start``, ``End``, ``Speaker``, ``Text``; ``Start (s)`` is ``start``), so a speaker column, and the
    names given to the speakers, reach the LLM as the page shows them."""
    if table is None:
        return []
    headers = [str(h).strip().lower().split(" ")[0] for h in getattr(table, "columns", [])]
    rows = table.values.tolist() if hasattr(table, "values") else list(table)
    if not headers or not rows or not {"start", "end", "text"} <= set(headers):
        return []
    column = {name: headers.index(name) for name in ("file", "start", "end", "text", "speaker") if name in headers}
    items = []
    for row in rows:
        try:
            start, end = table_seconds(row[column["start"]]), table_seconds(row[column["end"]])
        except (ValueError, IndexError):
            continue  # an empty table has one blank row
        text, source, speaker = (_cell(row, column.get(name)) for name in ("text", "file", "speaker"))
        if text:
            items.append(ask.TimedText(start, end, text, source, speaker))
    return items


def _cell(row: list[Any], index: int | None) -> str:
    """A text cell ("" for a missing column or an empty cell, which pandas may hold as NaN)."""
    value = row[index] if index is not None else None
    return "" if value is None or value != value else str(value).strip()  # NaN is the one value unequal to itself


class AskPanel:
    """The panel's handler: one question about the shown transcript, its answer streamed as Markdown."""

    def __init__(self, store: ModelStore, jobs: JobQueue, policy: ask.AskPolicy | None = None) -> None:
        self.store, self.jobs, self.policy = store, jobs, policy

    def intro_md(self) -> str:
        """What the panel is, or (without Canary) how to install it."""
        try:
            spec = ask.answering_model(self.store)
        except AppError as exc:
            return f"### Ask about this transcript\n⚠ {exc}"
        return (
            "### Ask about this transcript\n"
            f"Answers come from {spec.display_name}'s own LLM ({spec.llm_label}), on this machine, about the "
            "transcript above, whichever model made it. They cite times as [mm:ss]; check what matters against the "
            "recording."
        )

    def available(self) -> bool:
        """Whether a model that answers is installed."""
        try:
            ask.answering_model(self.store)
        except AppError:
            return False
        return True

    def answer(self, question: str, table: Any) -> Iterator[str]:
        """The answer to ``question`` (a preset's key or any question) about the table's transcript, as it grows."""
        items = transcript_from_table(table)
        asked = ask.question_text(question or "")
        label = ask.question_label(question or "")
        heading = f"**{label}**\n\n" if label else ""
        try:
            spec = ask.answering_model(self.store)
            run = ask.ask(asked, items, store=self.store, policy=self.policy, hold=lambda on_wait: self.jobs.job(
                files=0, model=spec.llm_name, via="page", on_wait=on_wait))
        except AppError as exc:
            gr.Warning(str(exc), title="Cannot answer")
            yield heading + f"⚠ {exc}"
            return
        text, status = "", "Starting…"
        try:
            for event in run:
                if isinstance(event, ask.Status):
                    status = event.message
                elif isinstance(event, ask.Delta):
                    text += event.text
                else:
                    yield heading + _final_md(event.result, items)
                    return
                yield heading + (text + WRITING_MARK if text else f"*{status}*")
        except AppError as exc:  # a damaged model file, the GPU out of memory: the message says what to do
            yield heading + f"✗ {exc}"
        except Exception:
            log.exception("Answering %r failed", asked[:80])
            yield heading + "✗ Unexpected error while answering. The details are in the server log; please report them."


def _final_md(answer: ask.Answer, items: list[ask.TimedText]) -> str:
    sources = list(dict.fromkeys(item.source for item in items if item.source))
    about = f" about {', '.join(sources)}" if sources else ""
    note = answer.note
    if answer.text.strip():
        body = answer.text
    elif answer.finish_reason == "length":  # all of its room went on thinking: say that, not "(no answer)"
        body = NO_ROOM_LEFT
        note = note.replace("The answer stopped at its length limit.", "").strip()
    else:
        body = "*The model gave no answer. Try asking in other words.*"
    lines = [body, "", "---",
             f"*Answered{about} by {answer.model}'s own LLM ({answer.llm}), offline, in {answer.seconds:.1f} s.*"]
    if note:
        lines.append(f"*{note}*")
    return "\n".join(lines)


NO_ROOM_LEFT = ("*The model reached its length limit while it was still thinking, before it wrote an answer. Ask a "
                "narrower question (one topic, or one part of the recording).*")


def build_ask_panel(store: ModelStore, jobs: JobQueue, segments: gr.Dataframe) -> gr.Markdown:
    """The panel (where it is called in the page's layout), asking about the transcript in ``segments``; returns
    where the answer shows (the page empties it when a new transcription starts).

    API: ``/ask`` (question, segments table → the answer's Markdown, streamed).
    """
    panel = AskPanel(store, jobs)
    usable = panel.available()
    with gr.Group(elem_id="ask-panel"):
        gr.Markdown(panel.intro_md(), elem_id="ask-intro", padding=True)
        with gr.Row():
            buttons = [gr.Button(p.label, size="sm", variant="secondary", interactive=usable, elem_id=f"ask-{p.key}")
                       for p in ask.PRESETS]
        with gr.Row(equal_height=True, elem_id="ask-question-row"):
            question = gr.Textbox(show_label=False, placeholder="Ask anything about the transcript, e.g. What did they "
                                  "decide about the budget?", scale=1, interactive=usable, elem_id="ask-question")
            send = gr.Button("Ask", scale=0, min_width=72, interactive=usable, elem_id="ask-button")
            stop = gr.Button("Stop", scale=0, min_width=72, interactive=usable, elem_id="ask-stop")
        answer = gr.Markdown(elem_id="ask-answer", padding=True)
    queued = dict(outputs=answer, concurrency_id="ask", concurrency_limit=1, show_progress="hidden")
    events = [button.click(_preset_handler(panel, preset.key), inputs=segments, api_visibility="private", **queued)
              for preset, button in zip(ask.PRESETS, buttons, strict=True)]
    # The bound method, not the panel itself: Gradio streams only what ``inspect`` sees as a generator function.
    events.append(send.click(panel.answer, inputs=[question, segments], api_name="ask", **queued))
    events.append(question.submit(panel.answer, inputs=[question, segments], api_visibility="private", **queued))
    stop.click(None, cancels=events, api_visibility="private")  # closes the answer's generator: the model stops
    return answer


def _preset_handler(panel: AskPanel, key: str) -> Callable[[Any], Iterator[str]]:
    def answer(table: Any) -> Iterator[str]:
        yield from panel.answer(key, table)

    return answer
