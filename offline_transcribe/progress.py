"""Progress that keeps moving: real steps where the work reports them, an estimate in between, and the time left.

A backend reports real progress where its work is split (per window, per batch of windows). Where the work is one
long call (Parakeet on up to 25 minutes of audio in one pass, a batch of Canary windows) nothing can be reported
from inside it, so ``Estimate`` advances the bar from the audio's length and the model's speed: measured on this
machine in this process once a file has been transcribed, a cautious guess before that. Each real report corrects
the estimate. The bar never goes backwards and never reaches the end of its span before the work returns, and every
message carries the time left ("about 1:20 left").
"""

from __future__ import annotations

import contextvars
import threading
import time

from .backends.windows import clock
from .types import Progress

TICK_S = 1.0  # how often the estimate moves the bar while a single call runs
MEASURED_SHARE = 0.05  # without an expected duration, the work's own reports give one from this share on
OVERRUN_SHARE = 0.95  # work running past its estimate is taken as 95 % done, so the bar slows instead of stopping


def time_left(seconds: float) -> str:
    """``about 1:20 left``, ``about 40 s left``, ``a few seconds left``."""
    if seconds < 5:
        return "a few seconds left"
    if seconds < 60:
        return f"about {seconds:.0f} s left"
    return f"about {clock(seconds)} left"


class Estimate:
    """A progress sink for one piece of work between the fractions ``lo`` and ``hi``, expected to take
    ``expected_s`` seconds (None: unknown, the message shows the time spent instead).

    Use it as a context manager around the work and pass it on as the work's ``Progress``: the work's own
    reports (``estimate(fraction, message)``) are real; from the first one on, every ``tick_s`` the bar also moves
    by the time spent.
    """

    def __init__(
        self, sink: Progress, lo: float, hi: float, expected_s: float | None, tick_s: float = TICK_S
    ) -> None:
        self.sink, self.lo, self.hi, self.expected_s, self.tick_s = sink, lo, hi, expected_s, tick_s
        self.started = time.monotonic()
        self.real, self.shown, self.message = lo, lo, ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._left: tuple[float, float] | None = None  # the time left last shown, and when (elapsed)

    @property
    def elapsed(self) -> float:
        """Seconds since the work began."""
        return time.monotonic() - self.started

    def __call__(self, fraction: float, message: str) -> None:
        """A real report from the work: ``fraction`` of the whole done (between ``lo`` and ``hi``)."""
        with self._lock:
            elapsed = self.elapsed  # one reading for the estimate and the bar: the bar shows exactly this report
            self.real = max(self.real, min(fraction, self.hi))
            self.message = message
            done = (self.real - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0.0
            if done > 0.01 and (self.expected_s is not None or done >= MEASURED_SHARE):
                self.expected_s = elapsed / done  # the speed the work has really shown so far
        self._emit(elapsed)

    def __enter__(self) -> Estimate:
        context = contextvars.copy_context()  # the sink may rely on context variables (Gradio's progress does)
        self._ticker = threading.Thread(target=context.run, args=(self._tick,), name="progress-estimate", daemon=True)
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_s):
            if self.message:  # from the work's first report on: before it, a bare "… left" would replace the label
                self._emit()

    def _emit(self, elapsed: float | None = None) -> None:
        with self._lock:
            elapsed = self.elapsed if elapsed is None else elapsed
            if self.expected_s is None:
                text = f"{self.message} · {clock(elapsed)}" if self.message else clock(elapsed)
            else:
                if elapsed > OVERRUN_SHARE * self.expected_s:
                    self.expected_s = elapsed / OVERRUN_SHARE
                by_time = self.lo + (self.hi - self.lo) * elapsed / self.expected_s
                self.shown = min(max(self.shown, self.real, by_time), self.hi)
                seconds_left = self.expected_s - elapsed
                if self._left is not None:  # smoothed: never up by more than the time that has passed
                    seconds_left = min(seconds_left, self._left[0] + (elapsed - self._left[1]))
                self._left = (seconds_left, elapsed)
                left = time_left(seconds_left)
                text = f"{self.message} · {left}" if self.message else left
            self.sink(self.shown, text)
