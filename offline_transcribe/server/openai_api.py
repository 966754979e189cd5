"""An OpenAI-compatible transcription API on the page's own server, so that tools that speak OpenAI's
speech-to-text API (Open WebUI, SubtitleEdit, LiteLLM, the ``openai`` SDKs …) transcribe with the local models:

    POST /v1/audio/transcriptions   multipart: file, model, response_format, timestamp_granularities[], stream,
                                    hotwords (phrases to recognise, comma- or newline-separated), …
    GET  /v1/models                 the installed models
    GET  /v1/models/{model}

The work is the app's own: ``transcribe_file`` on the uploaded file, with the server's store (a model loaded for
the page serves the API too), in the server's one-job-at-a-time line (``jobs.JobQueue``); text, SRT and VTT come
from ``exports``. ``diarized_json`` runs the speaker model first (``diarize``) and labels every segment with its
speaker, ``A``, ``B``… in order of first speech, as OpenAI labels speakers when it is given no names. A phrase the
model cannot write is a warning: in the header ``X-Transcribe-Warnings`` (a JSON list) and in the JSON formats'
``warnings``.

Errors come back in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, with
the status OpenAI's clients expect (400 bad audio or field, 404 unknown model, 413 too large, 503 model not
installed, 507 GPU out of memory, 500 anything else), never with a traceback; the server goes on serving.
Uploads live in a private temporary folder for the length of the request only.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from ..backends import get_backend
from ..config import Settings
from ..diarize import SpeakerOptions
from ..errors import (
    AppError,
    AudioDecodeError,
    GpuOutOfMemoryError,
    LocalModelError,
    ModelsMissingError,
    VocabularyError,
)
from ..exports import safe_stem, to_srt, to_txt, to_vtt
from ..models.files import models_dir_option
from ..models.registry import DIARIZER, MODELS, ModelSpec, get_spec, transcription_models
from ..models.store import ModelStore
from ..subtitles import PRESETS, SubtitleOptions
from ..subtitles import arguments as subtitle_fields
from ..transcribe import transcribe_file
from ..types import Transcript
from ..vocabulary import DEFAULT_WEIGHT, Vocabulary, parse_hotwords
from ..vocabulary.apply import vocabulary_warnings
from ..wordtimes import borrow
from .jobs import ClientGone, JobQueue

log = logging.getLogger("transcribe.api")

API_PREFIX = "/v1"
WHISPER_ALIAS = "whisper-1"  # what unmodified OpenAI clients send: the default model
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
SPEAKER_FORMATS = ("diarized_json",)  # formats that need the speaker model
GRANULARITIES = ("segment", "word")
STREAM_FORMATS = ("json", "text", "diarized_json")
FORM_OVERHEAD = 1 << 20  # bytes a form may carry besides its file: the other fields and the boundaries
_TEXT_FORMATS: dict[str, tuple[Callable[[Transcript, TranscriptionOptions], str], str]] = {
    "text": (lambda t, o: to_txt(t), "text/plain"),
    "srt": (lambda t, o: to_srt(t, o.subtitles), "text/plain"),  # shaped: subtitle_preset, max_line_chars… fields
    "vtt": (lambda t, o: to_vtt(t, o.subtitles), "text/vtt"),
}
_LANGUAGE_NAMES = {  # OpenAI's verbose_json names the language in English
    "bg": "bulgarian", "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "et": "estonian", "fi": "finnish", "fr": "french", "hr": "croatian", "hu": "hungarian",
    "it": "italian", "lt": "lithuanian", "lv": "latvian", "mt": "maltese", "nl": "dutch", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sk": "slovak", "sl": "slovenian", "sv": "swedish",
    "uk": "ukrainian",
}


# ---------------------------------------------------------------------------------------------------------------
# Errors in OpenAI's shape


class ApiError(Exception):
    """A request the API answers with an error in OpenAI's shape and ``status``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self) -> JSONResponse:
        """The error as OpenAI sends it."""
        return openai_error(self.status, self.message, param=self.param, code=self.code)


