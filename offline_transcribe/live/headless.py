"""``transcribe_ui.py --live -`` and ``--live FILE``: live transcription without a browser.

Standard input is read as 16 kHz mono signed 16-bit little-endian PCM, which is what
``ffmpeg -f pulse -i default -ac 1 -ar 16000 -f s16le -`` writes; a file is decoded and played through the same
path at real-time speed (to try it without a microphone). Every segment is printed on standard output as soon as
it is final, one line each with its times; what the command has to say goes to standard error:

    [0:00:01.20 → 0:00:03.44] hello seven two
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import BinaryIO, TextIO

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..config import LiveOptions
from ..errors import AppError
from ..models.registry import get_spec
from ..models.store import ModelStore
from ..types import Segment
from ..vocabulary import Vocabulary
from .session import LiveSession, LiveView, streaming_backend

BLOCK_S = 0.1  # audio read from standard input (or played from a file) at a time
BEHIND_NOTICE_EVERY_S = 10.0


def format_line(segment: Segment) -> str:
    """``[0:00:01.20 → 0:00:03.44] text``."""
    return f"[{_clock(segment.start)} → {_clock(segment.end)}] {segment.text}"


def _print_line(segment: Segment, out: TextIO) -> None:
    print(format_line(segment), file=out, flush=True)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}"


def run_live(
    store: ModelStore,
    source: str,
    model_key: str,
    options: LiveOptions | None = None,
    *,
    stdin: BinaryIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    verbose: bool = False,
    vocabulary: Vocabulary | None = None,
) -> int:
    """Transcribe ``source`` ("-": standard input; otherwise a file played at real-time speed) live; 0 on success.

    Standard input is read from the start, while the model loads (what arrives meanwhile is decoded once it is
    ready), so a microphone's pipe never backs up. Standard output holds the segment lines only: what the libraries
    print goes to standard error with ``verbose``, else nowhere.
    """
    out, err = out or sys.stdout, err or sys.stderr
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(err if verbose else devnull):
        return _run_live(store, source, model_key, options, stdin, out, err, vocabulary)


def _run_live(
    store: ModelStore, source: str, model_key: str, options: LiveOptions | None, stdin: BinaryIO | None,
    out: TextIO, err: TextIO, vocabulary: Vocabulary | None = None,
) -> int:
    try:
        audio = None if source == "-" else load_audio(source, SAMPLE_RATE)
        streaming_backend(model_key)  # a model that cannot stream, before its files are looked at
        store.validate([model_key])
        session = LiveSession(store, model_key, options, on_segment=lambda seg: _print_line(seg, out),
                              vocabulary=vocabulary)
    except AppError as exc:
        print(str(exc), file=err, flush=True)
        return 1
    print(f"Loading {get_spec(model_key).display_name}…", file=err, flush=True)
    announcer = threading.Thread(target=_announce, args=(session, err), name="live-announce", daemon=True)
    announcer.start()
    watch = _Watch(session, err)
    try:
        if audio is None:
            print("Listening: 16 kHz mono s16le on standard input; end with Ctrl-D or Ctrl-C.", file=err, flush=True)
            _feed_pcm(session, stdin or sys.stdin.buffer, watch)
        else:
            announcer.join()  # a file is played once the model is ready
            print(f"Playing {source} at real-time speed ({len(audio) / SAMPLE_RATE:.1f} s).", file=err, flush=True)
            _play(session, audio, watch)
    except KeyboardInterrupt:
        pass
    final = session.close()
    if final.error:
        print(final.error, file=err, flush=True)
        return 1
    print(f"Done: {final.received_s:.1f} s of audio.", file=err, flush=True)
    return 0


def _announce(session: LiveSession, err: TextIO) -> None:
    """Once the model is ready, say on standard error where the session runs and with which context."""
    view = session.wait_started()
    if view.started:
        print(
            f"Live with {view.model_name} on {view.device} ({view.context}): words are final about "
            f"{view.context.latency_s:.1f} s after they are spoken, plus the time to compute them.",
            file=err, flush=True,
        )  # fmt: skip


def _feed_pcm(session: LiveSession, stream: BinaryIO, watch: _Watch) -> None:
    """Feed s16le samples from ``stream`` as they come, until end of file (or the session has ended)."""
    read = getattr(stream, "read1", stream.read)  # whatever is there, without waiting for a full block
    block = int(BLOCK_S * SAMPLE_RATE) * 2
    odd = b""
    while data := read(block):
        data = odd + data
        even = len(data) - len(data) % 2
        odd = data[even:]
        session.feed(np.frombuffer(data[:even], "<i2").astype(np.float32) / 32768.0)
        if not watch.check():
            return


def _play(session: LiveSession, audio: np.ndarray, watch: _Watch) -> None:
    """Feed ``audio`` in blocks at the pace it would be spoken."""
    block = int(BLOCK_S * SAMPLE_RATE)
    started = time.monotonic()
    for i, at in enumerate(range(0, len(audio), block)):
        time.sleep(max(0.0, started + (i + 1) * BLOCK_S - time.monotonic()))  # the block has "been spoken"
        session.feed(audio[at : at + block])
        if not watch.check():
            return


class _Watch:
    """Says on standard error, at most every ``BEHIND_NOTICE_EVERY_S``, that decoding falls behind the audio;
    ``check`` is False once the session has ended (a load that failed)."""

    def __init__(self, session: LiveSession, err: TextIO):
        self.session, self.err, self.last = session, err, 0.0

    def check(self) -> bool:
        view: LiveView = self.session.view()
        now = time.monotonic()
        if view.falling_behind and not view.catching_up and now - self.last >= BEHIND_NOTICE_EVERY_S:
            self.last = now
            print(
                f"⚠ Falling behind: {view.behind_s:.1f} s of audio waiting. This computer decodes more slowly than "
                "real time with these settings; a larger --live-chunk costs less per second of audio.",
                file=self.err, flush=True,
            )  # fmt: skip
        return not view.finished
