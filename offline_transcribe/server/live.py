"""The page's Live mode: the microphone streams to the server, the words appear while the person speaks, and when
they stop the whole recording is transcribed once more offline (best quality, word times) into the usual
transcript, segments table and downloads.

One live session per browser tab (Gradio's session hash). Live decoding runs for one tab at a time in the whole
app: a second tab that starts Live while another runs is told so, and what it records is still transcribed
(through the queue) when it stops. A tab that goes away (Gradio's unload event, when the browser disconnects)
frees its session at once; one that sends no audio for ``IDLE_S`` can be taken over.

Every use of the model by a live session (its load, each step) takes its turn in the server's job line
(``jobs.JobQueue``), with the page's and the API's transcriptions: a file never runs on the GPU during a live
step, and files and live decoding interleave step by step. The handlers here never wait for the model: the
browser's chunks are recorded and queued at once (Gradio keeps only the latest chunk of a stream whose handler
is still busy).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
import soundfile
import soxr

from ..audio import SAMPLE_RATE
from ..config import LiveOptions
from ..errors import AppError
from ..live.session import LiveSession, LiveView, can_stream, streaming_models
from ..models.registry import MODELS
from ..models.store import ModelStore
from .jobs import JobQueue

log = logging.getLogger("transcribe.ui.live")

STREAM_EVERY_S = 0.5  # the browser sends the microphone's audio this often
IDLE_S = 30.0  # a tab that sent no audio for this long no longer holds live decoding
CSS = """
#live-text { min-height: 4em; font-size: 1.05em; line-height: 1.5; }
#live-text .live-tentative { color: var(--body-text-color-subdued); font-style: italic; }
"""


@dataclass(eq=False)
class LiveTab:
    """One tab's live recording: the WAV it is written to, and its session (None while another tab has Live)."""

    chosen: str  # the model chosen on the page: it makes the final transcript
    key: str  # the model that streams: the chosen one if it can
    folder: Path
    writer: soundfile.SoundFile
    session: LiveSession | None = None
    note: str = ""  # why there is no session
    resampler: soxr.ResampleStream | None = None
    rate: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    @property
    def path(self) -> Path:
        return Path(self.writer.name)

    @property
    def decoding(self) -> bool:
        """True while its session decodes and audio keeps coming."""
        return self.session is not None and self.session.active and self.session.idle_s < IDLE_S

    @property
    def recorded_s(self) -> float:
        return self.writer.frames / SAMPLE_RATE

    def to_16k_mono(self, rate: int, data: np.ndarray) -> np.ndarray:
        """The browser's int16 chunk at ``rate`` as 16 kHz mono float32 (resampled as one stream, no seams)."""
        samples = data.astype(np.float32) / 32768.0 if data.dtype.kind in "iu" else data.astype(np.float32)
        if samples.ndim > 1:
            samples = samples.mean(axis=1)
        if rate != self.rate:
            self.rate, self.resampler = rate, None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1)
        return samples if self.resampler is None else self.resampler.resample_chunk(samples)


