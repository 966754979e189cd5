"""Decode ahead and batch: the next files are decoded in background threads while the model works, through a
bounded queue (memory stays flat however many files there are), and short files are grouped by duration into
batches of at most ``batch_seconds`` of audio; long ones go alone."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..errors import AppError
from .sources import Item

log = logging.getLogger("transcribe.jobs")

QUEUE_DEPTH = 8  # decoded files waiting for the model, at most
LOOKAHEAD = 3  # files are sorted by duration within this many batches' worth of audio


@dataclass
class Decoded:
    """An item and its audio (or the message saying why it could not be decoded)."""

    item: Item
    audio: np.ndarray | None
    error: str | None
    decode_s: float

    @property
    def duration(self) -> float:
        """Seconds of audio (0 when it could not be decoded)."""
        return 0.0 if self.audio is None else len(self.audio) / SAMPLE_RATE


def decode(item: Item) -> Decoded:
    """One item's audio, cut to its excerpt; errors become the message for the user."""
    started = time.perf_counter()
    try:
        if item.path.is_file() and not os.access(item.path, os.R_OK):
            raise AppError(f"'{item.path}' cannot be read: this user has no read permission. Fix the permissions "
                           f"(chmod u+r '{item.path}') or run as its owner.")
        audio = load_audio(item.path)
        if item.offset or item.duration is not None:
            start = int(item.offset * SAMPLE_RATE)
            end = None if item.duration is None else start + int(item.duration * SAMPLE_RATE)
            audio = audio[start:end]
            if audio.size == 0:
                raise AppError(f"'{item.path}' has no audio at offset {item.offset:g} s (it is shorter). Fix the "
                               "manifest's offset.")
        return Decoded(item, audio, None, time.perf_counter() - started)
    except AppError as exc:
        return Decoded(item, None, str(exc), time.perf_counter() - started)
    except OSError as exc:
        return Decoded(item, None, f"'{item.path}' could not be read ({exc.strerror or exc}). Check its "
                       "permissions.", time.perf_counter() - started)
    except Exception as exc:
        log.exception("Decoding %s failed", item.path)
        return Decoded(item, None, f"Unexpected error while decoding '{item.path.name}' ({type(exc).__name__}); "
                       "the details are in the log.", time.perf_counter() - started)


def decode_ahead(items: Sequence[Item], workers: int = 2, depth: int = QUEUE_DEPTH) -> Iterator[Decoded]:
    """``decode`` of each item, by ``workers`` threads, at most ``depth`` decoded files waiting (order may vary)."""
    out: queue.Queue = queue.Queue(maxsize=depth)
    todo = iter(items)
    lock = threading.Lock()
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            while not stop.is_set():
                with lock:
                    item = next(todo, None)
                if item is None:
                    return
                result = decode(item)
                while not stop.is_set():
                    try:
                        out.put(result, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        finally:
            out.put(done)

    threads = [threading.Thread(target=work, name=f"decode-{i}", daemon=True) for i in range(max(1, workers))]
    for t in threads:
        t.start()
    finished = 0
    try:
        while finished < len(threads):
            got = out.get()
            if got is done:
                finished += 1
            else:
                yield got
    finally:
        stop.set()
        while any(t.is_alive() for t in threads):  # let blocked workers put their last value and end
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.1)


def batches(decoded: Iterable[Decoded], batch_seconds: float, alone_above_s: float,
            in_order: bool = False) -> Iterator[list[Decoded]]:
    """Groups of decoded files for one model call each: files that failed to decode, and files longer than
    ``alone_above_s`` or ``batch_seconds``, alone; the others sorted by duration within a look-ahead window and
    cut into batches of at most ``batch_seconds`` of audio. ``in_order``: the files waiting in the window go
    before a file that goes alone (as a person watching the files of one request expects)."""
    buffer: list[Decoded] = []
    total = 0.0
    for d in decoded:
        if d.audio is None or d.duration > min(alone_above_s, batch_seconds):
            if in_order and buffer:
                ready, rest = _cut(buffer, batch_seconds)
                yield from [*ready, rest]
                buffer, total = [], 0.0
            yield [d]
            continue
        buffer.append(d)
        total += d.duration
        if total >= LOOKAHEAD * batch_seconds:
            ready, buffer = _cut(buffer, batch_seconds)
            total = sum(x.duration for x in buffer)
            yield from ready
    ready, rest = _cut(buffer, batch_seconds)
    yield from ready
    if rest:
        yield rest


def _cut(buffer: list[Decoded], batch_seconds: float) -> tuple[list[list[Decoded]], list[Decoded]]:
    """Full batches of the sorted buffer, and the last (partial) one kept back."""
    groups: list[list[Decoded]] = [[]]
    seconds = 0.0
    for d in sorted(buffer, key=lambda x: x.duration):
        if groups[-1] and seconds + d.duration > batch_seconds:
            groups.append([])
            seconds = 0.0
        groups[-1].append(d)
        seconds += d.duration
    return groups[:-1], groups[-1]
