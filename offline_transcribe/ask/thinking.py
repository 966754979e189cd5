"""Qwen3's thinking kept out of what the user reads, also while the answer streams in.

The prompt already turns thinking off (``backends.salm_text``); should the model still write a
``<think>…</think>`` block, ``ThinkingFilter`` drops it from text that arrives in pieces, holding back the end of a
piece that could be the start of a tag. ``TextStream`` turns token ids into those pieces (a character whose bytes
are split over tokens waits for its last one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

OPEN, CLOSE = "<think>", "</think>"


def _partial_tag(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could be the beginning of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class ThinkingFilter:
    """Feed the answer piece by piece; get back what the user may read (thinking removed, no leading blank)."""

    def __init__(self) -> None:
        self._inside = False
        self._held = ""
        self._started = False  # visible text has begun (whitespace before it is dropped)

    def feed(self, piece: str) -> str:
        """The visible part of ``piece`` (what it completes of earlier pieces included)."""
        text, self._held, out = self._held + piece, "", []
        while text:
            tag = CLOSE if self._inside else OPEN
            at = text.find(tag)
            if at < 0:
                keep = _partial_tag(text, tag)
                if not self._inside:
                    out.append(text[: len(text) - keep])
                self._held = text[len(text) - keep :]
                break
            if not self._inside:
                out.append(text[:at])
            text, self._inside = text[at + len(tag) :], not self._inside
        return self._visible("".join(out).replace(CLOSE, ""))

    def finish(self) -> str:
        """What was held back at the end (a lone ``<thi`` is text; an unfinished thinking block is not)."""
        held, self._held = self._held, ""
        return "" if self._inside else self._visible(held)

    def _visible(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        return text


def strip_thinking(text: str) -> str:
    """``text`` without its thinking blocks, stripped."""
    f = ThinkingFilter()
    return (f.feed(text) + f.finish()).strip()


class TextStream:
    """Token ids in, new text out: decodes everything so far and returns what was not returned before."""

    def __init__(self, decode: Callable[[Sequence[int]], str]) -> None:
        self.decode = decode
        self.ids: list[int] = []
        self._sent = ""

    def add(self, token: int) -> str:
        """The text ``token`` completes ("" while a character is incomplete)."""
        self.ids.append(token)
        text = self.decode(self.ids)
        if text.endswith("\ufffd"):  # a character split over tokens: wait for the rest
            return ""
        if not text.startswith(self._sent):  # decoding more tokens re-spelt earlier text (rare): the final answer,
            self._sent = text  # decoded whole, shows it
            return ""
        new, self._sent = text[len(self._sent) :], text
        return new
