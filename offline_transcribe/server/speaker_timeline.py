"""The speaker timeline shown above the transcript: one lane per speaker, a bar per turn, a time axis.

It is HTML laid out by CSS, not a scaled drawing: its labels keep their size at any width (a scaled SVG made them
4 px tall on a phone), the bars are placed in percent of the lane, and on a narrow screen every other time label
is hidden so that the rest do not overlap.
"""

from __future__ import annotations

import html

from ..batch import FileResult
from ..types import Transcript

COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]  # Okabe-Ito: colour-blind safe
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
MAX_TICKS = 10  # time labels on a wide screen; half of them on a phone

CSS = """
#speaker-timeline h4 { margin: 0.4em 0 0.1em; font-size: 0.9em; }
#speaker-timeline .timeline { display: grid; grid-template-columns: minmax(3em, max-content) 1fr;
  column-gap: 8px; row-gap: 4px; margin-bottom: 0.4em; font-family: ui-sans-serif, system-ui, sans-serif; }
#speaker-timeline .lane { display: contents; }
#speaker-timeline .lane-label { font-size: 13px; line-height: 20px; font-weight: 600; text-align: right;
  max-width: 12em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#speaker-timeline .track { position: relative; height: 20px; background: #f3f4f6; border-radius: 2px; }
#speaker-timeline .turn { position: absolute; top: 0; bottom: 0; min-width: 1px; }
#speaker-timeline .axis { grid-column: 2; position: relative; height: 16px; border-top: 1px solid #999; }
#speaker-timeline .tick { position: absolute; top: 1px; transform: translateX(-50%); font-size: 11px;
  line-height: 14px; color: #555; white-space: nowrap; }
#speaker-timeline .tick::before { content: ""; position: absolute; left: 50%; top: -4px; height: 4px;
  border-left: 1px solid #999; }
#speaker-timeline .tick.first { transform: none; }
#speaker-timeline .tick.first::before { left: 0; }
#speaker-timeline .tick.last { transform: translateX(-100%); }
#speaker-timeline .tick.last::before { left: auto; right: 0; }
@media (max-width: 640px) {
  #speaker-timeline .lane-label { font-size: 12px; max-width: 7em; }
  #speaker-timeline .tick.minor { display: none; }
}
"""


def clock(seconds: float) -> str:
    """``m:ss.s`` (``2:03.4``), from an hour on ``h:mm:ss.s``."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


def tick_step(duration: float) -> int:
    """The smallest round step in seconds that puts at most ``MAX_TICKS`` labels on ``duration``."""
    return next((s for s in TICK_STEPS if duration / s <= MAX_TICKS), TICK_STEPS[-1])


def _percent(seconds: float, duration: float) -> str:
    return f"{100.0 * min(max(seconds, 0.0), duration) / duration:.3f}%"


def timeline(t: Transcript) -> str:
    """Who talks when in one transcript: one lane per speaker (colour per speaker), a bar per turn, a time axis."""
    duration = max(t.audio_duration, max((turn.end for turn in t.speaker_turns), default=0.0), 1e-3)
    count = len(t.speakers)
    parts = [f'<div class="timeline" role="img" aria-label="Speaker timeline: {count} speaker{"s" * (count != 1)}">']
    for i, speaker in enumerate(t.speakers):
        colour, name = COLOURS[i % len(COLOURS)], html.escape(speaker)
        label = f'<span class="lane-label" style="color:{colour}" title="{name}">{name}</span>'
        parts.append(f'<div class="lane" data-speaker="{name}">{label}<div class="track">')
        for turn in (u for u in t.speaker_turns if u.speaker == speaker):
            left, width = _percent(turn.start, duration), _percent(turn.end - turn.start, duration)
            span = f"{name}: {clock(turn.start)}–{clock(turn.end)}"
            parts.append(f'<span class="turn" style="left:{left};width:{width};background:{colour}" title="{span}">'
                         "</span>")  # fmt: skip
        parts.append("</div></div>")
    parts.append('<div class="axis">')
    step = tick_step(duration)
    ticks = int(duration // step) + 1
    for k in range(ticks):
        where = ["first"] if k == 0 else ["last"] if k == ticks - 1 and k * step > 0.9 * duration else []
        classes = " ".join(["tick", *where, *(["minor"] if k % 2 else [])])
        label = clock(k * step).removesuffix(".0")
        parts.append(f'<span class="{classes}" style="left:{_percent(k * step, duration)}">{label}</span>')
    parts.append("</div></div>")
    return "".join(parts)


def timeline_html(results: list[FileResult]) -> str:
    """The timelines of every file with speakers (headed by the file's name when there are several)."""
    with_speakers = [r for r in results if r.transcript is not None and r.transcript.speakers]
    blocks = []
    for res in with_speakers:
        head = f"<h4>{html.escape(res.name)}</h4>" if len(with_speakers) > 1 else ""
        blocks.append(head + timeline(res.transcript))
    return "".join(blocks)
