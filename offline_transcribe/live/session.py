"""One live transcription: audio arrives in pieces, a worker thread decodes it step by step, and the words come
out in two parts, committed (final) and tentative (the chunk's unfinished word and the look-ahead), with the
committed words grouped into segments exactly as the offline transcript groups them.

The model is taken from the store for one step at a time (``store.use``), inside the caller's ``turn`` (the
server's job line): a session never holds the model while it waits for audio, and other jobs (files, the API, on
any model) run between its steps, never during one. The model is loaded by the worker too, so feeding never waits
for it: audio that arrives while it loads is decoded once it is ready. Only the model's backend knows how to
stream (``StreamingBackend.open_stream``); a session works with any that can.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..audio import SAMPLE_RATE
from ..backends import get_backend
from ..backends.base import ChunkStream, StreamContext, StreamingBackend, StreamStep
from ..backends.windows import bound_segment, ends_segment, make_segment
from ..config import LiveOptions
from ..devices import free_accelerator_memory, is_out_of_memory
from ..errors import AppError, LiveUnavailableError
from ..models.registry import MODELS, get_spec
from ..models.store import ModelStore
from ..types import Segment, Word
from ..vocabulary import Vocabulary, finish_open_words, finish_segments
from ..vocabulary.apply import can_boost

log = logging.getLogger("transcribe.live")

BEHIND_AFTER_S = 2.0  # audio waiting beyond the context's latency before a session says it is falling behind


def can_stream(key: str) -> bool:
    """Whether the model ``key``'s backend can transcribe live (a backend that does not say cannot)."""
    return bool(getattr(get_backend(get_spec(key).backend), "streaming", False))


def streaming_models(installed: list[str]) -> list[str]:
    """The models of ``installed`` that can transcribe live, in registry order."""
    return [key for key in MODELS if key in installed and can_stream(key)]


def stream_context(key: str, device: str, options: LiveOptions | None = None) -> StreamContext:
    """The context a live session of ``key`` uses on ``device``: the backend's default, with ``options`` applied."""
    given = {name: value for name, value in asdict(options or LiveOptions()).items() if value is not None}
    return replace(streaming_backend(key).stream_context(device), **given)


def streaming_backend(key: str) -> StreamingBackend:
    """The backend of model ``key``; raises ``LiveUnavailableError`` when it cannot stream."""
    spec = get_spec(key)
    backend = get_backend(spec.backend)
    if not can_stream(key):
        names = ", ".join(MODELS[k].display_name for k in MODELS if can_stream(k))
        raise LiveUnavailableError(f"{spec.display_name} cannot transcribe live; {names} can.")
    return backend  # type: ignore[return-value]


def open_stream(
    backend: StreamingBackend, model: object, context: StreamContext, vocabulary: Vocabulary
) -> ChunkStream:
    """``backend.open_stream``, with the vocabulary's phrases boosted in the stream where the backend can."""
    if vocabulary.phrases and can_boost(backend):
        return backend.open_stream(model, context, vocabulary.phrases, vocabulary.weight)
    return backend.open_stream(model, context)


@dataclass(frozen=True)
class LiveView:
    """Where a live session stands: its words so far, how far it has decoded, and whether it keeps up."""

    segments: tuple[Segment, ...]  # closed segments: final
    open_words: tuple[Word, ...]  # committed words of the segment still open: final too
    tentative: tuple[Word, ...]  # what follows, as heard so far: replaced at every step
    received_s: float  # audio fed so far
    decoded_s: float  # audio decoded for good
    context: StreamContext | None  # None while the model loads
    model_name: str
    device: str  # "CPU", "GPU (…)"; "" while the model loads
    finished: bool = False
    error: str = ""
    heard_while_loading_s: float = 0.0  # audio that arrived before the model was ready

    @property
    def started(self) -> bool:
        """True once the model is loaded and the stream open."""
        return self.context is not None

    @property
    def committed_text(self) -> str:
        """Every committed word, closed segments and the open one."""
        return " ".join([s.text for s in self.segments] + [w.text for w in self.open_words])

    @property
    def tentative_text(self) -> str:
        return " ".join(w.text for w in self.tentative)

    @property
    def behind_s(self) -> float:
        """Audio waiting to be decoded beyond what the context itself holds back (0 while the model loads)."""
        if self.context is None:
            return 0.0
        return max(0.0, self.received_s - self.decoded_s - self.context.latency_s)

    @property
    def falling_behind(self) -> bool:
        """True when more audio waits than a step needs (decoding is slower than speech, or catching up)."""
        return self.started and not self.finished and self.behind_s > max(BEHIND_AFTER_S, self.context.chunk_s)

    @property
    def catching_up(self) -> bool:
        """True while what was heard during the model's load is still being decoded."""
        return self.started and not self.finished and self.decoded_s < self.heard_while_loading_s