class LiveMode:
    """The Live mode's event handlers; ``build_panel`` and ``wire`` put it on the page."""

    def __init__(self, store: ModelStore, options: LiveOptions, root: Path, jobs: JobQueue):
        self.store, self.options, self.root, self.jobs = store, options, root, jobs
        self._tabs: dict[str, LiveTab] = {}
        self._guard = threading.Lock()
        self._owner: str | None = None  # the tab whose session decodes

    # -- events ---------------------------------------------------------------------------------------------------

    def chunk(self, audio: tuple[int, np.ndarray] | None, model_key: str, request: gr.Request) -> tuple[str, str]:
        """One chunk from the microphone: record it, feed it to the tab's session; the live text and status."""
        tab = self._tab(request.session_hash, model_key)
        if tab is None:
            return "", self._no_model_status()
        with tab.lock:
            if tab.closed or audio is None:
                return _text_html(tab.session.view() if tab.session else None), self._status(tab)
            samples = tab.to_16k_mono(*audio)
            tab.writer.write(samples)
            if tab.session is not None:
                tab.session.feed(samples)
        return _text_html(tab.session.view() if tab.session else None), self._status(tab)

    def stop(self, request: gr.Request) -> tuple[str, str, str | None]:
        """Recording stopped: decode what is left; the final live text, the status and the recording to transcribe."""
        tab = self._release(request.session_hash)
        if tab is None:
            return gr.skip(), gr.skip(), None
        view = tab.session.close() if tab.session is not None else None
        if view is not None and view.error:
            gr.Warning(view.error)
        if tab.recorded_s <= 0:
            shutil.rmtree(tab.folder, ignore_errors=True)
            return _text_html(view), "Nothing was recorded.", None
        status = f"Recorded {tab.recorded_s:.1f} s. Transcribing the whole recording once more for the best quality…"
        return _text_html(view), status, str(tab.path)

    def unload(self, request: gr.Request) -> None:
        """The tab went away: stop its session and delete its recording."""
        tab = self._release(request.session_hash)
        if tab is not None:
            if tab.session is not None:
                tab.session.abort()
            shutil.rmtree(tab.folder, ignore_errors=True)
            log.info("live: tab %s gone; its session is freed", request.session_hash)

    # -- tabs -----------------------------------------------------------------------------------------------------

    def _tab(self, tab_id: str, model_key: str) -> LiveTab | None:
        """The tab's recording, started on its first chunk (with a session when no other tab decodes live)."""
        with self._guard:
            if (tab := self._tabs.get(tab_id)) is not None:
                return tab
            key = model_key if can_stream(model_key) else next(iter(streaming_models(self.store.installed())), None)
            if key is None:
                return None
            folder = Path(tempfile.mkdtemp(prefix="live-", dir=self.root))
            writer = soundfile.SoundFile(folder / "live recording.wav", "w", SAMPLE_RATE, 1, "PCM_16")
            tab = self._tabs[tab_id] = LiveTab(model_key, key, folder, writer)
            owner = self._tabs.get(self._owner) if self._owner else None
            if owner is not None and owner.decoding:
                tab.note = (
                    "Live transcription is running in another tab or window (one at a time, so that it keeps up "
                    "with speech). This recording is still transcribed when you stop."
                )
                return tab
            if owner is not None and owner.session is not None:
                owner.session.abort()  # stale: no audio for IDLE_S
            self._owner = tab_id
            try:
                tab.session = LiveSession(self.store, key, self.options, turn=self._turn(key))
                log.info("live: tab %s started with %s", tab_id, key)
            except AppError as exc:
                tab.note = str(exc)
            return tab

    def _turn(self, key: str) -> Callable[[], AbstractContextManager[int]]:
        """A turn in the server's job line, for one use of the model ``key`` by a live session."""
        return lambda: self.jobs.job(files=1, model=key, via="live", log_level=logging.DEBUG)

    def _release(self, tab_id: str) -> LiveTab | None:
        with self._guard:
            tab = self._tabs.pop(tab_id, None)
            if self._owner == tab_id:
                self._owner = None
        if tab is not None:
            with tab.lock:  # after the chunk being handled, if any
                tab.closed = True
                tab.writer.close()
        return tab

    # -- what the page shows ---------------------------------------------------------------------------------------

    def _status(self, tab: LiveTab) -> str:
        if tab.session is None:
            return f"⚠ {tab.note} Recorded {tab.recorded_s:.1f} s."
        view = tab.session.view()
        if view.error:
            return f"✗ {view.error}"
        if not view.started:
            return (
                f"● Starting live transcription with {view.model_name} (it loads, or waits for a transcription under "
                f"way)… What you say is recorded meanwhile and appears once it runs. Heard {view.received_s:.1f} s."
            )
        if view.finished:  # aborted: another tab took over after this one sent nothing for IDLE_S
            return f"⚠ Live stopped here: another tab took it over. Recorded {tab.recorded_s:.1f} s."
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
        if tab.chosen != tab.key:
            line += (
                f"\n\n{MODELS[tab.chosen].display_name} cannot transcribe live: the live text comes from "
                f"{view.model_name}, the final transcript from {MODELS[tab.chosen].display_name}."
            )
        return line

    def _no_model_status(self) -> str:
        names = " or ".join(MODELS[k].display_name for k in MODELS if can_stream(k))
        return f"⚠ Live transcription needs {names}, and none is installed."


