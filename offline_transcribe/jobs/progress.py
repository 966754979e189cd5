"""A job's progress: one overall bar in a terminal (files, audio hours, time left, times real time), a plain line
every 30 s otherwise, and the summary at the end."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

PLAIN_EVERY_S = 30.0


@dataclass
class Counts:
    """What a job did."""

    done: int = 0
    no_speech: int = 0
    failed: int = 0
    skipped: int = 0  # finished in an earlier run
    audio_s: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def wall_s(self) -> float:
        """Seconds since the job started."""
        return time.monotonic() - self.started

    @property
    def finished(self) -> int:
        """Files ended in this run."""
        return self.done + self.no_speech + self.failed


class JobProgress:
    """Reports a job of ``total`` files to transcribe on ``err`` (stderr): a tqdm bar when it is a terminal, a line
    every ``every_s`` seconds when not."""

    def __init__(self, total: int, counts: Counts, err: TextIO | None = None, tty: bool | None = None,
                 every_s: float = PLAIN_EVERY_S) -> None:
        self.total, self.counts, self.err = total, counts, err or sys.stderr
        self.tty = self.err.isatty() if tty is None else tty
        self.every_s, self.last = every_s, time.monotonic()
        self.bar = None
        if self.tty and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=self.err, unit="file", dynamic_ncols=True, leave=False)

    def _rate(self) -> str:
        c = self.counts
        speed = f", {c.audio_s / c.wall_s:.1f}x real time" if c.wall_s > 0 and c.audio_s else ""
        return f"{c.audio_s / 3600:.2f} h audio{speed}"

    def update(self) -> None:
        """A file ended."""
        if self.bar is not None:
            self.bar.set_postfix_str(self._rate(), refresh=False)
            self.bar.update(1)
        elif time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            c = self.counts
            left = ""
            if c.finished:
                left = f", about {_clock(c.wall_s / c.finished * (self.total - c.finished))} left"
            print(f"[job] {c.finished}/{self.total} files, {self._rate()}{left}", file=self.err, flush=True)

    def close(self) -> None:
        """The job ended: the bar goes."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def summary(counts: Counts, out_dir: Path) -> str:
    """The lines printed at the end of a job."""
    c = counts
    speed = f", {c.audio_s / c.wall_s:.1f}x real time" if c.wall_s > 0 and c.audio_s else ""
    lines = [
        f"Job: {c.done} done, {c.no_speech} no speech, {c.failed} failed"
        + (f", {c.skipped} already done before" if c.skipped else "")
        + f"; {c.audio_s / 3600:.2f} h of audio in {_clock(c.wall_s)}{speed}.",
    ]
    if c.failed:
        lines.append(f"Failures and their messages: python transcribe_ui.py --status --output-dir {out_dir}")
    return "\n".join(lines)
