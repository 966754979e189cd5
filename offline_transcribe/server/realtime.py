"""The Realtime transcription endpoint: ``GET /v1/realtime?intent=transcription``, upgraded to a WebSocket, speaking
the transcription session of OpenAI's Realtime API, so that any Realtime client (the ``openai`` SDK, speaches' and
vLLM's clients, plugNmeet) gets live text from this server.

* Client events: ``session.update`` (``session.type`` "transcription"; ``audio.input.format`` ``audio/pcm`` at
  24000 Hz, OpenAI's rate and the default, or 16000 Hz; ``audio.input.transcription.model`` one of ours that
  streams; ``audio.input.turn_detection`` null or ``{"type": "server_vad"}``; this server's extension,
  ``audio.input.transcription.hotwords``, phrases to recognise, a string separated by commas or new lines as the
  transcription API's ``hotwords`` field, or a list of phrases, and ``...transcription.replacements``,
  ``find => replace`` lines: they apply from the next turn on, the server's ``--vocabulary`` / ``--replacements``
  where they are left out), ``input_audio_buffer.append``
  (base64 PCM16 little-endian mono), ``input_audio_buffer.commit`` and ``input_audio_buffer.clear``.
* Server events: ``session.created``, ``session.updated``, ``input_audio_buffer.committed`` / ``cleared``,
  ``conversation.item.input_audio_transcription.delta`` as the streaming decoder commits words (a word is final
  once the context's right look-ahead has arrived) and ``...completed`` per turn, ``error`` in OpenAI's shape
  (``{"type": "error", "error": {"type", "code", "message", "param", "event_id"}}``). A bad event gets an
  ``error`` and the connection goes on.
* Turns end when the client commits, or, with ``server_vad``, at a pause (where the offline transcript would start
  a new segment: a pause or a sentence end).
* Access: the server's Host and Origin checks (a page of another site is refused before the upgrade) and its API
  key, as ``Authorization: Bearer`` or, from browsers, the subprotocol ``openai-insecure-api-key.<key>``
  (``SubprotocolKey`` turns it into the header the access check reads).
* One live stream per server (``live_slot``): a second Realtime session, while the page or another client decodes
  live, gets an ``error`` event (code ``live_busy``) and the connection is closed (1013, try again later); a
  holder that sent no audio for 30 s is taken over.

Audio is resampled to 16 kHz with soxr; every step of the decoder takes its turn in the server's job line
(``jobs.JobQueue``), so files and live decoding interleave. ``Connection`` also carries the page's own Live
(``server/live.py``), which adds its events (``live.view``, ``live.recording``) through its hooks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr
from fastapi import FastAPI, WebSocket
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..audio import SAMPLE_RATE
from ..config import LiveOptions, Settings
from ..errors import AppError, VocabularyError
from ..live.session import LiveSession, LiveView, can_stream, streaming_models
from ..models.registry import MODELS
from ..models.store import ModelStore
from ..types import Word
from ..vocabulary import DEFAULT_WEIGHT, Replacement, Vocabulary, parse_hotwords, parse_phrases, parse_replacements
from .jobs import JobQueue
from .live_slot import LiveSlot, slot_for

log = logging.getLogger("transcribe.realtime")

PATH = "/v1/realtime"
RATES = (24000, 16000)  # OpenAI's PCM16 rate first: the default
MAX_EVENT_BYTES = 4 * 1024 * 1024  # one client event (about 30 s of base64 audio at 24 kHz)
POLL_S = 0.1  # how often new words are looked for
KEY_PROTOCOL = "openai-insecure-api-key."
CLOSE_TRY_AGAIN = 1013


class EventError(Exception):
    """A client event that cannot be carried out: answered with an ``error`` event."""

    def __init__(self, message: str, code: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.code, self.param, self.kind = code, param, kind


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def error_event(exc: EventError, event_id: str | None = None) -> dict[str, Any]:
    """An ``error`` server event in OpenAI's shape."""
    error = {"type": exc.kind, "code": exc.code, "message": str(exc), "param": exc.param, "event_id": event_id}
    return {"type": "error", "event_id": new_id("event"), "error": error}


