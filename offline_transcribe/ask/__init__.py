"""Ask the transcript: summaries and answers from Canary-Qwen's own LLM (Qwen3-1.7B with the speech LoRA off), offline.

``ask(question, lines, store=...)`` (``engine``) answers about a transcript's timed lines (``transcript``): the
presets and prompts in ``prompts``, the token budget and the parts of a long transcript in ``budget``, thinking kept
out of the answer in ``thinking``, the job in a thread of its own read as a stream of events in ``run``. The LLM call
itself is the backend's (``backends.base.TextLlm``; Canary-Qwen's in ``backends.salm_text``).
"""

from .engine import Answer, AskPolicy, ChatReply, answering_model, ask, chat
from .prompts import PRESETS, PRESETS_BY_KEY, Preset, question_label, question_text
from .run import Delta, Done, Run, Status
from .transcript import TimedText, from_json, from_transcript

__all__ = [
    "PRESETS",
    "PRESETS_BY_KEY",
    "Answer",
    "AskPolicy",
    "ChatReply",
    "Delta",
    "Done",
    "Preset",
    "Run",
    "Status",
    "TimedText",
    "answering_model",
    "ask",
    "chat",
    "from_json",
    "from_transcript",
    "question_label",
    "question_text",
]
