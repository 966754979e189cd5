"""``progress.Estimate``: the bar moves while one long call runs, follows the work's real reports, never goes back,
never reaches the end of its span before the work returns, and always says the time left. No timing asserts: the
ticks are counted, not timed."""

from __future__ import annotations

import threading

from offline_transcribe.progress import Estimate, time_left


class Sink:
    """Records what a progress bar would show."""

    def __init__(self) -> None:
        self.shown: list[tuple[float, str]] = []
        self.ticked = threading.Event()

    def __call__(self, fraction: float, message: str) -> None:
        self.shown.append((fraction, message))
        if len(self.shown) >= 6:
            self.ticked.set()


def test_one_long_call_moves_the_bar_by_the_expected_speed_and_says_the_time_left():
    sink = Sink()
    with Estimate(sink, 0.05, 0.95, expected_s=0.2, tick_s=0.01) as run:
        run(0.05, "Transcribing 0:00–20:00")
        assert sink.ticked.wait(30)  # the work reports nothing more: the ticks move the bar meanwhile
    fractions = [f for f, _ in sink.shown]
    assert len(set(fractions)) >= 3 and fractions == sorted(fractions), fractions
    assert max(fractions) < 0.95  # the end of the span is the work's to report
    assert all(m.startswith("Transcribing 0:00–20:00 · ") and m.endswith("left") for _, m in sink.shown), sink.shown


def test_real_reports_correct_the_estimate_and_the_bar_never_goes_back():
    sink = Sink()
    with Estimate(sink, 0.05, 0.95, expected_s=1e6, tick_s=3600) as run:  # a far too slow guess, no ticks
        run(0.05, "window 1 of 4")
        run(0.5, "window 3 of 4")  # half done: the guess gives way to the speed the work has shown
        run(0.3, "late report")  # never backwards
    assert [round(f, 2) for f, _ in sink.shown] == [0.05, 0.5, 0.5]
    assert sink.shown[0][1].startswith("window 1 of 4 · about 277:")  # the guess: 10^6 s
    assert sink.shown[1][1] == "window 3 of 4 · a few seconds left"  # what the work has shown: fast
    assert sink.shown[2][1].startswith("late report")


def test_without_an_expected_duration_it_shows_the_time_spent():
    sink = Sink()
    with Estimate(sink, 0.02, 0.02, expected_s=None, tick_s=0.01) as loading:
        loading(0.02, "Loading Canary-Qwen-2.5B (first use)")
        assert sink.ticked.wait(30)
    assert {f for f, _ in sink.shown} == {0.02}
    assert all(m.startswith("Loading Canary-Qwen-2.5B (first use) · 0:0") for _, m in sink.shown), sink.shown


def test_time_left_reads_as_people_say_it():
    assert time_left(2) == "a few seconds left"
    assert time_left(42) == "about 42 s left"
    assert time_left(125) == "about 2:05 left"
    assert time_left(3725) == "about 1:02:05 left"


class Clock:
    """A clock that moves only when told (for ``time.monotonic`` in ``progress``)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_number_before_a_measurement_then_a_smoothed_time_left(monkeypatch):
    """Without a measured speed the message gives no time left (a guess was off by a factor of ten on a CPU);
    the work's own reports measure it; later the time left never goes up by more than the time that passed."""
    import offline_transcribe.progress as progress

    clock = Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    sink = Sink()
    with Estimate(sink, 0.0, 1.0, expected_s=None, tick_s=3600) as run:
        run(0.0, "Transcribing 0:00–0:10")
        clock.now += 1
        run(0.1, "Transcribing 0:10–0:20")  # 10 % in 1 s: about 9 s left
        clock.now += 1
        run(0.12, "Transcribing 0:20–0:30")  # slower: 16.7 s would be left, shown 9 + 1 s at most
    assert "left" not in sink.shown[0][1] and "0:0" in sink.shown[0][1]  # the time spent instead
    assert sink.shown[1][1].endswith("about 9 s left"), sink.shown
    assert sink.shown[2][1].endswith("about 10 s left"), sink.shown