class LiveSession:
    """One live stream through model ``model_key`` of ``store`` (see the module docstring).

    ``feed`` never blocks; ``view`` is the latest state (``wait_started`` waits for the model); ``close``
    decodes what is left and returns the final view; ``abort`` stops without it. ``on_segment`` is called (from
    the worker thread) with each segment as soon as it is closed: at a sentence end, a pause, or the end of the
    stream. ``turn`` is entered around every use of the model (loading it, each step); by default nothing. With
    ``vocabulary``, its phrases are boosted in this stream alone and its replacements applied to each closed segment.
    A model that cannot stream raises ``LiveUnavailableError`` at once; a load that fails ends the session with
    its message in ``view().error``.
    """

    def __init__(
        self,
        store: ModelStore,
        model_key: str,
        options: LiveOptions | None = None,
        on_segment: Callable[[Segment], None] | None = None,
        turn: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self._backend = streaming_backend(model_key)
        self._vocabulary = vocabulary or Vocabulary()
        self._typed = self._vocabulary.phrases if can_boost(self._backend) else ()  # written as typed
        self._store, self._key, self._options = store, model_key, options
        self._on_segment, self._turn = on_segment, turn
        self._context: StreamContext | None = None
        self._model_name, self._device = get_spec(model_key).display_name, ""
        self._cond = threading.Condition()
        self._inbox: list[np.ndarray] = []
        self._received = 0
        self._last_fed = time.monotonic()
        self._closing = self._aborted = self._finished = False
        self._error = ""
        self._segments: list[Segment] = []
        self._open: list[Word] = []
        self._tentative: tuple[Word, ...] = ()
        self._decoded_s = self._heard_while_loading_s = 0.0
        self._worker = threading.Thread(target=self._run, name=f"live-{model_key}", daemon=True)
        self._worker.start()

    # -- the caller's side ----------------------------------------------------------------------------------------

    def feed(self, audio: np.ndarray) -> None:
        """Queue 16 kHz mono float32 samples (ignored once the session is closing)."""
        audio = np.asarray(audio, np.float32).reshape(-1)
        with self._cond:
            self._last_fed = time.monotonic()
            if self._closing or not audio.size:
                return
            self._inbox.append(audio)
            self._received += audio.size
            self._cond.notify_all()

    def view(self) -> LiveView:
        """The latest words and progress."""
        with self._cond:
            # The open segment's words as its closed segment will have them: written as typed, replaced; a
            # replacement's first words stay tentative until the words after them decide it.
            done, pending = finish_open_words(self._open, self._typed, self._vocabulary.replacements)
            return LiveView(
                tuple(self._segments), tuple(done), (*pending, *self._tentative), self._received / SAMPLE_RATE,
                self._decoded_s, self._context, self._model_name, self._device, self._finished, self._error,
                self._heard_while_loading_s,
            )  # fmt: skip

    @property
    def idle_s(self) -> float:
        """Seconds since audio was last fed."""
        return time.monotonic() - self._last_fed

    @property
    def active(self) -> bool:
        """True until the session has finished (closed, aborted or failed)."""
        return not self._finished

    def wait_started(self, timeout: float | None = None) -> LiveView:
        """Wait until the model is loaded and the stream open (or the session failed); the view then."""
        with self._cond:
            self._cond.wait_for(lambda: self._context is not None or self._finished, timeout)
        return self.view()

    def close(self, timeout: float | None = None) -> LiveView:
        """Decode everything fed so far, close the last segment, and return the final view."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._worker.join(timeout)
        return self.view()

    def abort(self) -> None:
        """Stop at once (after the step under way), without decoding what is left."""
        with self._cond:
            self._closing = self._aborted = True
            self._cond.notify_all()

    # -- the worker -----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            with self._turn(), self._store.use(self._key) as loaded:
                context = stream_context(self._key, loaded.device, self._options)
                stream = open_stream(self._backend, loaded.model, context, self._vocabulary)
            with self._cond:
                self._context, self._device = stream.context, loaded.device_label  # rounded to the model's frames
                self._heard_while_loading_s = self._received / SAMPLE_RATE
                self._cond.notify_all()
            self._decode(stream)
        except AppError as exc:
            self._fail(str(exc))
        except Exception as exc:
            if is_out_of_memory(exc):
                free_accelerator_memory()
                self._fail("The GPU ran out of memory during live transcription; the memory has been freed. Stop, "
                           "then try again.")
            else:
                log.exception("Live transcription failed")
                self._fail("Live transcription failed unexpectedly; the details are in the server log.")
        finally:
            with self._cond:
                self._finished = True
                self._tentative = ()
                self._cond.notify_all()

    def _decode(self, stream: ChunkStream) -> None:
        while True:
            with self._cond:
                while not self._inbox and not self._closing:
                    self._cond.wait()
                pieces, self._inbox = self._inbox, []
                closing, aborted = self._closing, self._aborted
            for piece in pieces:
                stream.accept(piece)
            while stream.ready() and not self._aborted:
                self._apply(self._step(stream.step))
            if closing:
                if not aborted and not self._aborted:
                    self._apply(self._step(stream.finish), last=True)
                return

    def _step(self, run: Callable[[object], StreamStep]) -> StreamStep:
        with self._turn(), self._store.use(self._key) as loaded:
            return run(loaded.model)

    def _apply(self, step: StreamStep, last: bool = False) -> None:
        """Add the step's committed words to the open segment, closing segments where the offline transcript would."""
        closed: list[Segment] = []
        with self._cond:
            for word in step.committed:
                if self._open and ends_segment(self._open, word.start):
                    closed.append(make_segment(self._open))
                    self._open = []
                self._open.append(word)
                *full, self._open = bound_segment(self._open)  # too long: the part before its longest pause is done
                closed += [make_segment(piece) for piece in full]
            next_start = step.tentative[0].start if step.tentative else step.decoded_s
            if self._open and (last or ends_segment(self._open, next_start)):
                closed.append(make_segment(self._open))
                self._open = []
            closed = finish_segments(closed, self._typed, self._vocabulary.replacements)
            self._segments += closed
            self._tentative, self._decoded_s = step.tentative, step.decoded_s
        if self._on_segment is not None:
            for segment in closed:
                self._on_segment(segment)

    def _fail(self, message: str) -> None:
        with self._cond:
            self._error = message