def openai_error(
    status: int, message: str, *, param: str | None = None, code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """``{"error": {"message", "type", "param", "code"}}`` with ``status``; the type follows from the status."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def too_large(limit: int) -> ApiError:
    """413 for an upload above ``--max-file-size``."""
    return ApiError(413, f"The file is larger than this server accepts ({limit / 2**20:,.0f} MB, --max-file-size). "
                    "Send a shorter or more compressed recording.", param="file", code="file_too_large")


def _error_for(exc: AppError) -> ApiError:
    """The status and code of an error the transcription raised (its message is written for the user as is)."""
    if isinstance(exc, AudioDecodeError):
        return ApiError(400, str(exc), param="file", code="invalid_audio")
    if isinstance(exc, LocalModelError):  # its files went missing or broke after the request was checked
        return ApiError(503, str(exc), param="model", code="model_unavailable")
    if isinstance(exc, GpuOutOfMemoryError):
        return ApiError(507, str(exc), code="gpu_out_of_memory")
    return ApiError(500, str(exc), code="transcription_failed")


# ---------------------------------------------------------------------------------------------------------------
# The request


@dataclass(frozen=True)
class TranscriptionOptions:
    """What a transcription request asks for, checked (``prompt`` and ``temperature`` are accepted and unused)."""

    response_format: str = "json"
    granularities: frozenset[str] = frozenset()
    language: str | None = None
    stream: bool = False
    subtitles: SubtitleOptions = PRESETS["standard"]  # srt and vtt: the form's subtitle fields, else "standard"

    @property
    def speakers(self) -> SpeakerOptions | None:
        """The speaker identification the format needs (None: none)."""
        return SpeakerOptions() if self.response_format in SPEAKER_FORMATS else None


def _text_field(form: FormData, name: str) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a text field, not a file.", param=name, code="invalid_value")
    return value.strip()


def _flag(form: FormData, name: str) -> bool:
    value = _text_field(form, name).lower()
    if value not in {"", "true", "false", "1", "0"}:
        raise ApiError(400, f"'{name}' must be true or false, not {value!r}.", param=name, code="invalid_value")
    return value in {"true", "1"}


def read_options(form: FormData, word_timestamps: bool, model_name: str) -> TranscriptionOptions:
    """The request's options; raises ``ApiError`` (400) naming the field that is wrong.

    ``timestamp_granularities[]`` is also read without ``[]`` (as LiteLLM sends it) and as one comma-separated
    or list-like value. ``word_timestamps``: whether the model gives word times (``word`` is refused otherwise).
    """
    fmt = _text_field(form, "response_format").lower() or "json"
    if fmt not in RESPONSE_FORMATS:
        raise ApiError(400, f"Unknown response_format {fmt!r}: choose one of {', '.join(RESPONSE_FORMATS)}.",
                       param="response_format", code="invalid_value")
    asked = [str(v) for key in ("timestamp_granularities[]", "timestamp_granularities") for v in form.getlist(key)]
    granularities = frozenset(word for value in asked for word in re.findall(r"[^\s,\[\]\"']+", value.lower()))
    if unknown := sorted(granularities - set(GRANULARITIES)):
        shown = ", ".join(repr(word[:40]) for word in unknown[:3])
        raise ApiError(400, f"Unknown timestamp granularity {shown}: choose word, segment or both.",
                       param="timestamp_granularities", code="invalid_value")
    if fmt == "verbose_json" and "word" in granularities and not word_timestamps:  # (diarized_json has no words)
        raise ApiError(400, f"{model_name} gives timestamps per window, not per word: ask for segment timestamps, "
                       "or use a Parakeet model for word timestamps (or install Parakeet, which lends Canary its "
                       "word times, and leave --canary-word-times on).", param="timestamp_granularities",
                       code="unsupported_value")
    if temperature := _text_field(form, "temperature"):
        try:
            if not 0.0 <= float(temperature) <= 1.0:
                raise ValueError(temperature)
        except ValueError:
            raise ApiError(400, f"'temperature' must be a number from 0 to 1, not {temperature!r}.",
                           param="temperature", code="invalid_value") from None
    stream = _flag(form, "stream")
    if stream and fmt not in STREAM_FORMATS:
        raise ApiError(400, f"stream=true sends text events: use response_format json or text, not {fmt}.",
                       param="stream", code="unsupported_value")
    try:
        subtitles = subtitle_fields.from_fields(lambda name: _text_field(form, name))
    except subtitle_fields.FieldError as exc:
        raise ApiError(400, f"{exc}.", param=exc.field, code="invalid_value") from None
    return TranscriptionOptions(fmt, granularities, _text_field(form, "language").lower() or None, stream, subtitles)


def read_hotwords(form: FormData, defaults: Vocabulary | None) -> Vocabulary:
    """The ``hotwords`` field (phrases separated by commas or new lines, as speaches reads it), the server's
    vocabulary (``--vocabulary``, ``--replacements``) for what the request leaves out; 400 naming a bad phrase."""
    try:
        phrases = parse_hotwords(_text_field(form, "hotwords"), "hotwords")
    except VocabularyError as exc:
        raise ApiError(400, str(exc), param="hotwords", code="invalid_value") from None
    weight = defaults.weight if defaults is not None else DEFAULT_WEIGHT
    return Vocabulary(phrases, weight=weight).or_defaults(defaults)


class _BodyLimit:
    """The request's ``receive`` that stops reading once the body passes ``limit`` bytes."""

    class TooLarge(Exception):
        pass

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive, self.limit, self.seen, self.done = receive, limit, 0, False

    async def __call__(self) -> Message:
        message = await self.receive()
        self._note(message)
        if self.seen > self.limit:
            raise self.TooLarge
        return message

    def _note(self, message: Message) -> None:
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
        else:  # the client went away
            self.done = True

    async def drain(self) -> None:
        """Read the rest of the body and drop it, so that a client that sends its whole body before it reads the
        reply gets the reply (413) rather than a reset connection."""
        while not self.done:
            self._note(await self.receive())


def _upload_name(filename: str | None) -> str:
    """The uploaded file's own name, made safe (no folders), for messages and for PyAV's format guess."""
    return safe_stem(Path(filename or "audio").name)


@contextlib.asynccontextmanager
async def client_watch(
    request: Request, on_gone: Callable[[], None] | None = None
) -> AsyncIterator[threading.Event]:
    """An event that is set (and ``on_gone`` called) when the client of ``request`` hangs up while the block runs;
    for a request whose body has been read."""
    gone = threading.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()
        if on_gone is not None:
            on_gone()

    task = asyncio.ensure_future(watch())
    try:
        yield gone
    finally:
        task.cancel()


def _copy_upload(upload: UploadFile, path: Path) -> None:
    upload.file.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)


