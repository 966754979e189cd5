"""One transcription at a time for the whole server, page and API alike, in the order they were asked for.

The page's Gradio queue sends one page job at a time here, the API one API request at a time; they take their
turns in this line, so the GPU never runs two jobs at once whichever door they came through, and neither door
can starve the other. Every job logs one line when it
starts and one when it ends, with ``time.monotonic()``, so the one-at-a-time rule can be checked from the log::

    job 3 start t=1234.567890 files=1 model=parakeet via=api
    job 3 end t=1236.012345 (1.44 s)
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


class JobQueue:
    """A first-come, first-served lock for transcriptions, shared by every front end of one server."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: collections.deque[object] = collections.deque()
        self._busy = False
        self._ids = itertools.count(1)

    @contextlib.contextmanager
    def job(
        self, *, files: int, model: str, via: str, on_wait: Callable[[], None] | None = None
    ) -> Iterator[int]:
        """Wait for this request's turn, then hold the server's one job slot; yields the job's number.

        ``on_wait`` is called (once, before waiting) when another job runs or is ahead in the line. A request that
        stops waiting (an exception while it waits) leaves the line without blocking the ones behind it.
        """
        turn = object()
        with self._changed:
            self._waiting.append(turn)
            must_wait = self._busy or self._waiting[0] is not turn
        try:
            if must_wait and on_wait is not None:
                on_wait()
            with self._changed:
                while self._busy or self._waiting[0] is not turn:
                    self._changed.wait()
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
        log.info("job %d start t=%.6f files=%d model=%s via=%s", job, started, files, model, via)
        try:
            yield job
        finally:
            ended = time.monotonic()
            log.info("job %d end t=%.6f (%.2f s)", job, ended, ended - started)
            with self._changed:
                self._busy = False
                self._changed.notify_all()

    def waiting(self) -> int:
        """How many requests wait for their turn now."""
        with self._changed:
            return len(self._waiting)