def resolve_model(name: str, installed: list[str]) -> str:
    """Our key for a model named ``name`` (its key, display name or Hugging Face id) that is installed and streams."""
    wanted = name.strip().lower()
    for key, spec in MODELS.items():
        if wanted in {key.lower(), spec.display_name.lower(), spec.repo_id.lower()}:
            if key in installed and can_stream(key):
                return key
            break
    names = ", ".join(streaming_models(installed)) or "none is installed"
    raise EventError(f"Model {name!r} cannot transcribe live here; the models that can: {names}.", "invalid_value",
                     "session.audio.input.transcription.model")


TRANSCRIPTION = "session.audio.input.transcription"


def read_phrases(value: object, source: str) -> tuple[str, ...]:
    """``hotwords`` as a client sends it: a string (commas or new lines between phrases) or a list of phrases (one
    per item, as the page's box has them per line); ``EventError`` naming the field and the bad phrase."""
    param = f"{TRANSCRIPTION}.hotwords"
    try:
        if isinstance(value, str):
            return parse_hotwords(value, source)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return parse_phrases("\n".join(item.replace("\n", " ") for item in value), source)
    except VocabularyError as exc:
        raise EventError(str(exc), "invalid_value", param) from None
    raise EventError(f"'{param}' must be a string of phrases separated by commas or new lines, or a list of "
                     "phrases.", "invalid_type", param)


def read_rules(value: object, source: str) -> tuple[Replacement, ...]:
    """``replacements``: a string of ``find => replace`` lines; ``EventError`` naming the field and the bad line."""
    param = f"{TRANSCRIPTION}.replacements"
    if not isinstance(value, str):
        raise EventError(f"'{param}' must be a string of `find => replace` lines.", "invalid_type", param)
    try:
        return parse_replacements(value, source)
    except VocabularyError as exc:
        raise EventError(str(exc), "invalid_value", param) from None