# ---------------------------------------------------------------------------------------------------------------
# Responses


def _seconds(value: float) -> float:
    return round(value, 3)


def language_name(spec: ModelSpec, asked: str | None) -> str:
    """verbose_json's ``language``: the model's language, or for a multilingual model the one asked for."""
    code = spec.languages[0] if len(spec.languages) == 1 else asked
    return _LANGUAGE_NAMES.get(code, code) if code else "unknown"


def _usage(t: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": _seconds(t.audio_duration)}


def verbose_json(t: Transcript, spec: ModelSpec, options: TranscriptionOptions) -> dict[str, Any]:
    """OpenAI's verbose_json: language, duration, text, ``segments`` (unless only ``word`` was asked for) and
    ``words`` (when asked for). Whisper's decoding statistics, which these models do not have, are 0."""
    body: dict[str, Any] = {"task": "transcribe", "language": language_name(spec, options.language),
                            "duration": _seconds(t.audio_duration), "text": t.text}
    if "segment" in options.granularities or not options.granularities:
        body["segments"] = [
            {"id": i, "seek": 0, "start": _seconds(seg.start), "end": _seconds(seg.end), "text": seg.text,
             "tokens": [], "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0, "no_speech_prob": 0.0}
            for i, seg in enumerate(t.segments)
        ]
    if "word" in options.granularities:
        body["words"] = [{"word": w.text, "start": _seconds(w.start), "end": _seconds(w.end)} for w in t.words]
    body["usage"] = _usage(t)
    return body


def openai_speakers(t: Transcript) -> dict[str, str]:
    """The transcript's speakers as OpenAI names them without known speakers: ``A``, ``B``… (in order of first
    speech)."""
    return {label: chr(ord("A") + i) for i, label in enumerate(t.speakers)}


def diarized_segments(t: Transcript) -> list[dict[str, Any]]:
    """OpenAI's diarized segments (``transcript.text.segment``): id, start, end, text and speaker of every segment
    with text."""
    names = openai_speakers(t)
    return [
        {"type": "transcript.text.segment", "id": f"seg_{i}", "start": _seconds(seg.start), "end": _seconds(seg.end),
         "text": seg.text.strip(), "speaker": names.get(seg.speaker or "", "A")}
        for i, seg in enumerate(s for s in t.segments if s.text.strip())
    ]


def diarized_text(t: Transcript) -> str:
    """The whole transcript as one text, as OpenAI gives it beside the diarized segments (no speaker names)."""
    return " ".join(seg.text.strip() for seg in t.segments if seg.text.strip())


def diarized_json(t: Transcript) -> dict[str, Any]:
    """OpenAI's diarized_json: task, duration, text and the segments with their speakers."""
    return {"task": "transcribe", "duration": _seconds(t.audio_duration), "text": diarized_text(t),
            "segments": diarized_segments(t), "usage": _usage(t)}


WARNINGS_HEADER = "X-Transcribe-Warnings"


def warnings_header(t: Transcript) -> dict[str, str]:
    """``X-Transcribe-Warnings``: the transcript's warnings (a phrase the model cannot write) as a JSON list in
    ASCII; no header without warnings."""
    warnings = vocabulary_warnings(t.notes)
    return {WARNINGS_HEADER: json.dumps(warnings)} if warnings else {}


def render(t: Transcript, spec: ModelSpec, options: TranscriptionOptions) -> Response:
    """The transcript in the requested ``response_format``; its warnings in the header ``X-Transcribe-Warnings``
    and, in the JSON formats, in ``warnings`` (only when there are some: OpenAI's clients ignore the field)."""
    headers, warnings = warnings_header(t), vocabulary_warnings(t.notes)
    extra = {"warnings": warnings} if warnings else {}
    if options.response_format == "json":
        return JSONResponse({"text": t.text, "usage": _usage(t), **extra}, headers=headers)
    if options.response_format == "verbose_json":
        return JSONResponse({**verbose_json(t, spec, options), **extra}, headers=headers)
    if options.response_format == "diarized_json":
        return JSONResponse({**diarized_json(t), **extra}, headers=headers)
    write, media_type = _TEXT_FORMATS[options.response_format]
    return PlainTextResponse(write(t, options), media_type=media_type, headers=headers)


def stream_events(t: Transcript, options: TranscriptionOptions | None = None) -> list[dict[str, Any]]:
    """OpenAI's streaming events: a ``transcript.text.delta`` per segment (for diarized_json a
    ``transcript.text.segment`` with its speaker), then ``transcript.text.done``."""
    if options is not None and options.response_format == "diarized_json":
        return [*diarized_segments(t), {"type": "transcript.text.done", "text": diarized_text(t)}]
    pieces = [seg.text.strip() for seg in t.segments if seg.text.strip()]
    deltas = [{"type": "transcript.text.delta", "delta": (" " if i else "") + text} for i, text in enumerate(pieces)]
    return [*deltas, {"type": "transcript.text.done", "text": t.text}]


def _event_stream(events: list[dict[str, Any]], headers: dict[str, str] | None = None) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        for event in events:
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", **(headers or {})})


# ---------------------------------------------------------------------------------------------------------------
# The routes


class TranscriptionApi:
    """The /v1 routes over one server's settings, store and job line."""

    def __init__(self, settings: Settings, store: ModelStore, jobs: JobQueue, upload_root: Path | None = None) -> None:
        self.settings, self.store, self.jobs = settings, store, jobs
        if upload_root is None:  # routes without a server's private folder (``workspace``): one of their own
            upload_root = Path(tempfile.mkdtemp(prefix="offline-transcribe-api-"))
            atexit.register(shutil.rmtree, upload_root, ignore_errors=True)
        self.upload_root = upload_root
        self.upload_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._api_turn: anyio.CapacityLimiter | None = None  # made in the event loop, on first use

    # -- models ---------------------------------------------------------------------------------------------------

    def _model_entry(self, spec: ModelSpec, name: str) -> dict[str, Any]:
        try:
            created = int(spec.path(self.store.models_dir).stat().st_mtime)
        except OSError:
            created = 0
        return {"id": name, "object": "model", "created": created, "owned_by": spec.repo_id.split("/")[0]}

    def _installed_entries(self) -> dict[str, dict[str, Any]]:
        """Every installed model by its API name, then the LLM modes of installed models (``canary-qwen-llm``,
        for POST /v1/chat/completions)."""
        specs = [MODELS[k] for k in self.store.installed() if k in transcription_models()]  # not the diarizer
        names = [(spec, spec.key) for spec in specs] + [(spec, spec.llm_name) for spec in specs if spec.llm_name]
        return {name: self._model_entry(spec, name) for spec, name in names}

    async def list_models(self) -> JSONResponse:
        """``GET /v1/models``: the installed models."""
        return JSONResponse({"object": "list", "data": list(self._installed_entries().values())})

    async def get_model(self, model: str) -> JSONResponse:
        """``GET /v1/models/{model}``."""
        entries = self._installed_entries()
        if model not in entries:
            raise ApiError(404, f"The model '{model}' is not installed here. Installed: "
                           f"{', '.join(entries) or 'none'}.", param="model", code="model_not_found")
        return JSONResponse(entries[model])

    def resolve_model(self, name: str) -> ModelSpec:
        """The model a request names (``whisper-1`` or nothing: the default); 404 unknown, 503 not usable."""
        key = self.settings.default_model if name in {"", WHISPER_ALIAS} else name
        spec = transcription_models().get(key)
        if spec is None:
            usable = [k for k in self.store.installed() if k in transcription_models()]  # not the speaker model
            raise ApiError(404, f"The model '{name}' does not exist. Installed here: "
                           f"{', '.join(usable) or 'none'} ('{WHISPER_ALIAS}' means "
                           f"{self.settings.default_model}).", param="model", code="model_not_found")
        if any(loaded.key == key for loaded in self.store.loaded()):
            return spec  # in memory: usable whatever happened to its files since
        try:
            self.store.validate([key])
        except ModelsMissingError:
            setup = f"{spec.setup_command()}{models_dir_option(self.store.models_dir)}"
            raise ApiError(503, f"{spec.display_name} ('{key}') is not installed: {spec.path(self.store.models_dir)} "
                           f"is missing. Set it up with `{setup}`, then try again.", param="model",
                           code="model_not_installed") from None
        except LocalModelError as exc:
            raise ApiError(503, str(exc), param="model", code="model_unavailable") from None
        return spec

    # -- transcriptions -------------------------------------------------------------------------------------------

    async def transcriptions(self, request: Request) -> Response:
        """``POST /v1/audio/transcriptions``."""
        form = await self._read_form(request)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(400, "Send the audio as a multipart/form-data file field named 'file'.",
                               param="file", code="missing_file")
            spec = self.resolve_model(_text_field(form, "model"))
            word_times = get_backend(spec.backend).word_timestamps or borrow.lender(
                spec, self.store, self.settings.long_audio) is not None  # Canary: Parakeet's, when installed
            options = read_options(form, word_times, spec.display_name)
            vocabulary = read_hotwords(form, self.settings.vocabulary)
            if options.speakers is not None:
                self.check_speaker_model()
            if upload.size is not None and upload.size > self.settings.max_file_bytes:
                raise too_large(self.settings.max_file_bytes)
            with tempfile.TemporaryDirectory(dir=self.upload_root) as folder:  # deleted when the request ends
                path = Path(folder) / _upload_name(upload.filename)
                await anyio.to_thread.run_sync(_copy_upload, upload, path)
                await form.close()  # the parser's spooled copy
                if self._api_turn is None:
                    self._api_turn = anyio.CapacityLimiter(1)
                # One API request at a time waits in the job line, in a worker thread; the others wait here,
                # in order, without holding a worker thread that the page's own routes need. A request whose
                # client hangs up before its turn is dropped.
                async with client_watch(request) as gone:
                    transcript = await anyio.to_thread.run_sync(
                        self._transcribe, path, spec, options.speakers, vocabulary, gone, limiter=self._api_turn
                    )
        finally:
            await form.close()
        if options.stream:
            return _event_stream(stream_events(transcript, options), warnings_header(transcript))
        return render(transcript, spec, options)

    def check_speaker_model(self) -> None:
        """503 naming the setup command when the speaker model (for diarized_json) cannot be used."""
        spec = get_spec(DIARIZER)
        if self.store.status(DIARIZER).ready:
            return
        try:
            self.store.validate([DIARIZER])
        except ModelsMissingError:
            setup = f"{spec.setup_command()}{models_dir_option(self.store.models_dir)}"
            raise ApiError(503, f"response_format 'diarized_json' needs the speaker model, {spec.display_name}, "
                           f"which is not installed: {spec.path(self.store.models_dir)} is missing. Set it up with "
                           f"`{setup}`, then try again (or use verbose_json for timed segments without speakers).",
                           param="response_format", code="model_not_installed") from None
        except LocalModelError as exc:
            raise ApiError(503, str(exc), param="response_format", code="model_unavailable") from None

    async def _read_form(self, request: Request) -> FormData:
        """The multipart form, read with the body limited to ``--max-file-size`` (and the form's other fields)."""
        limit = self.settings.max_file_bytes
        body = _BodyLimit(request.receive, limit + FORM_OVERHEAD)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > body.limit:
            if "100-continue" not in request.headers.get("expect", "").lower():  # else the body never comes
                await body.drain()
            raise too_large(limit)
        try:
            return await Request(request.scope, body).form(max_files=4, max_fields=100)
        except _BodyLimit.TooLarge:
            await body.drain()
            raise too_large(limit) from None
        except HTTPException as exc:  # Starlette's word for a malformed multipart body
            raise ApiError(400, f"The form could not be read: {exc.detail}", code="invalid_form") from None
        except ClientDisconnect:
            raise ApiError(400, "The upload stopped before the end of the form.", code="incomplete_form") from None

    def _transcribe(
        self, path: Path, spec: ModelSpec, speakers: SpeakerOptions | None = None,
        vocabulary: Vocabulary | None = None, gone: threading.Event | None = None,
    ) -> Transcript:
        """Transcribe ``path`` in the server's job line (runs in a worker thread), with ``speakers`` identified and
        ``vocabulary`` applied; not at all once ``gone`` is set (the client hung up)."""
        try:
            with self.jobs.job(files=1, model=spec.key, via="api", gone=gone.is_set if gone else None):
                try:
                    return transcribe_file(path, spec.key, store=self.store, policy=self.settings.long_audio,
                                           speakers=speakers, vocabulary=vocabulary)
                except AppError as exc:
                    raise _error_for(exc) from exc
                except Exception as exc:
                    log.exception("Transcribing %s through the API failed", path.name)
                    raise ApiError(500, f"Unexpected error while transcribing '{path.name}'. The details are in "
                                   "the server log; please report them.", code="internal_error") from exc
        except ClientGone:
            raise ApiError(499, "The client closed the request before its turn: nothing was transcribed.",
                           code="client_closed_request") from None


async def _unknown_route(request: Request) -> Response:
    raise ApiError(404, f"There is no {request.method} {request.url.path} here. This server offers POST "
                   f"{API_PREFIX}/audio/transcriptions, POST {API_PREFIX}/chat/completions and GET "
                   f"{API_PREFIX}/models.", code="unknown_url")


def _error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    log.info("%s %s: %d %s", request.method, request.url.path, exc.status, exc.message.splitlines()[0])
    return exc.response()


def _unexpected_error(request: Request, exc: Exception) -> Response:
    """Whatever else went wrong: an OpenAI-shaped 500 on /v1 (the traceback goes to the server log), Starlette's
    plain one elsewhere."""
    if request.url.path == API_PREFIX or request.url.path.startswith(API_PREFIX + "/"):
        return openai_error(500, "Unexpected error while handling the request. The details are in the server log; "
                            "please report them.", code="internal_error")
    return PlainTextResponse("Internal Server Error", status_code=500)


def install(
    app: FastAPI, settings: Settings, store: ModelStore, jobs: JobQueue, upload_root: Path | None = None
) -> TranscriptionApi:
    """Add the /v1 routes and their error handler to ``app``; uploads are kept under ``upload_root`` for the length
    of their request."""
    api = TranscriptionApi(settings, store, jobs, upload_root)
    router = APIRouter(prefix=API_PREFIX, include_in_schema=False)
    routes: list[tuple[str, Callable[..., Awaitable[Response]], list[str]]] = [
        ("/audio/transcriptions", api.transcriptions, ["POST"]),
        ("/models", api.list_models, ["GET"]),
        ("/models/{model}", api.get_model, ["GET"]),
        ("/{path:path}", _unknown_route, ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),  # last: 404
    ]
    for path, endpoint, methods in routes:
        router.add_api_route(path, endpoint, methods=methods)
    app.include_router(router)
    app.add_exception_handler(ApiError, _error_handler)
    app.add_exception_handler(Exception, _unexpected_error)
    return api
