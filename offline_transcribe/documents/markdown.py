"""A transcript as Markdown: ``# name``, the facts as a list, then ``[mm:ss] **Speaker 1:** text`` paragraphs."""

from __future__ import annotations

import re

from ..types import Transcript
from .content import heading, timed_paragraphs

_MARKUP = re.compile(r"([\\`*_{}\[\]<>#|~])")


def escape(text: str) -> str:
    """``text`` with Markdown's markup characters escaped, so that it reads as written."""
    return _MARKUP.sub(r"\\\1", text)


def to_markdown(t: Transcript) -> str:
    """The document (see the module docstring), ending with a newline."""
    head = heading(t)
    lines = [f"# {escape(head.title)}", ""]
    lines += [f"- **{name}:** {escape(value)}" for name, value in head.facts]
    for p in timed_paragraphs(t):
        who = f" **{escape(p.speaker)}:**" if p.speaker else ""
        lines += ["", f"\\{p.stamp[:-1]}\\]{who} {escape(p.text)}"]
    return "\n".join(lines) + "\n"
