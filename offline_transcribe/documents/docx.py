"""A transcript as a Word document (python-docx): the file's name as the title, the facts, then one paragraph per
stretch of speech with its ``[mm:ss]`` start and the speaker's name in bold."""

from __future__ import annotations

import re
from pathlib import Path

from ..types import Transcript
from .content import heading, timed_paragraphs

_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # characters XML (and so DOCX) cannot hold


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def write_docx(t: Transcript, path: Path) -> None:
    """Write the document to ``path``."""
    import docx  # python-docx: imported here, as only this format needs it

    document = docx.Document()
    head = heading(t)
    document.core_properties.title = _clean(head.title)
    document.add_heading(_clean(head.title), level=1)
    facts = document.add_paragraph()
    for i, (name, value) in enumerate(head.facts):
        if i:
            facts.add_run().add_break()
        facts.add_run(f"{name}: ").bold = True
        facts.add_run(_clean(value))
    for p in timed_paragraphs(t):
        paragraph = document.add_paragraph()
        paragraph.add_run(p.stamp + " ")
        if p.speaker:
            paragraph.add_run(_clean(p.speaker) + ":").bold = True
            paragraph.add_run(" ")
        paragraph.add_run(_clean(p.text))
    document.save(str(path))
