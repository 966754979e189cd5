"""The page's Live mode: the microphone streams to the server, the words appear while the person speaks, and when
they stop the whole recording is transcribed once more offline (best quality, word times) into the usual
transcript, segments table and downloads.

The browser side (``live_js``) captures the microphone in an AudioWorklet and sends 16 kHz PCM16 over the server's
own WebSocket, ``live/ws``: the Realtime protocol of ``realtime`` (``session.update``, ``input_audio_buffer.append``
and ``.commit``; the tab's Vocabulary and Replacements boxes as the session's ``hotwords`` and ``replacements``, so
the live text uses them too) plus the page's events, ``live.view`` (the live text, committed words and greyed
tentative ones, and the status line) and ``live.recording`` (at Stop: the token of the recording for the final
pass). Gradio's own streaming microphone is not used: its recorder module loads after the page, and a Record click
before it has loaded records nothing at all (``TypeError: ge is not a constructor`` in the page, no chunk ever sent; see
``docs/live.md``).

Live decoding runs for one stream at a time in the whole server (``live_slot``, shared with the Realtime API): a
second tab that starts Live meanwhile is told so, and what it records is still transcribed when it stops. A tab
that goes away closes its socket, which frees its session at once; one that sends no audio for 30 s can be taken
over. Every use of the model by a live session (its load, each step) takes its turn in the server's job line
(``jobs.JobQueue``), with the page's and the API's transcriptions.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import secrets
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import soundfile
from fastapi import FastAPI, WebSocket

from ..audio import SAMPLE_RATE
from ..config import LiveOptions
from ..live.session import LiveView, can_stream
from ..models.registry import MODELS
from ..models.store import ModelStore
from . import live_js, realtime
from .jobs import JobQueue
from .vocabulary_panel import TabVocabulary

log = logging.getLogger("transcribe.ui.live")

PATH = "/live/ws"
CSS = """
#live-text { min-height: 4em; font-size: 1.05em; line-height: 1.5; padding: 0.5em 0; }
#live-text .live-tentative { color: var(--body-text-color-subdued); font-style: italic; }
#live-status { white-space: pre-line; color: var(--body-text-color); }
#live-stop, #live[data-live="recording"] #live-record { display: none !important; }
#live[data-live="recording"] #live-stop { display: inline-flex !important; }
"""
BUSY_NOTE = (
    "Live transcription is running in another tab or window, or for another program (one at a time, so that it "
    "keeps up with speech). This recording is still transcribed when you stop."
)

_MODES: weakref.WeakKeyDictionary[JobQueue, LiveMode] = weakref.WeakKeyDictionary()


class LiveMode:
    """The page's Live on one server: its recordings waiting for the final pass (by token), and its settings."""

    def __init__(
        self, store: ModelStore, options: LiveOptions, root: Path, jobs: JobQueue,
        vocabulary: TabVocabulary | None = None,
    ):  # fmt: skip
        self.store, self.options, self.root, self.jobs = store, options, root, jobs
        self.vocabulary = vocabulary  # each tab's Vocabulary and Replacements boxes, for the final pass
        self._recordings: dict[str, tuple[Path, str]] = {}
        self._lock = threading.Lock()
        _MODES[jobs] = self

    @staticmethod
    def of(jobs: JobQueue) -> LiveMode | None:
        """The page's Live mode of the server whose job line is ``jobs`` (None before the page is built)."""
        return _MODES.get(jobs)

    def keep(self, path: Path, shown: str = "") -> str:
        """Hold a finished recording (and the live text shown for it) for its final pass; its token."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._recordings[token] = (path, shown)
        return token

    def take(self, token: str) -> tuple[Path, str] | None:
        """The recording of ``token`` and its live text (once), or None."""
        with self._lock:
            return self._recordings.pop(token, None)


class PageConnection(realtime.Connection):
    """One tab's Live: a Realtime connection that records everything to a WAV, decodes live when it holds the
    server's live slot, and sends the page's ``live.view`` and ``live.recording`` events."""

    claim_at_start = False
    vocabulary_sources = ("Vocabulary", "Replacements")  # the boxes, as the page's own messages name them

    def __init__(self, ws: WebSocket, mode: LiveMode, default_model: str) -> None:
        defaults = mode.vocabulary.defaults if mode.vocabulary is not None else None
        super().__init__(ws, mode.store, mode.jobs, mode.options, default_model, defaults)
        self.mode = mode
        self.vocabulary_problem = ""  # the boxes' error, shown above the status (the live text goes on without them)
        self.chosen = self.config.model  # the model chosen on the page: it makes the final transcript
        self.folder = Path(tempfile.mkdtemp(prefix="live-", dir=mode.root))
        self.writer = soundfile.SoundFile(self.folder / "live recording.wav", "w", SAMPLE_RATE, 1, "PCM_16")
        self.decoding = self.slot.claim(self)
        self.kept = False
        self._shown: tuple[str, str] = ("", "")
        log.info("live: a tab started%s", "" if self.decoding else " (another stream has Live)")

    @property
    def recorded_s(self) -> float:
        return self.writer.frames / SAMPLE_RATE

    async def handle(self, event: dict) -> None:
        if event["type"] == "session.update":  # the page's model: one that streams decodes live, it transcribes
            try:
                given = event["session"]["audio"]["input"]["transcription"]
                self.chosen = str(given["model"])
                if not can_stream(self.chosen):
                    given["model"] = self.config.model
            except (KeyError, TypeError):
                pass
        try:
            await super().handle(event)
        except realtime.EventError as exc:
            if (exc.param or "").startswith(f"{realtime.TRANSCRIPTION}."):
                self.vocabulary_problem = f"✗ {exc} The live text goes on without the boxes."
                self._shown = ("", "")  # the status is sent again, with the problem
            raise

    def may_decode(self) -> bool:
        return self.decoding and not self._preempted

    def has_audio(self) -> bool:
        return True  # the page always ends its turn: "Nothing was recorded" is its answer to an empty one

    def on_audio(self, audio: np.ndarray) -> None:
        if not self.writer.closed:
            self.writer.write(audio)

    async def on_view(self, view: LiveView | None) -> None:
        shown = (text_html(view), self.status(view))
        if shown != self._shown and (view is not None or not self.decoding):
            self._shown = shown
            await self.send({"type": "live.view", "text": shown[0], "status": shown[1]})

    async def on_turn_end(self, view: LiveView | None) -> None:
        self.writer.close()
        if view is not None:
            await self.send({"type": "live.view", "text": text_html(view), "status": self.status(view)})
        if self.recorded_s <= 0:
            await self.send({"type": "live.recording", "token": "", "status": "Nothing was recorded."})
            return
        token, self.kept = self.mode.keep(Path(self.writer.name), text_html(view) if view is not None else ""), True
        error = f"✗ {view.error} " if view is not None and view.error else ""
        status = f"{error}Recorded {self.recorded_s:.1f} s. Transcribing the whole recording once more for the best " \
                 "quality…"  # fmt: skip
        await self.send({"type": "live.recording", "token": token, "status": status})

    def closed(self) -> None:
        if not self.writer.closed:
            self.writer.close()
        if not self.kept:
            shutil.rmtree(self.folder, ignore_errors=True)
        log.info("live: tab gone; its session is freed")

    def status(self, view: LiveView | None) -> str:
        """The status line under the live text (after the vocabulary boxes' problem, if they have one)."""
        line = self._status(view)
        return f"{self.vocabulary_problem}\n\n{line}".strip() if self.vocabulary_problem else line

    def _status(self, view: LiveView | None) -> str:
        if not self.may_decode() and self._preempted:
            return f"⚠ Live stopped here: another tab took it over. Recorded {self.recorded_s:.1f} s."
        if not self.decoding:
            return f"⚠ {BUSY_NOTE} Recorded {self.recorded_s:.1f} s."
        if view is None:
            return ""
        if view.error:
            return f"✗ {view.error}"
        if not view.started:
            return (
                f"● Starting live transcription with {view.model_name} (it loads, or waits for a transcription under "
                f"way)… What you say is recorded meanwhile and appears once it runs. Heard {view.received_s:.1f} s."
            )
        line = (
            f"● Live with {view.model_name} on {view.device}: words turn final about "
            f"{view.context.latency_s:.1f} s after you say them (grey ones may still change). "
            f"Heard {view.received_s:.1f} s."
        )
        if view.catching_up:
            line += (
                f"\n\nCatching up with the {view.heard_while_loading_s:.0f} s you said while the model loaded "
                f"({view.behind_s:.0f} s to go)."
            )
        elif view.falling_behind:
            line += (
                f"\n\n⚠ Falling behind by {view.behind_s:.0f} s: this computer decodes more slowly than you speak. "
                "Nothing is lost: when you stop, the whole recording is transcribed."
            )
        if self.chosen != self.config.model and self.chosen in MODELS:
            line += (
                f"\n\n{MODELS[self.chosen].display_name} cannot transcribe live: the live text comes from "
                f"{view.model_name}, the final transcript from {MODELS[self.chosen].display_name}."
            )
        return line


def text_html(view: LiveView | None) -> str:
    """Committed words as they are, tentative ones greyed."""
    if view is None:
        return ""
    committed = html.escape(view.committed_text)
    tentative = html.escape(view.tentative_text)
    return f'<span class="live-committed">{committed}</span> <span class="live-tentative">{tentative}</span>'


def logged_in(ws: WebSocket) -> bool:
    """Whether the tab has logged in to the page (Gradio's login cookie), where the page asks for the key."""
    gradio_app = getattr(ws.app.state, "gradio", None)
    if gradio_app is None or gradio_app.auth is None:
        return True
    suffix = gradio_app.cookie_id
    token = ws.cookies.get(f"access-token-{suffix}") or ws.cookies.get(f"access-token-unsecure-{suffix}")
    return token is not None and token in gradio_app.tokens


def install(app: FastAPI, jobs: JobQueue, default_model: str) -> None:
    """Add the page's Live socket, ``/live/ws``, to ``app`` (before the page's mount at "/"). The access check has
    passed (Host, and Origin: only the page's own); the tab must have logged in where the page has a key."""

    @app.websocket(PATH)
    async def live_socket(ws: WebSocket) -> None:
        mode = LiveMode.of(jobs)
        if mode is None or not logged_in(ws):
            await ws.close(1008)  # before accepting: the browser gets 403
            return
        await ws.accept()
        await PageConnection(ws, mode, default_model).run()


# ---------------------------------------------------------------------------------------------------------------
# On the page


@dataclass(frozen=True)
class LivePanel:
    """The Live mode's components."""

    record: gr.Button
    stop: gr.Button
    token: gr.Textbox  # the recording's token, for the offline pass
    final: tuple[gr.Textbox, gr.Textbox]  # the offline pass's text and status, for the page's script to show
    saved: gr.Audio  # the last recording, to play and download (kept whatever the final pass finds)


def build_panel() -> LivePanel:
    """Record and Stop, the live text and its status line (both drawn by the page's script)."""
    with gr.Group(elem_id="live"):
        gr.Markdown("**Live**: press Record and speak, the words appear as you talk; Stop gives the full transcript.",
                    padding=True)  # fmt: skip
        with gr.Row():
            record = gr.Button("⏺ Record", elem_id="live-record", size="sm", variant="secondary")
            stop = gr.Button("⏹ Stop", elem_id="live-stop", size="sm", variant="stop")
        gr.HTML('<div id="live-text"></div><div id="live-status"></div>', elem_id="live-view", padding=True)
        token = gr.Textbox(visible=False)
        final = (gr.Textbox(visible=False), gr.Textbox(visible=False))
    saved = gr.Audio(label="Your recording (play it, or download it as WAV)", type="filepath", interactive=False,
                     visible=False, elem_id="live-recording")  # fmt: skip
    return LivePanel(record, stop, token, final, saved)

FINAL_REPLACES = "✓ The final transcript (the whole recording, transcribed offline) replaces the live text."
FINAL_FOUND_NOTHING = (
    "⚠ The final pass over the whole recording recognised no speech, so the live text is kept (in the transcript "
    "box too; the downloads hold no text). Play the recording below to check it."
)
NOTHING_HEARD = "⚠ No speech was recognised, live or in the final pass. Play the recording below to check it."


def live_words(shown: str | None) -> str:
    """The words of the live text box (its HTML as the page holds it), without markup."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", shown or "")).split())


def after_final_pass(shown: str | None, final_text: str) -> tuple[str, str, str]:
    """The live text box, the status line and the transcript box once the final pass is done: the final text
    replaces the live words, but live words are never thrown away for a final pass that found nothing."""
    if final_text.strip():
        return f'<span class="live-committed">{html.escape(final_text)}</span>', FINAL_REPLACES, final_text
    if words := live_words(shown):
        return f'<span class="live-committed">{html.escape(words)}</span>', FINAL_FOUND_NOTHING, words
    return '<span class="live-committed">(no speech recognised)</span>', NOTHING_HEARD, ""


def keep_recording(path: Path, folder: Path) -> Path:
    """Move the tab's recording into ``folder`` (the run's downloads), named by when it was made."""
    made = dt.datetime.fromtimestamp(path.stat().st_mtime)
    kept = shutil.move(str(path), folder / f"recording-{made:%Y%m%d-%H%M%S}.wav")
    shutil.rmtree(path.parent, ignore_errors=True)
    return Path(kept)


def wire(
    demo: gr.Blocks, panel: LivePanel, live: LiveMode, transcribe, model: gr.Radio, outputs: list,
    vocabulary: tuple[gr.Textbox, gr.Textbox] | None = None,
) -> None:  # fmt: skip
    """Connect the panel: Record and Stop run in the page (the socket, which also gets the ``vocabulary`` boxes'
    text), the offline pass in the default queue (``transcribe`` is the page's ``TranscribeHandler``: the same
    results, table and downloads as for files, into ``outputs``, whose last one, the messages, shows the progress)."""
    private = dict(api_visibility="private", show_progress="hidden", queue=False)
    boxes = list(vocabulary or ())
    panel.record.click(None, inputs=[model, *boxes], js=live_js.handler("return liveClient().start(...args);"),
                       **private)  # fmt: skip

    def final_pass(token: str | None, model_key: str, request: gr.Request,
                   progress: gr.Progress = gr.Progress()):  # noqa: B008
        """The whole recording through the usual transcription (with the tab's vocabulary); its text replaces the
        live text (unless it found nothing), and the recording is offered to play and download."""
        taken = live.take(token) if token else None
        if taken is None:
            return [gr.skip()] * len(outputs) + ["", "", gr.skip()]
        path, shown = taken
        kept = keep_recording(path, transcribe.new_exports_dir())
        offered = gr.update(value=str(kept), visible=True)
        texts = live.vocabulary.texts(request.session_hash or "") if live.vocabulary is not None else ("", "")
        try:
            result = list(transcribe(None, str(kept), model_key, vocabulary_text=texts[0],
                                     replacements_text=texts[1], progress=progress))
        except gr.Error as exc:
            return [*[gr.skip()] * len(outputs), shown, f"✗ {exc.message}", offered]
        text, status, result[0] = after_final_pass(shown, result[0])
        result[2] = [*result[2], str(kept)]  # the downloads: the recording too
        return [*result, text, status, offered]

    stopped = panel.stop.click(None, outputs=[panel.token], js=live_js.handler("return [await liveClient().stop()];"),
                               **private)  # fmt: skip
    stopped.then(
        final_pass, inputs=[panel.token, model], outputs=[*outputs, *panel.final, panel.saved],
        api_visibility="private", concurrency_limit="default", show_progress_on=outputs[-1],
    ).then(
        None, inputs=list(panel.final), js=live_js.handler("liveClient().final(args[0], args[1]); return [];"),
        **private,
    )  # fmt: skip
