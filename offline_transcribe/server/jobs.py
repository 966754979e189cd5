"""One transcription at a time for the whole server, page and API alike, in the order they were asked for.

The page's Gradio queue sends one page job at a time here, the API one API request at a time; they take their
turns in this line, so the GPU never runs two jobs at once whichever door they came through, and neither door
can starve the other. Every job logs one line when it
starts and one when it ends, with ``time.monotonic()``, so the one-at-a-time rule can be checked from the log::

    job 3 start t=1234.567890 files=1 model=parakeet via=api
    job 3 end t=1236.012345 (1.44 s)

A live session (``server/live.py``) takes its turn here for every step it decodes (a few seconds of audio), so
files and live decoding interleave step by step; those many short jobs log at DEBUG.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator

log = logging.getLogger("transcribe.jobs")

_POLL_S = 0.25  # how often a waiting request checks whether its client is still there


class ClientGone(Exception):
    """The request's client went away while its job waited for its turn: the job was dropped, never run."""


class JobQueue:
    """A first-come, first-served lock for transcriptions, shared by every front end of one server."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: collections.deque[object] = collections.deque()
        self._busy = False
        self._ids = itertools.count(1)

    @contextlib.contextmanager
    def job(
        self,
        *,
        files: int,
        model: str,
        via: str,
        on_wait: Callable[[], None] | None = None,
        log_level: int = logging.INFO,
        gone: Callable[[], bool] | None = None,
    ) -> Iterator[int]:
        """Wait for this request's turn, then hold the server's one job slot; yields the job's number.

        ``on_wait`` is called (once, before waiting) when another job runs or is ahead in the line. A request that
        stops waiting (an exception while it waits) leaves the line without blocking the ones behind it. ``gone``
        says whether the request's client has gone away: such a request leaves the line, and is not started,
        with ``ClientGone``. The start and end lines are logged at ``log_level``.
        """
        turn = object()
        with self._changed:
            self._waiting.append(turn)
            must_wait = self._busy or self._waiting[0] is not turn
        try:
            if must_wait and on_wait is not None:
                on_wait()
            with self._changed:
                while True:
                    if gone is not None and gone():
                        log.info("Dropped a job (model=%s via=%s) whose client went away before its turn", model, via)
                        raise ClientGone
                    if not (self._busy or self._waiting[0] is not turn):
                        break
                    self._changed.wait(_POLL_S if gone is not None else None)
                self._waiting.popleft()
                self._busy = True
        except BaseException:
            with self._changed:
                if turn in self._waiting:
                    self._waiting.remove(turn)
                self._changed.notify_all()
            raise
        job = next(self._ids)
        started = time.monotonic()
        log.log(log_level, "job %d start t=%.6f files=%d model=%s via=%s", job, started, files, model, via)
        try:
            yield job
        finally:
            ended = time.monotonic()
            log.log(log_level, "job %d end t=%.6f (%.2f s)", job, ended, ended - started)
            with self._changed:
                self._busy = False
                self._changed.notify_all()

    def waiting(self) -> int:
        """How many requests wait for their turn now."""
        with self._changed:
            return len(self._waiting)
