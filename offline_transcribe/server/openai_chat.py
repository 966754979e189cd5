"""OpenAI's chat completions on the page's own server, answered by Canary-Qwen's own LLM (``canary-qwen-llm``), so
that chat clients (Open WebUI, the ``openai`` SDKs, LiteLLM …) can use the LLM the app already has:

    POST /v1/chat/completions   JSON: model, messages, stream, max_tokens / max_completion_tokens, …

The route sits beside the transcription API (``openai_api``) on the same server, so the same Host, Origin and key
checks apply (``access``), and its work waits in the same one-job-at-a-time line (``jobs``) as transcriptions from
the page and the API. The reply is the LLM's, with the speech adapter off and thinking kept out (``ask.chat``),
greedy: ``temperature``, ``top_p``, ``stop`` and the penalties are accepted and not used. ``stream=true`` sends
OpenAI's ``chat.completion.chunk`` events as the model writes, then ``data: [DONE]``. Errors come in OpenAI's
shape: 400 a bad request or a conversation longer than the model reads (``context_length_exceeded``), 404 an
unknown model, 503 the model not installed (with its setup command), 507 the GPU out of memory, 500 anything else.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .. import ask
from ..ask.run import Event
from ..backends.base import ChatTurn
from ..config import Settings
from ..errors import AppError, AskError, ContextTooLongError, GpuOutOfMemoryError, LocalModelError, ModelsMissingError
from ..models.files import models_dir_option
from ..models.registry import MODELS, ModelSpec, llm_specs
from ..models.store import ModelStore
from .jobs import ClientGone, JobQueue
from .openai_api import API_PREFIX, ApiError, client_watch

log = logging.getLogger("transcribe.api")

MAX_BODY_BYTES = 8 << 20  # a conversation with a long transcript pasted in is far below this
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
UNSUPPORTED = {  # fields that ask for something this LLM mode does not do
    "tools": "tools (function calling)", "functions": "functions (function calling)",
    "audio": "audio output", "logprobs": "log probabilities",
}


def _fail(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _content(message: dict[str, Any], index: int) -> str:
    """A message's text: a string, or OpenAI's list of parts of which only text parts are taken."""
    content = message.get("content")
    if content is None and message.get("role") == "assistant":
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise _fail(f"messages[{index}]: only text parts can be read here, not {kind!r}.",
                            f"messages[{index}].content", "unsupported_value")
            texts.append(part["text"])
        return "\n".join(texts)
    raise _fail(f"messages[{index}].content must be a string or a list of text parts.", f"messages[{index}].content")


def read_turns(messages: Any) -> list[ChatTurn]:
    """The conversation of a request; ``ApiError`` (400) naming the message that is wrong."""
    if not isinstance(messages, list) or not messages:
        raise _fail("'messages' must be a non-empty list of {role, content} objects.", "messages")
    turns = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            raise _fail(f"messages[{i}].role must be one of {', '.join(ROLES)}, not {role!r}.", f"messages[{i}].role",
                        "unsupported_value" if isinstance(role, str) else "invalid_value")
        turns.append(ChatTurn(ROLES[role], _content(message, i)))
    if turns[-1].role != "user":
        raise _fail("The last message must be the user's: the model answers it.", "messages")
    return turns


def _max_tokens(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise _fail(f"'{name}' must be a whole number of tokens, 1 or more.", name)
        return value
    return None


def _check_options(body: dict[str, Any]) -> None:
    for name, what in UNSUPPORTED.items():
        if body.get(name):
            raise _fail(f"This model does not do {what}.", name, "unsupported_value")
    if body.get("n") not in (None, 1) or isinstance(body.get("n"), bool):  # null: OpenAI's default, 1
        raise _fail("'n' must be 1: the model gives one answer.", "n", "unsupported_value")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
        raise _fail("'temperature' must be a number from 0 to 2.", "temperature")
    if not isinstance(body.get("stream", False), bool | None):
        raise _fail("'stream' must be true or false.", "stream")
    if not isinstance(body.get("stream_options"), dict | None):
        raise _fail("'stream_options' must be an object such as {\"include_usage\": true}.", "stream_options")


def _error_for(exc: AppError) -> ApiError:
    if isinstance(exc, ContextTooLongError):
        return ApiError(400, str(exc), param="messages", code="context_length_exceeded")
    if isinstance(exc, AskError):
        return _fail(str(exc))
    if isinstance(exc, LocalModelError):  # its files went missing or broke since the request was checked
        return ApiError(503, str(exc), param="model", code="model_unavailable")
    if isinstance(exc, GpuOutOfMemoryError):
        return ApiError(507, str(exc), code="gpu_out_of_memory")
    return ApiError(500, str(exc), code="chat_failed")


class ChatApi:
    """``POST /v1/chat/completions`` over one server's store and job line."""

    def __init__(self, settings: Settings, store: ModelStore, jobs: JobQueue) -> None:
        self.settings, self.store, self.jobs = settings, store, jobs

    def resolve_model(self, name: Any) -> ModelSpec:
        """The model whose LLM answers a request naming ``name``; 404 unknown, 400 a transcription model or not a
        name, 503 not installed."""
        chat_names = [spec.llm_name for spec in llm_specs()]
        if not isinstance(name, str):
            raise _fail(f"'model' must be a model's name (a string): {', '.join(repr(n) for n in chat_names)}.",
                        "model")
        spec = next((s for s in llm_specs() if s.llm_name == name), None)
        if spec is None:
            if name in MODELS:
                raise ApiError(400, f"'{name}' transcribes audio (POST {API_PREFIX}/audio/transcriptions); the chat "
                               f"model here is {', '.join(repr(n) for n in chat_names)}.", param="model",
                               code="model_not_supported")
            raise ApiError(404, f"The model {name!r} does not exist here; the chat model is "
                           f"{', '.join(repr(n) for n in chat_names)}.", param="model", code="model_not_found")
        if any(loaded.key == spec.key for loaded in self.store.loaded()):
            return spec
        try:
            self.store.validate([spec.key])
        except ModelsMissingError:
            setup = f"{spec.setup_command()}{models_dir_option(self.store.models_dir)}"
            raise ApiError(503, f"'{name}' is {spec.display_name}'s own LLM ({spec.llm_label}), and "
                           f"{spec.display_name} is not installed: {spec.path(self.store.models_dir)} is missing. Set "
                           f"it up with `{setup}`, then restart the app.", param="model",
                           code="model_not_installed") from None
        except LocalModelError as exc:
            raise ApiError(503, str(exc), param="model", code="model_unavailable") from None
        return spec

    async def completions(self, request: Request) -> Response:
        """``POST /v1/chat/completions``."""
        body = await self._read_json(request)
        spec = self.resolve_model(body.get("model"))
        turns = read_turns(body.get("messages"))
        _check_options(body)
        stream = bool(body.get("stream"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) if stream else False
        run = ask.chat(turns, spec, store=self.store, max_tokens=_max_tokens(body), hold=lambda on_wait: self.jobs.job(
            files=0, model=spec.llm_name, via="api", on_wait=on_wait, gone=run.cancelled.is_set))
        events = aiter(run)
        reply = Reply(spec.llm_name)
        try:
            async with client_watch(request, on_gone=run.cancel):  # a client gone before the answer: stop the job
                first = await self._first_delta(events)  # an error before the answer starts gets its own status
                if not stream:
                    async for event in _rest(events, first):
                        reply.take(event)
                    return JSONResponse(reply.completion())
        finally:
            if not stream:
                run.cancel()  # done already, unless the client went away

        async def chunks() -> AsyncIterator[str]:
            try:
                async for chunk in reply.chunks(_rest(events, first), include_usage):
                    yield chunk
            finally:  # the client hung up, or the answer is complete
                run.cancel()

        return StreamingResponse(chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def _read_json(self, request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise ApiError(413, f"The request is larger than {MAX_BODY_BYTES >> 20} MB.", code="request_too_large")
        raw = bytearray()
        async for piece in request.stream():
            raw += piece
            if len(raw) > MAX_BODY_BYTES:
                raise ApiError(413, f"The request is larger than {MAX_BODY_BYTES >> 20} MB.", code="request_too_large")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _fail(f"The body is not JSON: {exc}.", code="invalid_json") from None
        except RecursionError:
            raise _fail("The body is nested too deeply to be a chat request.", code="invalid_json") from None
        if not isinstance(body, dict):
            raise _fail("The body must be a JSON object.", code="invalid_json")
        return body

    async def _first_delta(self, events: AsyncIterator[Event]) -> Event | None:
        """Read up to the answer's first piece (or its end); errors until then become ``ApiError``."""
        try:
            async for event in events:
                if not isinstance(event, ask.Status):
                    return event
        except AppError as exc:
            raise _error_for(exc) from exc
        except ClientGone:
            raise ApiError(499, "The client closed the request before its turn: nothing was run.",
                           code="client_closed_request") from None
        except Exception as exc:
            log.exception("A chat completion failed")
            raise ApiError(500, "Unexpected error while answering. The details are in the server log; please report "
                           "them.", code="internal_error") from exc
        return None


async def _rest(events: AsyncIterator[Event], first: Event | None) -> AsyncIterator[Event]:
    """``first`` and the events after it, without the status lines."""
    if first is not None:
        yield first
    async for event in events:
        if not isinstance(event, ask.Status):
            yield event


class Reply:
    """One chat completion in OpenAI's shapes, whole or as chunks."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.text = ""
        self.done: ask.ChatReply | None = None

    def take(self, event: Event) -> str:
        """Note an event; the new text it brings."""
        if isinstance(event, ask.Delta):
            self.text += event.text
            return event.text
        if isinstance(event, ask.Done):
            self.done = event.result
        return ""

    def _usage(self) -> dict[str, int]:
        assert self.done is not None
        used = self.done.prompt_tokens, self.done.completion_tokens
        return {"prompt_tokens": used[0], "completion_tokens": used[1], "total_tokens": sum(used)}

    def _finish_reason(self) -> str:
        assert self.done is not None
        return "length" if self.done.finish_reason == "length" else "stop"

    def completion(self) -> dict[str, Any]:
        """The ``chat.completion`` object."""
        assert self.done is not None
        message = {"role": "assistant", "content": self.done.text, "refusal": None}
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish_reason()}],
                "usage": self._usage()}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
        return _sse(chunk)

    async def chunks(self, events: AsyncIterator[Event], include_usage: bool) -> AsyncIterator[str]:
        """Server-sent events: the role, a chunk per piece of text, the finish reason, the usage when asked for,
        ``[DONE]``; an error half-way is sent as an ``error`` event (OpenAI's SDKs raise it)."""
        yield self._chunk({"role": "assistant", "content": ""})
        try:
            async for event in events:
                if piece := self.take(event):
                    yield self._chunk({"content": piece})
        except Exception as exc:
            error = _error_for(exc) if isinstance(exc, AppError) else ApiError(
                500, "Unexpected error while answering. The details are in the server log.", code="internal_error")
            if not isinstance(exc, AppError):
                log.exception("A streamed chat completion failed")
            kind = "invalid_request_error" if error.status < 500 else "server_error"
            yield _sse({"error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}})
            return
        yield self._chunk({}, self._finish_reason())
        if include_usage:
            yield _sse({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                        "choices": [], "usage": self._usage()})
        yield "data: [DONE]\n\n"


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def install(app: FastAPI, settings: Settings, store: ModelStore, jobs: JobQueue) -> ChatApi:
    """Add ``POST /v1/chat/completions`` to ``app`` (before ``openai_api.install``, whose last route answers every
    other /v1 path)."""
    api = ChatApi(settings, store, jobs)
    router = APIRouter(prefix=API_PREFIX, include_in_schema=False)
    router.add_api_route("/chat/completions", api.completions, methods=["POST"])
    app.include_router(router)
    return api