class SessionConfig:
    """A transcription session's settings (what ``session.update`` changes). ``sources`` name the vocabulary's two
    fields in error messages."""

    def __init__(self, model: str, sources: tuple[str, str] = ("hotwords", "replacements")) -> None:
        self.id = new_id("sess")
        self.model, self.rate = model, RATES[0]
        self.turn_detection: dict[str, Any] | None = None
        self.phrases: tuple[str, ...] = ()
        self.replacements: tuple[Replacement, ...] = ()
        self.sources = sources

    def vocabulary(self, defaults: Vocabulary | None) -> Vocabulary:
        """The session's vocabulary, the server's ``defaults`` for the parts it leaves empty."""
        weight = defaults.weight if defaults is not None else DEFAULT_WEIGHT
        return Vocabulary(self.phrases, self.replacements, weight).or_defaults(defaults)

    @property
    def server_vad(self) -> bool:
        return self.turn_detection is not None

    def as_event(self) -> dict[str, Any]:
        """The session as ``session.created`` / ``session.updated`` carry it."""
        audio_input = {
            "format": {"type": "audio/pcm", "rate": self.rate},
            "transcription": {"model": self.model, **({"hotwords": list(self.phrases)} if self.phrases else {}),
                              **({"replacements": "\n".join(map(str, self.replacements))} if self.replacements
                                 else {})},
            "turn_detection": self.turn_detection,
            "noise_reduction": None,
        }
        return {"type": "transcription", "object": "realtime.transcription_session", "id": self.id,
                "audio": {"input": audio_input}, "include": []}

    def update(self, session: object, installed: list[str]) -> None:
        """Apply a ``session.update``'s ``session`` (all or nothing); raises ``EventError`` naming the bad field."""
        if not isinstance(session, dict):
            raise EventError("session.update needs a 'session' object.", "invalid_value", "session")
        kind = session.get("type", "transcription")
        if kind != "transcription":
            raise EventError(f"This server offers transcription sessions only, not {kind!r}: connect with "
                             "?intent=transcription and send session.type 'transcription'.", "invalid_value",
                             "session.type")
        audio = _object(session, "audio", "session.audio")
        given = _object(audio, "input", "session.audio.input")
        rate, model, turn = self.rate, self.model, self.turn_detection
        phrases, replacements = self.phrases, self.replacements
        if "format" in given:
            fmt = _object(given, "format", "session.audio.input.format")
            if fmt.get("type", "audio/pcm") != "audio/pcm":
                raise EventError(f"Audio format {fmt.get('type')!r} is not supported: send 'audio/pcm' (PCM16 "
                                 "little-endian mono).", "invalid_value", "session.audio.input.format.type")
            rate = fmt.get("rate", rate)
            if rate not in RATES:
                raise EventError(f"PCM rate {rate!r} is not supported: send 24000 (the default) or 16000 Hz.",
                                 "invalid_value", "session.audio.input.format.rate")
        if "transcription" in given:
            transcription = _object(given, "transcription", TRANSCRIPTION)
            name = transcription.get("model")
            if name is not None:
                if not isinstance(name, str):
                    raise EventError("The model must be a name.", "invalid_type", f"{TRANSCRIPTION}.model")
                model = resolve_model(name, installed)
            if "hotwords" in transcription:
                phrases = read_phrases(transcription["hotwords"], self.sources[0])
            if "replacements" in transcription:
                replacements = read_rules(transcription["replacements"], self.sources[1])
        if "turn_detection" in given:
            turn = given["turn_detection"]
            if turn is not None and (not isinstance(turn, dict) or turn.get("type") != "server_vad"):
                raise EventError("turn_detection must be null (turns end when you commit) or {'type': "
                                 "'server_vad'} (turns also end at pauses).", "invalid_value",
                                 "session.audio.input.turn_detection")
            turn = None if turn is None else {"type": "server_vad"}
        self.rate, self.model, self.turn_detection = rate, model, turn
        self.phrases, self.replacements = phrases, replacements


def _object(parent: dict, name: str, param: str) -> dict:
    value = parent.get(name, {})
    if not isinstance(value, dict):
        raise EventError(f"'{param}' must be an object.", "invalid_type", param)
    return value


def decode_pcm16(audio: object) -> np.ndarray:
    """``input_audio_buffer.append``'s base64 PCM16 as float32 samples; raises ``EventError`` when it is not."""
    if not isinstance(audio, str):
        raise EventError("'audio' must be base64-encoded PCM16 audio.", "invalid_type", "audio")
    try:
        raw = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise EventError("'audio' is not valid base64: send base64-encoded PCM16 little-endian mono.",
                         "invalid_value", "audio") from None
    if len(raw) % 2:
        raise EventError("'audio' has an odd number of bytes: PCM16 has two bytes per sample.", "invalid_value",
                         "audio")
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


