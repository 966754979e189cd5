"""Subtitle shaping, documents and Canary's borrowed word times: what they cost on the CPU for long transcripts.

    python bench/bench_subtitles.py    # 1 h of words: shaping, SRT, VTT, DOCX, Markdown, alignment
    python bench/bench_subtitles.py --hours 3

The words are generated (random lengths, gaps, punctuation); the alignment is Canary-like text (5 % of the words
changed, 2 % dropped, 2 % added) against the timed words, window by window (40 s), as ``wordtimes.borrow`` does it.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from offline_transcribe.backends.windows import words_to_segments
from offline_transcribe.exports import ExportOptions, to_srt, to_vtt, write_exports
from offline_transcribe.subtitles import PRESETS
from offline_transcribe.types import Transcript, Word
from offline_transcribe.wordtimes.align import align_text

VOCAB = ["the", "a", "budget", "meeting", "we", "should", "travel", "plan", "numbers", "year", "people", "think",
         "agree", "really"]  # fmt: skip


def words_for(hours: float, rng: random.Random) -> list[Word]:
    t, out = 0.0, []
    while t < hours * 3600:
        t += rng.choice([0.02, 0.05, 0.1, 0.2, 0.6, 1.2])
        length = rng.uniform(0.15, 0.6)
        out.append(Word(rng.choice(VOCAB) + rng.choice(["", "", "", "", ",", "."]), t, t + length))
        t += length
    return out


def timed(label: str, fn, repeat: int = 3):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<44} {best * 1000:9.1f} ms")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=1.0)
    args = p.parse_args()
    rng = random.Random(27)
    words = words_for(args.hours, rng)
    print(f"{len(words)} words, {args.hours:g} h")
    segments = timed("words_to_segments (bounded)", lambda: words_to_segments(words))
    t = Transcript(" ".join(w.text for w in words), segments, "parakeet", "Parakeet", words[-1].end + 1, 1.0, "cpu",
                   "word", "bench.wav")  # fmt: skip
    for name in ("standard", "one line", "as transcribed"):
        timed(f"SRT, {name}", lambda name=name: to_srt(t, PRESETS[name]))
    timed("VTT, standard", lambda: to_vtt(t))
    with tempfile.TemporaryDirectory() as d:
        timed("DOCX", lambda: write_exports(t, Path(d), "b", ["docx"], ExportOptions()))
        timed("Markdown", lambda: write_exports(t, Path(d), "b", ["md"], ExportOptions()))
    end, windows = words[-1].end, []
    start = 0.0
    while start < end:
        inside = [w for w in words if start <= (w.start + w.end) / 2 < start + 40]
        text: list[str] = []
        for w in inside:
            r = rng.random()
            if r < 0.02:
                continue  # dropped
            text.append("changed" if r < 0.07 else w.text)
            if r > 0.98:
                text.append("added")
        windows.append((start, start + 40, inside, text))
        start += 40

    def align_all() -> tuple[int, int, int]:
        matched = same = total = 0
        for s, e, inside, text in windows:
            a = align_text(text, inside, s, e)
            matched, same, total = matched + a.matched, same + a.same, total + len(text)
        return matched, same, total

    matched, same, total = timed("Canary words aligned to Parakeet's (40 s windows)", align_all)
    print(f"  {same / total:.1%} the same word, {(matched - same) / total:.1%} substitutes, "
          f"{(total - matched) / total:.1%} placed between")  # fmt: skip


if __name__ == "__main__":
    main()