def _text_html(view: LiveView | None) -> str:
    """Committed words as they are, tentative ones greyed."""
    if view is None:
        return ""
    committed = html.escape(view.committed_text)
    tentative = html.escape(view.tentative_text)
    return f'<span class="live-committed">{committed}</span> <span class="live-tentative">{tentative}</span>'


# ---------------------------------------------------------------------------------------------------------------
# On the page


@dataclass(frozen=True)
class LivePanel:
    """The Live mode's components."""

    mic: gr.Audio
    text: gr.HTML
    status: gr.Markdown
    recording: gr.State  # the path of the tab's last recording, for the offline pass
    saved: gr.Audio  # the last recording, to play and download (kept whatever the final pass finds)


def build_panel() -> LivePanel:
    """The streaming microphone, the live text and its status line."""
    with gr.Group(elem_id="live"):
        mic = gr.Audio(
            label="Live: press Record and speak, the words appear as you talk; Stop gives the full transcript",
            sources=["microphone"], streaming=True, type="numpy", elem_id="live-mic",
        )  # fmt: skip
        text = gr.HTML(elem_id="live-text", padding=True)
        status = gr.Markdown(elem_id="live-status")
    saved = gr.Audio(label="Your recording (play it, or download it as WAV)", type="filepath", interactive=False,
                     visible=False, elem_id="live-recording")  # fmt: skip
    return LivePanel(mic, text, status, gr.State(None), saved)


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


def wire(demo: gr.Blocks, panel: LivePanel, live: LiveMode, transcribe, model: gr.Radio, outputs: list) -> None:
    """Connect the panel: chunks and stop in their own concurrency group (live decoding is one tab at a time by
    ``LiveMode`` itself, so the file queue never waits for a stream), the offline pass in the default queue
    (``transcribe`` is the page's ``TranscribeHandler``: the same results, table and downloads as for files, into
    ``outputs``, whose last one, the messages, shows the progress)."""
    private = dict(api_visibility="private", show_progress="hidden", concurrency_id="live", concurrency_limit=None)
    panel.mic.stream(
        live.chunk, inputs=[panel.mic, model], outputs=[panel.text, panel.status], stream_every=STREAM_EVERY_S,
        time_limit=None, **private,
    )  # fmt: skip

    def final_pass(path: str | None, model_key: str, shown: str | None,
                   progress: gr.Progress = gr.Progress()):  # noqa: B008
        """The whole recording through the usual transcription; its text replaces the live text (unless it found
        nothing), and the recording is offered to play and download."""
        if not path:
            return [gr.skip()] * (len(outputs) + 3)
        kept = keep_recording(Path(path), transcribe.new_exports_dir())
        offered = gr.update(value=str(kept), visible=True)
        try:
            result = list(transcribe(None, str(kept), model_key, progress=progress))
        except gr.Error as exc:
            return [*[gr.skip()] * len(outputs), gr.skip(), f"✗ {exc.message}", offered]
        text, status, result[0] = after_final_pass(shown, result[0])
        result[2] = [*result[2], str(kept)]  # the downloads: the recording too
        return [*result, text, status, offered]

    panel.mic.stop_recording(live.stop, outputs=[panel.text, panel.status, panel.recording], **private).then(
        final_pass, inputs=[panel.recording, model, panel.text],
        outputs=[*outputs, panel.text, panel.status, panel.saved],
        api_visibility="private", concurrency_limit="default", show_progress_on=outputs[-1],
    )  # fmt: skip
    demo.unload(live.unload)