class Connection:
    """One Realtime WebSocket: its session settings, the live session of its current turn, and what was sent.

    ``on_audio``, ``on_view`` and ``on_turn_end`` are the page's hooks; ``page`` is what the page's Live sets up.
    ``vocabulary`` is the server's (``--vocabulary``, ``--replacements``): each turn's live session boosts and
    replaces with the session's own, these filling in what it leaves out.
    """

    claim_at_start = True  # the API claims the live slot at connection; the page records even without it
    vocabulary_sources = ("hotwords", "replacements")  # the vocabulary's fields, as error messages name them

    def __init__(
        self, ws: WebSocket, store: ModelStore, jobs: JobQueue, options: LiveOptions, default_model: str,
        vocabulary: Vocabulary | None = None,
    ) -> None:  # fmt: skip
        self.ws, self.store, self.jobs, self.options = ws, store, jobs, options
        self.vocabulary = vocabulary
        self.slot: LiveSlot = slot_for(jobs)
        installed = store.installed()
        default = default_model if can_stream(default_model) else None
        first = default if default in installed else next(iter(streaming_models(installed)), None)
        self.config = SessionConfig(first or "", self.vocabulary_sources)
        self.session: LiveSession | None = None
        self._resampler: soxr.ResampleStream | None = None
        self._item = new_id("item")
        self._previous_item: str | None = None
        self._sent_words = 0  # committed words of the session already sent as deltas
        self._done_segments = 0  # closed segments already completed as turns (server_vad)
        self._item_words: list[str] = []
        self._last_audio = time.monotonic()
        self._preempted = False
        self._send_lock = asyncio.Lock()
        self._turn_lock = asyncio.Lock()

    # -- the slot's holder ---------------------------------------------------------------------------------------

    @property
    def idle_s(self) -> float:
        return time.monotonic() - self._last_audio

    def preempt(self) -> None:
        """Another client takes live decoding over (this one sent nothing for a while)."""
        self._preempted = True
        if self.session is not None:
            self.session.abort()

    # -- the connection ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client goes away."""
        poller = None
        try:
            if not self.config.model:
                names = " or ".join(MODELS[k].display_name for k in MODELS if can_stream(k))
                error = EventError(f"Live transcription needs {names}, and none is installed.",
                                   "model_not_available", kind="server_error")  # fmt: skip
                await self.fail(error, close=1011)
                return
            if self.claim_at_start and not self.slot.claim(self):
                error = EventError("Live transcription is running for another client or browser tab (one at a time, "
                                   "so that it keeps up with speech); try again when it ends.", "live_busy",
                                   kind="server_error")  # fmt: skip
                await self.fail(error, close=CLOSE_TRY_AGAIN)
                return
            poller = asyncio.create_task(self._poll())
            await self.send({"type": "session.created", "event_id": new_id("event"), "session": self.config.as_event()})
            await self._receive_loop()
        except WebSocketDisconnect:
            pass
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            if self.session is not None:
                self.session.abort()
            self.slot.release(self)
            self.closed()

    async def _receive_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            event_id = None
            try:
                if len(data) > MAX_EVENT_BYTES:
                    raise EventError(f"An event of {len(data) / 1e6:.1f} MB is larger than this server takes "
                                     f"({MAX_EVENT_BYTES // 2**20} MiB): send the audio in smaller appends.",
                                     "event_too_large")
                try:
                    event = json.loads(data)
                except (ValueError, UnicodeDecodeError):
                    raise EventError("The event is not JSON.", "invalid_json") from None
                if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                    raise EventError("An event is a JSON object with a 'type'.", "invalid_event", "type")
                event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
                await self.handle(event)
            except EventError as exc:
                await self.send(error_event(exc, event_id))
            if self._preempted:
                await self.fail(EventError("Another client took live transcription over after this one sent no "
                                           "audio for 30 s.", "live_taken_over", kind="server_error"),
                                close=CLOSE_TRY_AGAIN)
                return

    async def handle(self, event: dict[str, Any]) -> None:
        """Carry out one client event."""
        kind = event["type"]
        if kind in ("session.update", "transcription_session.update"):
            async with self._turn_lock:
                rate = self.config.rate
                self.config.update(event.get("session"), self.store.installed())
                if self.config.rate != rate:
                    self._resampler = None  # the new rate applies from the next audio on
            await self.send({"type": "session.updated", "event_id": new_id("event"), "session": self.config.as_event()})
        elif kind == "input_audio_buffer.append":
            samples = decode_pcm16(event.get("audio"))
            await self.append(samples)
        elif kind == "input_audio_buffer.commit":
            await self.commit()
        elif kind == "input_audio_buffer.clear":
            async with self._turn_lock:
                if self.session is not None:
                    self.session.abort()
                self._new_turn()
            await self.send({"type": "input_audio_buffer.cleared", "event_id": new_id("event")})
        else:
            raise EventError(f"Unknown event type {kind!r}: this server takes session.update and "
                             "input_audio_buffer.append, .commit and .clear.", "unknown_event_type", "type")

    async def append(self, samples: np.ndarray) -> None:
        """Resample to 16 kHz and feed the turn's session (started on its first audio)."""
        self._last_audio = time.monotonic()
        if self._resampler is None and self.config.rate != SAMPLE_RATE:
            self._resampler = soxr.ResampleStream(self.config.rate, SAMPLE_RATE, 1)
        audio = samples if self._resampler is None else self._resampler.resample_chunk(samples)
        async with self._turn_lock:
            if self.session is None and self.may_decode():
                try:
                    vocabulary = self.config.vocabulary(self.vocabulary)
                    self.session = LiveSession(self.store, self.config.model, self.options, turn=self._job_turn(),
                                               vocabulary=vocabulary)
                    if vocabulary:
                        log.info("live: vocabulary %s", vocabulary.summary())
                except AppError as exc:
                    raise EventError(str(exc), "model_not_available", kind="server_error") from None
            self.on_audio(audio)
            if self.session is not None:
                self.session.feed(audio)

    def _job_turn(self) -> Callable[[], contextlib.AbstractContextManager[int]]:
        key = self.config.model
        return lambda: self.jobs.job(files=1, model=key, via="live", log_level=logging.DEBUG)

    async def commit(self) -> None:
        """End the turn: decode what is left, send its last words and its transcript."""
        async with self._turn_lock:
            session = self.session
            if session is None and not self.has_audio():
                raise EventError("The input audio buffer is empty: append audio before committing.",
                                 "input_audio_buffer_commit_empty")
            await self.send({"type": "input_audio_buffer.committed", "event_id": new_id("event"),
                             "previous_item_id": self._previous_item, "item_id": self._item})
            view = await asyncio.to_thread(session.close) if session is not None else None
            if view is not None:
                await self._emit(view, final=True)
            await self.on_turn_end(view)
            self._new_turn()

    def _new_turn(self) -> None:
        self.session, self._resampler = None, None
        self._sent_words = self._done_segments = 0
        self._item_words = []
        self._previous_item, self._item = self._item, new_id("item")

    async def _poll(self) -> None:
        """Send the words committed since the last look, every ``POLL_S``."""
        while True:
            await asyncio.sleep(POLL_S)
            async with self._turn_lock:
                if self.session is not None:
                    view = self.session.view()
                    await self._emit(view)
                    if view.error and not self._preempted:
                        session, self.session = self.session, None
                        await self.send(error_event(EventError(view.error, "transcription_failed",
                                                               kind="server_error")))
                        session.abort()
                        self._new_turn()
                await self.on_view(self.session.view() if self.session is not None else None)

    async def _emit(self, view: LiveView, final: bool = False) -> None:
        """Deltas for new committed words; with server_vad a completed turn per closed segment; at the end of a
        turn (``final``) the completed transcript of what is left."""
        words: list[Word] = [w for s in view.segments for w in s.words] + list(view.open_words)
        ends = list(itertools.accumulate(len(s.words) for s in view.segments))  # where each closed segment ends
        for index in range(self._sent_words, len(words)):
            await self._delta(words[index].text)
            self._sent_words = index + 1
            await self._complete_closed(ends)
        await self._complete_closed(ends)
        if final and (self._item_words or not self.config.server_vad):
            await self._complete()

    async def _complete_closed(self, ends: list[int]) -> None:
        """With server_vad, a closed segment whose words were all sent is a turn: complete it."""
        while self.config.server_vad and self._done_segments < len(ends) and \
                self._sent_words >= ends[self._done_segments]:
            if self._item_words:
                await self._complete()
            self._done_segments += 1

    async def _delta(self, text: str) -> None:
        delta = text if not self._item_words else f" {text}"
        self._item_words.append(text)
        await self.send({"type": "conversation.item.input_audio_transcription.delta", "event_id": new_id("event"),
                         "item_id": self._item, "content_index": 0, "delta": delta})

    async def _complete(self) -> None:
        transcript = " ".join(self._item_words)
        if self.config.server_vad:  # the pause ended the turn: it is committed by the server
            await self.send({"type": "input_audio_buffer.committed", "event_id": new_id("event"),
                             "previous_item_id": self._previous_item, "item_id": self._item})
        await self.send({"type": "conversation.item.input_audio_transcription.completed",
                         "event_id": new_id("event"), "item_id": self._item, "content_index": 0,
                         "transcript": transcript, "usage": {"type": "duration", "seconds": 0}})
        self._item_words = []
        self._previous_item, self._item = self._item, new_id("item")

    async def send(self, event: dict[str, Any]) -> None:
        async with self._send_lock:
            if self.ws.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                    await self.ws.send_text(json.dumps(event))

    async def fail(self, exc: EventError, close: int) -> None:
        """Send the error, then close the connection with ``close``."""
        await self.send(error_event(exc))
        with contextlib.suppress(RuntimeError):
            await self.ws.close(close)

    # -- the page's hooks ----------------------------------------------------------------------------------------

    def may_decode(self) -> bool:
        """Whether audio is decoded live (the page records without decoding while another tab has the slot)."""
        return True

    def has_audio(self) -> bool:
        return False

    def on_audio(self, audio: np.ndarray) -> None:
        """16 kHz audio as it arrives."""

    async def on_view(self, view: LiveView | None) -> None:
        """The live session's state, every ``POLL_S``."""

    async def on_turn_end(self, view: LiveView | None) -> None:
        """A turn ended (committed)."""

    def closed(self) -> None:
        """The connection is gone."""


def subprotocol(ws: WebSocket) -> str | None:
    """The subprotocol to accept: "realtime" when the client offers it (never the key's)."""
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")]
    return "realtime" if "realtime" in offered else None


def install(app: FastAPI, settings: Settings, store: ModelStore, jobs: JobQueue) -> None:
    """Add ``/v1/realtime`` to ``app`` (before the page's mount at "/", which would take every path)."""

    @app.websocket(PATH)
    async def realtime(ws: WebSocket, intent: str = "transcription") -> None:
        if intent != "transcription":
            await ws.accept(subprotocol(ws))
            await Connection(ws, store, jobs, settings.live, settings.default_model).fail(EventError(
                f"intent={intent!r}: this server offers transcription sessions only (?intent=transcription).",
                "invalid_intent"), close=1008)
            return
        await ws.accept(subprotocol(ws))
        log.info("realtime: a client connected")
        await Connection(ws, store, jobs, settings.live, settings.default_model, settings.vocabulary).run()
        log.info("realtime: the client went away")


class SubprotocolKey:
    """Browsers cannot set ``Authorization`` on a WebSocket: they send the key as the subprotocol
    ``openai-insecure-api-key.<key>``. For a WebSocket without ``Authorization``, this middleware turns that into
    ``Authorization: Bearer <key>`` before the access check (``AccessMiddleware``) reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            headers = list(scope.get("headers", []))
            names = {name for name, _ in headers}
            if b"authorization" not in names:
                for name, value in headers:
                    if name == b"sec-websocket-protocol":
                        for offered in value.decode("latin-1").split(","):
                            if offered.strip().startswith(KEY_PROTOCOL):
                                key = offered.strip()[len(KEY_PROTOCOL):]
                                headers.append((b"authorization", f"Bearer {key}".encode("latin-1")))
                                scope = {**scope, "headers": headers}
                                break
        await self.app(scope, receive, send)
