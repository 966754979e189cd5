"""The Gradio page: upload or record audio, pick a model, read and download the transcript.

``build_app(settings, store)`` returns the ``gr.Blocks`` that the command line launches once the model files have
passed the start-up check (this module is imported only then: importing Gradio takes seconds). The work itself
is ``batch.transcribe_files``; this module checks requests, reports progress and formats the results. Everything
it says about the models comes from the registry.

Layout: the inputs, the Transcribe button and right below it the one progress element (the messages), then the
model status; the results beside them on a wide screen, below them on a phone.
"""

from __future__ import annotations

import atexit
import datetime as dt
import html
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from ..backends import get_backend
from ..batch import FileResult, Outcome, no_speech_message
from ..config import DELETE_CACHE, GUIDE, SETUP_SCRIPT, LongAudioPolicy, Precision, Settings
from ..devices import CPU_COST, cuda_usable, nvidia_driver, torch_build
from ..errors import AppError, CancelledError
from ..exports import write_zip
from ..jobs.files import transcribe_files_batched
from ..models.files import models_dir_option
from ..models.registry import DIARIZER, MODELS, ModelSpec, get_transcription_spec, required_keys, transcription_models
from ..models.store import ModelStore
from ..types import ModelState
from ..vocabulary import Vocabulary
from . import editor, live, speakers, subtitles_panel, vocabulary_panel
from .ask_panel import build_ask_panel
from .jobs import ClientGone, JobQueue
from .run_downloads import RunDownloads
from .workspace import is_file_within

log = logging.getLogger("transcribe.ui")

STATUS_REFRESH_S = 2.0  # the model-status box also redraws at once when a load starts or ends (follow_status)
FOLLOW_MAX_S = 6 * 3600  # a status follower whose job never ran (page closed while queued) gives up after this
AUDIO_FILE_TYPES = ["audio", "video", ".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm", ".aac", ".mp4"]
SEGMENT_HEADERS = ["File", "Start", "End", "Text"]
SEGMENT_WIDTHS = ["22%", "68px", "68px", "auto"]
SPEAKER_SEGMENT_HEADERS = ["File", "Start", "End", "Speaker", "Text"]  # when speakers were identified
TRANSCRIBERS = transcription_models()  # the models offered for transcription (not the diarizer)
STATS_HEADERS = ["File", "Result", "Audio", "Took", "Device"]  # five columns: they fit a phone's width
READY_MESSAGE = "Add audio, choose a model and press **Transcribe**: the progress shows here."
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"]
CSS = """
#app-header h1 { margin-bottom: 0.2em; }
#model-status { font-size: 0.9em; }
#messages { min-height: 4.5em; }
#messages pre, #messages pre code { white-space: pre-wrap; overflow-wrap: anywhere; }
#device-notice { border-left: 4px solid var(--color-accent); padding-left: 0.75em; }
/* The downloads list is read-only: no remove buttons on its rows. */
#downloads .label-clear-button, #downloads button[aria-label="Remove this file"] { display: none; }
#segments th *, #stats th * { word-break: keep-all; overflow-wrap: normal; }  /* "Start", not "St/ar/t" */
/* The last column (the segments' text, the speaker's new name) takes the width left and wraps: Gradio sizes an
   "auto" column to its longest text on one line, which pushed the text past the table's edge, cut off. */
#segments .virtual-body, #segments .virtual-row, #speaker-names .virtual-body, #speaker-names .virtual-row {
  width: 100% !important; }
#segments .virtual-row > .body-cell:last-child, #speaker-names .virtual-row > .body-cell:last-child {
  flex: 1 1 0 !important; width: auto !important; min-width: 6em; }
#segments thead th:last-child, #speaker-names thead th:last-child { width: auto !important;
  min-width: 6em !important; max-width: none !important; }
#segments .body-cell span.text { word-break: normal; overflow-wrap: break-word; }
/* The chosen model stays marked while the mouse is over it (Gradio's default turns it white on hover). */
#model label.selected, #model label.selected:hover {
  background: var(--checkbox-label-background-fill-selected);
  color: var(--checkbox-label-text-color-selected); border-color: var(--checkbox-label-border-color-selected);
}
#models-not-installed { font-size: 0.9em; color: var(--body-text-color-subdued); }
#models-not-installed .missing-model { display: flex; gap: 0.5em; align-items: center; opacity: 0.6;
  cursor: not-allowed; }
#models-not-installed .setup-command { margin: 0.1em 0 0.4em 1.8em; overflow-wrap: anywhere; }
/* The Ask panel's buttons look like buttons; on a phone the question box takes the whole width. */
#ask-panel button { border: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
  box-shadow: var(--button-secondary-shadow); }
#ask-panel button:hover:not([disabled]) { background: var(--button-secondary-background-fill-hover); }
@media (max-width: 640px) {
  #ask-question-row { flex-wrap: wrap; }
  #ask-question-row > .form:has(#ask-question) { flex-basis: 100% !important; min-width: 100% !important; }
  #app-header h1 { font-size: 1.6em; }
  #app-header p { font-size: 0.9em; }
  #segments table, #stats table { font-size: 12px; }
  /* A phone: each segment (and each speaker to name) is a card: the file, the times and the speaker on one line,
     the text (the name to type) below at full width. Nothing breaks inside a word and nothing is cut off. */
  #segments thead, #speaker-names thead { display: none; }
  #segments .virtual-row, #speaker-names .virtual-row { flex-wrap: wrap;
    border-bottom: 1px solid var(--border-color-primary); }
  #segments .body-cell, #segments .body-cell *, #speaker-names .body-cell, #speaker-names .body-cell * {
    border: none !important; }
  #segments .body-cell, #speaker-names .body-cell { flex: 0 0 auto !important; width: auto !important;
    max-width: 100%; }
  #segments .body-cell:not(:last-child) .cell-wrap, #speaker-names .body-cell:not(:last-child) .cell-wrap {
    padding: 6px 4px 0 8px; font-size: 12px; color: var(--body-text-color-subdued); }
  #segments .body-cell:not(:last-child) span.text, #speaker-names .body-cell:not(:last-child) span.text {
    white-space: nowrap; }
  #segments .body-cell[data-col="1"] .cell-wrap::after { content: "–"; padding-left: 4px; }
  #segments .virtual-row > .body-cell:last-child, #speaker-names .virtual-row > .body-cell:last-child {
    flex: 1 1 100% !important; }
  #segments .body-cell:last-child .cell-wrap { padding-top: 2px; }
  #speaker-names .body-cell:last-child .cell-wrap { margin: 2px 8px 6px; border: 1px solid
    var(--border-color-primary) !important; border-radius: 4px; }
  #speaker-names .body-cell:last-child span.text:empty::before { content: "Type a name"; color:
    var(--body-text-color-subdued); }
}
""" + live.CSS + speakers.CSS + editor.CSS


# ---------------------------------------------------------------------------------------------------------------
# Page text


def _names(keys: list[str]) -> str:
    """``**A**``, ``**A** and **B**``, ``**A**, **B** and **C**``."""
    names = [f"**{MODELS[k].display_name}**" for k in keys]
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]


def header_md(models_dir: Path) -> str:
    """The title and one line: where the models come from and that nothing goes online."""
    return (
        "# Offline Speech Transcription\n"
        f"NVIDIA {_names(required_keys())} from local model files in `{models_dir}`, fully offline: your audio "
        "never leaves this machine."
    )


def runs_on_cpu(store: ModelStore) -> bool:
    """Whether the models will run on the CPU here (the store's device, else: no CUDA GPU PyTorch could use)."""
    if store.device is not None:
        return store.device == "cpu"
    return not cuda_usable(torch_build(), nvidia_driver())


def device_notice_md(store: ModelStore) -> str:
    """Said at the top of the page when the models run on the CPU, with what that costs; else nothing."""
    if not runs_on_cpu(store):
        return ""
    return f"**Running on the CPU** (no CUDA GPU is available to PyTorch here): {CPU_COST}."


def _model_summaries() -> str:
    return "\n".join(f"   - *{spec.display_name}*: {spec.summary}" for spec in TRANSCRIBERS.values())


def how_to_use_md(models_dir: Path) -> str:
    """The "How to Use" accordion."""
    return f"""
1. **Add audio**, in one of three tabs: **Files** (drop one or more: WAV, FLAC, MP3, M4A, OGG/Opus, WebM, or a
   video with a sound track; several are transcribed one after another), **Record** (record with the microphone,
   then press Transcribe) or **Live** (the words appear while you speak; see below).
2. **Choose a model**:
{_model_summaries()}
3. **Who spoke?** Tick *Identify speakers* (and give the number of speakers, or leave *auto*) to have every
   segment labelled `Speaker 1`, `Speaker 2`…, with a timeline of who talks when; type names into the speaker
   table and press *Rename speakers* to rename them in the text and every download. This needs the optional
   speaker model (`python {SETUP_SCRIPT} --only {DIARIZER}`).
4. **Press Transcribe.** The bar right below the button follows each file, with the time left.
5. **Read and download**: the transcript (in paragraphs at long pauses), a table of timed segments, and files in
   TXT, SRT and VTT (subtitles), JSON (everything, word timings included) and CSV, all of them also as one ZIP
   (and RTTM, the diarization itself, when the speakers were identified).
   When two files share a name but not the extension (`talk.wav`, `talk.mp3`), their downloads keep it
   (`talk.wav.srt`, `talk.mp3.srt`); recordings are named by the time they were made. The statistics table shows,
   per file, the audio length, the time it took with its real-time factor (RTF), the device and the peak GPU
   memory.

6. **Ask about this transcript**: under the results, *Summary*, *Key points*, *Action items* and *Questions*
   ask the obvious; or type any question and press *Ask* (or Enter). Canary-Qwen's own LLM answers on this
   machine, citing times as [mm:ss]; *Stop* ends an answer early.

**Models load from local files** in `{models_dir}`: each one the first time you use it (or at start with
`--preload`), and then it stays in memory. The *Model status* box shows whether each model is not loaded,
loading or ready, and on which device. Nothing is downloaded while the app runs.

The model files are created once by the setup script (`python {SETUP_SCRIPT}`; see `{GUIDE}`). If a file goes
missing, the page tells you which one and the command that restores it.

**Live**: in the *Live* tab, press *Record* and speak: the words appear as you talk (grey ones may still change).
*Stop* transcribes the whole recording once more, offline, into the transcript, table and downloads, and offers
the recording itself to play and download (WAV).

**Without a browser**: `python transcribe_ui.py --transcribe FILE... --model parakeet --format srt --output-dir DIR`;
live from a microphone: `ffmpeg -f pulse -i default -ac 1 -ar 16000 -f s16le - | python transcribe_ui.py --live -`.
"""


def precision_note(precision: Precision) -> str:
    """What the precision setting means for the models that support another one (Canary)."""
    if precision == "float32":
        return "- Started with `--float32`: Canary runs in float32 on the GPU too (about twice the memory of bfloat16)."
    return (
        "- Canary runs in **bfloat16** on a GPU that supports it (the precision its weights are stored in; about half "
        "the memory of float32), else in float32; start with `--float32` for float32 everywhere. On the CPU every "
        "model runs in float32."
    )


PRIVACY_MD = """
- **Completely offline after the one-time setup.** The models are read from local files and the Hugging Face
  libraries are switched to offline mode, so there are no model look-ups, revision checks or downloads at run time.
- **Nothing leaves this machine.** Audio, transcripts and downloads stay on this computer. Gradio's analytics are
  off and the page uses your system fonts, so the browser loads nothing from the internet either.
- The server listens on `127.0.0.1` (this computer only) unless you start it with `--host`. `--share` (off by
  default) would create a public link through Gradio's servers; leave it off to stay offline.
- Uploads and generated files are kept in a temporary folder, deleted automatically after an hour and when the
  app stops.
- **Performance:** a CUDA GPU is used automatically when there is one; without one the models run on the CPU,
  which works but is much slower. One transcription runs at a time so jobs never compete for GPU memory;
  other requests wait in the queue. Loading a model from local files takes seconds, not a download.
"""


def _card_table() -> str:
    """The registry's published figures, one column per model."""
    specs = list(TRANSCRIBERS.values())
    rows = [
        ("Parameters", [s.card.parameters for s in specs]),
        ("Architecture", [s.card.architecture for s in specs]),
        ("Average WER, Open ASR Leaderboard", [s.card.wer for s in specs]),
        ("Speed (RTFx, batched, data-centre GPU)", [s.card.rtfx for s in specs]),
        ("Languages", [", ".join(s.languages) for s in specs]),
        ("Punctuation and capitals", ["yes" for _ in specs]),
        ("Timestamps", [get_backend(s.backend).timestamps for s in specs]),
    ]
    lines = ["| | " + " | ".join(s.display_name for s in specs) + " |", "|---" * (len(specs) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in rows]
    return "\n".join(lines)


def _loading_lines(models_dir: Path) -> str:
    lines = []
    for spec in MODELS.values():
        where = "the folder" if spec.is_folder else "the single file"
        loaded_as = get_backend(spec.backend).loaded_as
        lines.append(f"- **{spec.display_name}** from {where} `{spec.path(models_dir)}`: {loaded_as}.")
    return "\n".join(lines)


def model_info_md(models_dir: Path, policy: LongAudioPolicy | None = None, precision: Precision = "auto") -> str:
    """The "Model Information" accordion: loading, accuracy and speed with their sources, GPU and long-audio notes."""
    policy = policy or LongAudioPolicy()
    links = ", ".join(f"[{spec.repo_id.split('/')[1]}]({spec.card.url})" for spec in TRANSCRIBERS.values())
    weights = "\n".join(f"- {spec.display_name}: {spec.card.weights} of weights." for spec in MODELS.values())
    by_backend: dict[str, list[str]] = {}
    for spec in TRANSCRIBERS.values():
        by_backend.setdefault(spec.backend, []).append(spec.display_name)
    long_audio = "\n".join(
        f"- {', '.join(names)}: {get_backend(backend).long_audio_note(policy)}" for backend, names in by_backend.items()
    )
    return f"""
### How the models are loaded
{_loading_lines(models_dir)}
- A model is loaded once, on first use (or at start with `--preload`), and kept in memory for later requests
  (with `--unload-after MINUTES`, until it has not been used for that long).
  Its files are checked against the manifest written by the setup script; a missing or damaged file gives a
  message naming it and the command that re-creates it, instead of a traceback.

### Accuracy and speed
{_card_table()}

These figures are **reported by NVIDIA's model cards** ({links}) from the Hugging Face Open ASR Leaderboard;
this app did not measure them. Lower WER (word error rate) is better. RTFx is seconds of audio per second of
compute (higher is faster); the statistics table here shows RTF = processing time ÷ audio length (lower is faster).

### GPU notes
{weights}
{precision_note(precision)}
- Longer files need more memory on top; the statistics table shows each file's peak GPU memory.
- If the GPU runs out of memory the page says so, frees the GPU cache and keeps serving: try a shorter file or
  a smaller model.
- Without a GPU every model runs on the CPU: correct, but many times slower than on a GPU.

### Long files
{long_audio}
"""


# ---------------------------------------------------------------------------------------------------------------
# Formatting results


def _seconds(value: float) -> str:
    minutes, seconds = divmod(value, 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:04.1f}"
    return f"{minutes}:{seconds:04.1f}" if minutes else f"{seconds:.1f} s"


def table_time(seconds: float) -> str:
    """A time in the segments table: ``m:ss.s`` (``2:03.4``), from an hour on ``h:mm:ss`` (``1:02:03``)."""
    if seconds >= 3600:
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
    minutes, secs = divmod(round(seconds, 1), 60)
    return f"{int(minutes)}:{secs:04.1f}"


def _short_summary(spec: ModelSpec) -> str:
    """The first clause of the model's summary ("English, fastest"), for the selector."""
    return spec.summary.split(";")[0].rstrip(".")


def model_choices(store: ModelStore) -> list[tuple[str, str]]:
    """Selector entries: each installed model's name and what it is best at (one that is not installed cannot be
    chosen: ``missing_models_html`` shows it, disabled, with its setup command)."""
    installed = set(store.installed())
    return [(f"{spec.display_name} · {_short_summary(spec)}", key) for key, spec in TRANSCRIBERS.items()
            if key in installed]  # fmt: skip


def missing_models_html(store: ModelStore) -> str:
    """The transcription models that are not installed, shown as disabled choices under the selector, each with
    the command that sets it up ("" when every one is installed)."""
    installed = set(store.installed())
    rows = []
    for key, spec in TRANSCRIBERS.items():
        if key in installed:
            continue
        command = html.escape(f"{spec.setup_command()}{models_dir_option(store.models_dir)}")
        rows.append(
            f'<label class="missing-model" data-model="{html.escape(key)}"><input type="radio" disabled> '
            f"{html.escape(spec.display_name)} · {html.escape(_short_summary(spec))} <em>(not installed)</em></label>"
            f'<div class="setup-command">Set it up with <code>{command}</code></div>'
        )
    return "".join(rows)


def status_md(store: ModelStore) -> str:
    """The live model status: each model's local file and state (not loaded / loading… / ready on …)."""
    lines = [f"**Model status** (models folder `{store.models_dir}`)", ""]
    for key, spec in MODELS.items():
        status = store.status(key)
        fix = ""
        if status.state is ModelState.NOT_INSTALLED:
            fix = f" — set it up with `{spec.setup_command()}{models_dir_option(store.models_dir)}`"
        lines.append(f"- **{spec.display_name}** (`{spec.local_label}`): {status}{fix}")
    return "\n".join(lines)


def segment_rows(results: list[FileResult]) -> dict:
    """The segments table: one row per segment of every transcribed file, times as ``m:ss.s``, and a Speaker
    column when the speakers were identified."""
    with_speakers = speakers.has_speakers(results)
    rows = [
        [res.name, table_time(seg.start), table_time(seg.end), *([seg.speaker or ""] if with_speakers else []),
         seg.text.strip()]
        for res in results
        if res.transcript is not None
        for seg in res.transcript.segments
    ]  # fmt: skip
    return {"headers": SPEAKER_SEGMENT_HEADERS if with_speakers else SEGMENT_HEADERS, "data": rows}


RESULT_LABELS = {Outcome.DONE: "✓ done", Outcome.NO_SPEECH: "⚠ no speech", Outcome.FAILED: "✗ failed"}


def stats_rows(results: list[FileResult]) -> list[list]:
    """One table row per file: result, audio duration, processing time and RTF, device and peak GPU memory."""
    rows = []
    for res in results:
        t = res.transcript
        if t is None:
            rows.append([res.name, RESULT_LABELS[Outcome.FAILED], "—", "—", "—"])
            continue
        peak = "" if t.peak_gpu_memory_mb is None else f" · peak {t.peak_gpu_memory_mb:,.0f} MB"
        rows.append([
            res.name,
            RESULT_LABELS[res.outcome],
            _seconds(t.audio_duration),
            f"{t.processing_time:.2f} s · RTF {t.real_time_factor:.3f}",
            f"{t.device}{peak}",
        ])
    return rows


def transcript_text(results: list[FileResult]) -> str:
    """The transcript box: the text itself (in paragraphs) for one file; a headed block per file for several."""
    if len(results) == 1:
        t = results[0].transcript
        return t.text.strip() if t is not None else ""
    blocks = []
    for res in results:
        body = {
            Outcome.DONE: res.transcript.text.strip() if res.transcript is not None else "",
            Outcome.NO_SPEECH: "(no speech recognised: see the messages)",
            Outcome.FAILED: "(not transcribed: see the messages)",
        }[res.outcome]
        blocks.append(f"── {res.name} ──\n{body}")
    return "\n\n".join(blocks)


def messages_md(results: list[FileResult], model_name: str, installed: list[str] | None = None) -> str:
    """The run summary, then every file that is not done (as written for the user) and every note; the advice
    names only the ``installed`` models when that is given."""
    counts = {outcome: sum(res.outcome is outcome for res in results) for outcome in Outcome}
    done, n = counts[Outcome.DONE], len(results)
    icon = "✓" if done == n else ("⚠" if done or counts[Outcome.NO_SPEECH] else "✗")
    summary = f"{icon} Transcribed {done} of {n} file{'s' if n != 1 else ''} with {model_name}."
    if counts[Outcome.NO_SPEECH]:
        summary += f" No speech recognised in {counts[Outcome.NO_SPEECH]}."
    if any(res.error and "cancelled" in res.error.lower() for res in results):
        summary += " Cancelled: the files finished before are kept."
    lines = [summary]
    for res in results:
        if res.outcome is Outcome.FAILED:
            lines.append(f"\n**✗ {res.name}**\n```\n{res.message}\n```")
        elif res.outcome is Outcome.NO_SPEECH:
            message = no_speech_message(res.name, res.transcript, installed) if res.transcript else res.message
            lines.append(f"\n**⚠ {res.name}**: " + message.replace("\n", " "))
        elif res.transcript is not None and res.transcript.notes:
            lines.append(f"\n**{res.name}**: " + " ".join(res.transcript.notes))
    return "\n".join(lines)


def recording_name(path: Path) -> str:
    """A recording's name for the page and its downloads: ``recording-20261201-181502.wav`` (when it was made)."""
    made = dt.datetime.fromtimestamp(path.stat().st_mtime)
    return f"recording-{made:%Y%m%d-%H%M%S}{path.suffix or '.wav'}"


TO_RESULTS = "[↓ Go to the transcript, speakers and downloads](#results)"  # far below the button on a phone
NO_AUDIO = "No audio: add an audio file or record with the microphone, then press Transcribe."
FOREIGN_PATH = ("Refused: only files uploaded to this server (or recorded on this page) are transcribed. Upload the "
                "file instead of naming a path.")
InputCheck = Callable[[str | os.PathLike], bool]


def uploaded_here(*own: Path) -> InputCheck:
    """The check that a path is a file in Gradio's upload folder (as it is now) or in one of the ``own`` folders,
    after following links; for a page built without a server's ``workspace``."""
    roots = [Path(get_upload_folder()), *own]
    return lambda path: is_file_within(path, roots)


def refuse_without_audio(files: list[str] | None, recording: str | None) -> str:
    """The page's first step: without audio, a "No audio" warning and nothing else (no job, the outputs keep the
    last results, no traceback in the log); with audio, a token naming the request to ``follow_status``.

    (Gradio 6.31 heads its toasts with their type; ``title`` is passed for the versions that show it.)
    """
    if not files and not recording:
        gr.Warning(NO_AUDIO, title="No audio")
        raise gr.Error(NO_AUDIO, title="No audio", visible=False, print_exception=False)  # stops what follows
    return uuid.uuid4().hex


# ---------------------------------------------------------------------------------------------------------------
# The event handler (thin: checks the request, runs batch.transcribe_files, formats the results)


class TranscribeHandler:
    """Runs one transcription request; the models folder and the exports folder are fixed at start.

    ``jobs`` is the server's one-job-at-a-time line, shared with the API (default: a line of its own). ``inputs``
    says whether a path a client sent may be read (default: ``uploaded_here``).
    """

    def __init__(
        self,
        store: ModelStore,
        exports_root: Path,
        keep_exports_s: float = DELETE_CACHE[1],
        policy: LongAudioPolicy | None = None,
        jobs: JobQueue | None = None,
        inputs: InputCheck | None = None,
        vocabulary: Vocabulary | None = None,
    ):
        self.store = store
        self.vocabulary = vocabulary  # the server's --vocabulary / --replacements, for requests that bring none
        self.policy = policy
        self.exports_root = exports_root
        self.is_input = inputs or uploaded_here(exports_root)
        self.blocks: gr.Blocks | None = None  # the page, once built: its queue knows which pages have gone
        self.keep_exports_s = keep_exports_s
        self.jobs = jobs or JobQueue()
        self._finished: dict[str, float] = {}  # request tokens whose job has ended (for follow_status)
        self._finished_lock = threading.Lock()
        self._cancelled: set[str] = set()  # request tokens whose run the person cancelled

    def __call__(
        self,
        files: list[str] | None,
        recording: str | None,
        model_key: str,
        identify_speakers: bool = False,
        speaker_count: str = "auto",
        token: str | None = None,
        vocabulary_text: str = "",
        replacements_text: str = "",
        progress: gr.Progress = gr.Progress(),  # noqa: B008  (Gradio's way of asking for a progress bar)
    ) -> tuple[str, dict, list[str], list[list], str]:
        """Transcribe files the app itself holds (a live recording; no upload check): returns text, segments,
        downloads, stats, messages."""
        return self._in_line(files, recording, model_key, identify_speakers, speaker_count, token, vocabulary_text,
                             replacements_text, progress)[:5]

    def transcribe(
        self,
        files: list[str] | None,
        recording: str | None,
        model_key: str,
        identify_speakers: bool = False,
        speaker_count: str = "auto",
        token: str | None = None,
        vocabulary_text: str = "",
        replacements_text: str = "",
        progress: gr.Progress = gr.Progress(),  # noqa: B008
        request: gr.Request = None,  # type: ignore[assignment]  (Gradio passes it)
    ) -> tuple[str, dict, list[str], list[list], str, list[FileResult]]:
        """The page's Transcribe (and its API's ``/transcribe``): what ``__call__`` returns, and the results
        themselves (the page keeps them to rename speakers). Only files uploaded to this server are read; the
        vocabulary boxes' phrases are boosted and their replacements applied (the server's defaults when empty).

        Runs when the server's job line (``jobs``) gives it its turn, which logs the job's start and end; a
        request whose page has gone by then is dropped. ``token`` (from ``refuse_without_audio``) is marked
        finished at the end.
        """
        self.refuse_foreign_paths([*(files or []), *([recording] if recording else [])])
        return self._in_line(files, recording, model_key, identify_speakers, speaker_count, token, vocabulary_text,
                             replacements_text, progress, request)

    def _in_line(
        self,
        files: list[str] | None,
        recording: str | None,
        model_key: str,
        identify_speakers: bool,
        speaker_count: str,
        token: str | None,
        vocabulary_text: str,
        replacements_text: str,
        progress: gr.Progress,
        request: gr.Request | None = None,
    ) -> tuple[str, dict, list[str], list[list], str, list[FileResult]]:
        count = len(files or []) + bool(recording)
        vocabulary = vocabulary_panel.request_vocabulary(vocabulary_text, replacements_text, self.vocabulary)

        def waiting() -> None:
            progress(0.0, desc="Waiting for the transcription before this one…")

        try:
            with self.jobs.job(files=count, model=model_key, via="page", on_wait=waiting, gone=self._gone(request)):
                return self._run(files, recording, model_key, progress, identify_speakers, speaker_count, vocabulary,
                                 token)
        except ClientGone:
            raise gr.Error("The page went away before its turn: nothing was transcribed.", visible=False,
                           print_exception=False) from None
        finally:
            if token is not None:
                ended = time.monotonic()
                with self._finished_lock:
                    self._finished = {t: at for t, at in self._finished.items() if ended - at < FOLLOW_MAX_S}
                    self._finished[token] = ended
                    self._cancelled.discard(token)

    def cancel(self, token: str | None) -> str:
        """Cancel the run of request ``token``: it stops at its next window or file, keeping what is finished."""
        if token:
            with self._finished_lock:
                if token not in self._finished:
                    self._cancelled.add(token)
        return "Cancelling: the run stops after the part it is on; what is finished is kept…"

    def cancel_from_page(self, token: str | None) -> dict:
        """The page's Cancel button: cancel, say so, and grey the button until the run has stopped."""
        gr.Info(self.cancel(token), title="Cancel")
        return gr.update(value="Cancelling…", interactive=False)

    def _check_cancelled(self, token: str | None, worker: threading.Thread) -> None:
        """Raise ``CancelledError`` in the run's own thread (not in a progress ticker's) once it is cancelled."""
        if token is not None and token in self._cancelled and threading.current_thread() is worker:
            raise CancelledError("Cancelled: you stopped the run before this file was finished.")

    def _gone(self, request: gr.Request | None) -> Callable[[], bool] | None:
        """Whether the page that sent ``request`` has gone (Gradio marks its running event dead when the page's
        connection closes), as a check for the job line; None when that cannot be known."""
        queue = getattr(self.blocks, "_queue", None)
        session = getattr(request, "session_hash", None)
        if queue is None or not session:
            return None

        def gone() -> bool:
            running = [event for events in list(queue.active_jobs) if events for event in list(events)]
            return any(event.session_hash == session and not event.alive for event in running)

        return gone

    def refuse_foreign_paths(self, paths: list[str]) -> None:
        """Stop a request naming a file that was not uploaded to this server (or recorded by it), before anything
        reads it; the error names no path."""
        if any(not isinstance(p, str | Path) or not self.is_input(p) for p in paths):
            log.warning("Refused a page request naming a file that was not uploaded to this server")
            raise gr.Error(FOREIGN_PATH, title="Not an upload", print_exception=False)

    def finished(self, token: str) -> bool:
        """Whether the job of the request ``token`` has ended."""
        with self._finished_lock:
            return token in self._finished

    def follow_status(self, token: str | None) -> Iterator[str]:
        """The model-status box, redrawn each time a model's state changes (a load starts, ends or fails), until
        the job of request ``token`` has ended: the box never lags the progress."""
        seen, deadline = -1, time.monotonic() + FOLLOW_MAX_S
        while time.monotonic() < deadline:
            version = self.store.wait_for_change(seen, timeout=0.5)
            if version != seen:
                seen = version
                yield status_md(self.store)
            if token is None or self.finished(token):
                yield status_md(self.store)
                return

    def _run(
        self, files: list[str] | None, recording: str | None, model_key: str, progress: gr.Progress,
        identify_speakers: bool = False, speaker_count: str = "auto", vocabulary: Vocabulary | None = None,
        token: str | None = None,
    ) -> tuple[str, dict, list[str], list[list], str, list[FileResult]]:  # fmt: skip
        if not files and not recording:  # the page refuses this before; an API caller gets an error
            raise gr.Error(NO_AUDIO, title="No audio", print_exception=False)
        paths = [str(f) for f in files or []] + ([str(recording)] if recording else [])
        try:
            spec = get_transcription_spec(model_key)
            options = speakers.speaker_options(identify_speakers, speaker_count)
        except AppError as exc:
            raise gr.Error(str(exc), title="Unknown model", print_exception=False) from None
        except ValueError as exc:
            raise gr.Error(f"Number of speakers: {exc}.", title="Speakers", print_exception=False) from None
        names = [Path(p).name for p in files or []] + ([recording_name(Path(recording))] if recording else [])
        if problem := self._model_problem(spec.key):
            gr.Warning(f"{spec.display_name} is not available. See the messages below the button.")
            not_done = [FileResult(Path(name), name, error="model not available") for name in names]
            message = f"✗ {spec.display_name} is not available; nothing was transcribed.\n```\n{problem}\n```"
            return "", segment_rows([]), [], stats_rows(not_done), message, not_done
        speaker_problem = self._model_problem(DIARIZER) if options is not None else None
        if speaker_problem:
            gr.Warning("Speakers cannot be identified: the speaker model is not available. Transcribing without.")
            options = None
        progress(0.0, desc=f"Starting {spec.display_name}…")
        run_dir = self._new_exports_dir()
        worker = threading.current_thread()

        def report(fraction: float, message: str) -> None:
            self._check_cancelled(token, worker)
            progress(fraction, desc=message)

        results = transcribe_files_batched(  # several files share model calls (the job's batches)
            paths,
            spec.key,
            run_dir,
            store=self.store,
            policy=self.policy,
            names=names,
            progress=report,
            speakers=options,
            vocabulary=vocabulary,
        )
        failed = [res.name for res in results if res.outcome is Outcome.FAILED]
        silent = [res.name for res in results if res.outcome is Outcome.NO_SPEECH]
        if failed:
            gr.Warning(f"Not transcribed: {', '.join(failed)}. See the messages below the button.")
        if silent:
            gr.Warning(f"No speech recognised in {', '.join(silent)}. See the messages below the button.",
                       title="No speech")
        messages = messages_md(results, spec.display_name, self.store.installed())
        if speaker_problem:
            messages += "\n\n**⚠ Speakers were not identified:** the speaker model is not available.\n```\n"
            messages += f"{speaker_problem}\n```"
        downloads = self.downloads(results, run_dir)
        messages += f"\n\n{TO_RESULTS}"
        return transcript_text(results), segment_rows(results), downloads, stats_rows(results), messages, results

    @staticmethod
    def downloads(results: list[FileResult], run_dir: Path) -> list[str]:
        """Every written file, after one ZIP holding them all (when there is more than one)."""
        files = [p for res in results for p in res.outputs.values()]
        if len(files) < 2:
            return [str(p) for p in files]
        archive = write_zip(files, run_dir / f"transcripts-{dt.datetime.now():%Y%m%d-%H%M%S}.zip")
        return [str(archive), *(str(p) for p in files)]

    def _model_problem(self, key: str) -> str | None:
        """Why the model cannot be used now (its files were removed or damaged), or None.

        A model already in memory is usable whatever happened to its files since.
        """
        if self.store.status(key).ready:
            return None
        try:
            self.store.validate([key])
        except AppError as exc:
            return str(exc)
        return None

    def new_exports_dir(self) -> Path:
        """A fresh folder for downloads (see ``_new_exports_dir``)."""
        return self._new_exports_dir()

    def _new_exports_dir(self) -> Path:
        """A fresh folder for this request's downloads; folders older than ``keep_exports_s`` are removed.

        Gradio copies returned files into its own cache (which ``delete_cache`` cleans), so these are only
        staging copies.
        """
        self.exports_root.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - self.keep_exports_s
        for old in self.exports_root.iterdir():
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.exports_root))


# ---------------------------------------------------------------------------------------------------------------
# The page


@dataclass
class Inputs:
    """The page's inputs: three tabs for the sound (Files, Record, Live), then what a transcription of files or a
    recording needs (model, speakers, the Transcribe button); Live needs only the model."""

    files: gr.File
    recording: gr.Audio
    live_panel: live.LivePanel
    model: gr.Radio
    speakers: speakers.SpeakerControls
    speaker_box: gr.Column
    button: gr.Button
    cancel: gr.Button  # shown while a run is under way (Transcribe is disabled meanwhile)
    tabs: dict[str, gr.Tab]
    opener: editor.OpenControls  # "Open transcript": a JSON download and its audio, back in the editor


def build_inputs(store: ModelStore, default_model: str) -> Inputs:
    """The input tabs, the model selector (models not installed shown disabled), speaker options and Transcribe."""
    with gr.Tabs(elem_id="input-tabs"):
        with gr.Tab("Files", id="files", elem_id="tab-files") as files_tab:
            files = gr.File(
                label="Audio files: drop one or more here, or click to choose", file_count="multiple",
                file_types=AUDIO_FILE_TYPES, type="filepath", elem_id="audio-files",
            )  # fmt: skip
        with gr.Tab("Record", id="record", elem_id="tab-record") as record_tab:
            recording = gr.Audio(
                label="Record with the microphone, then press Transcribe", sources=["microphone"], type="filepath",
                elem_id="recording",
            )  # fmt: skip
        with gr.Tab("Live", id="live", elem_id="tab-live") as live_tab:
            live_panel = live.build_panel()
        with gr.Tab("Open transcript", id="open", elem_id="tab-open") as open_tab:
            opener = editor.build_controls()
    model = gr.Radio(model_choices(store), value=default_model, label="Model", elem_id="model")
    gr.HTML(missing_models_html(store), elem_id="models-not-installed", visible=bool(missing_models_html(store)))
    with gr.Column(elem_id="speaker-options") as speaker_box:
        speaker_controls = speakers.build_controls(store)
    with gr.Row(equal_height=True):
        button = gr.Button("Transcribe", variant="primary", elem_id="transcribe-button")
        cancel = gr.Button("Cancel", variant="stop", visible=False, scale=0, min_width=110, elem_id="cancel-button")
    tabs = {"files": files_tab, "record": record_tab, "live": live_tab, "open": open_tab}
    return Inputs(files, recording, live_panel, model, speaker_controls, speaker_box, button, cancel, tabs, opener)


def wire_tabs(inputs: Inputs) -> None:
    """Live shows only what it needs: the model (it transcribes when you stop), not Transcribe or speakers; Open
    transcript has a button of its own."""
    for name, tab in inputs.tabs.items():
        shown = name in ("files", "record")
        tab.select(lambda shown=shown: (gr.update(visible=shown), gr.update(visible=shown)),
                   outputs=[inputs.button, inputs.speaker_box], queue=False, show_progress="hidden",
                   api_visibility="private")  # fmt: skip


def build_outputs() -> tuple[gr.Textbox, gr.Dataframe, gr.File, gr.Dataframe]:
    """Transcript, segments table, downloads and per-file statistics."""
    text = gr.Textbox(label="Transcript", lines=12, max_lines=30, buttons=["copy"], elem_id="transcript")
    segments = gr.Dataframe(
        headers=SEGMENT_HEADERS, datatype=["str", "str", "str", "str", "str"], label="Segments",
        interactive=False, wrap=True, max_height=400, column_widths=SEGMENT_WIDTHS, elem_id="segments",
    )
    downloads = gr.File(label="Downloads: everything as one ZIP, and each file (TXT, SRT, VTT, JSON, CSV, DOCX, "
                        "Markdown; RTTM with speakers)",
                        file_count="multiple", interactive=False, elem_id="downloads")  # every file in sight
    stats = gr.Dataframe(headers=STATS_HEADERS, label="Statistics per file", interactive=False, wrap=True,
                         column_widths=["24%", "18%", "16%", "20%", "22%"], elem_id="stats")
    return text, segments, downloads, stats


def build_accordions(models_dir: Path, policy: LongAudioPolicy, precision: Precision) -> None:
    """How to Use, Privacy & Performance, Model Information."""
    with gr.Accordion("How to Use", open=False):
        gr.Markdown(how_to_use_md(models_dir))
    with gr.Accordion("Privacy & Performance", open=False):
        gr.Markdown(PRIVACY_MD)
    with gr.Accordion("Model Information", open=False):
        gr.Markdown(model_info_md(models_dir, policy, precision))


def build_app(
    settings: Settings, store: ModelStore, exports_root: Path | None = None, jobs: JobQueue | None = None,
    input_check: InputCheck | None = None,
) -> gr.Blocks:
    """The whole page, wired to a ``TranscribeHandler``, with its queue (one transcription at a time; with
    ``jobs``, one at a time together with whatever else shares that line, such as the API).

    API: ``/transcribe`` (files, recording, model key, identify speakers, number of speakers → transcript,
    segments, downloads, statistics, messages), ``/rename_speakers`` (the speaker-names table → transcript,
    segments, downloads, timeline) and ``/model_status`` (→ the model-status Markdown).
    """
    if exports_root is None:
        exports_root = Path(tempfile.mkdtemp(prefix="transcribe_ui_exports_"))
        atexit.register(shutil.rmtree, exports_root, ignore_errors=True)
    models_dir = store.models_dir
    handler = TranscribeHandler(store, exports_root, settings.keep_results_s, settings.long_audio, jobs, input_check,
                                settings.vocabulary)
    run_downloads = RunDownloads(handler._new_exports_dir, handler.downloads)  # written again: rename, edit, reshape
    reshaper = subtitles_panel.Reshaper(run_downloads)
    tab_vocabulary = vocabulary_panel.TabVocabulary(settings.vocabulary)
    speaker_handlers = speakers.SpeakerHandlers(run_downloads, transcript_text, segment_rows, SEGMENT_WIDTHS)
    editor_handlers = editor.EditorHandlers(run_downloads, transcript_text, segment_rows)
    reopener = editor.Reopener(handler.refuse_foreign_paths, run_downloads, transcript_text, segment_rows, stats_rows)
    with gr.Blocks(
        title="Offline Speech Transcription", analytics_enabled=False, delete_cache=settings.delete_cache
    ) as demo:
        handler.blocks = demo
        gr.Markdown(header_md(models_dir), elem_id="app-header")
        if notice := device_notice_md(store):
            gr.Markdown(notice, elem_id="device-notice")
        token = gr.State()
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                inputs = build_inputs(store, settings.default_model)
                messages = gr.Markdown(READY_MESSAGE, label="Messages", elem_id="messages")  # right below the button
                vocabulary = vocabulary_panel.build_controls(settings)
                subtitle_controls = subtitles_panel.build_controls()
                status = gr.Markdown(status_md(store), elem_id="model-status")
            with gr.Column(scale=3, min_width=320, elem_id="results"):
                speaker_view = speakers.build_view()  # the speaker timeline, above the transcript
                editor_view = editor.build()  # read along, click to hear, correct and save
                text, segments, downloads, stats = build_outputs()
                answer = build_ask_panel(store, handler.jobs, segments)  # "Ask about this transcript", under them
        build_accordions(models_dir, settings.long_audio, settings.precision)
        files, recording, model, speaker_controls, button = (
            inputs.files, inputs.recording, inputs.model, inputs.speakers, inputs.button)
        live_panel = inputs.live_panel
        wire_tabs(inputs)

        # A request without audio is refused before anything runs, so the outputs keep the last results.
        checked = button.click(refuse_without_audio, inputs=[files, recording], outputs=token,
                               concurrency_limit=None, show_progress="hidden", api_visibility="private")
        # The last run's results go as the new one starts (the progress bar is drawn over the emptied messages).
        # Transcribe is disabled while the run is under way (a second click would queue the same work again) and
        # Cancel shows.
        cleared = [messages, text, segments, downloads, stats, speaker_view.panel, answer, button, inputs.cancel]
        checked = checked.success(lambda: (*cleared_results(), gr.update(interactive=False), gr.update(visible=True)),
                                  outputs=cleared, queue=False, show_progress="hidden", api_visibility="private")
        inputs.cancel.click(handler.cancel_from_page, inputs=token, outputs=inputs.cancel, queue=False,
                            show_progress="hidden", api_visibility="private")
        checked.success(
            handler.transcribe,
            inputs=[files, recording, model, speaker_controls.identify, speaker_controls.count, token,
                    vocabulary.phrases, vocabulary.replacements],
            outputs=[text, segments, downloads, stats, messages, speaker_view.state],
            api_name="transcribe",
            api_description="Transcribe audio files (and/or a recording) with a local model; optionally identify "
            "the speakers (identify_speakers, speaker_count: auto or 1-4); vocabulary_text: names and terms, one per "
            "line; replacements_text: find => replace, one per line.",
            concurrency_limit="default",  # the queue's default: one job at a time
            show_progress_on=messages,  # one progress bar, right below the button
        ).then(
            speaker_handlers.show, inputs=speaker_view.state,
            outputs=[speaker_view.panel, speaker_view.timeline, speaker_view.names, segments], api_visibility="private",
            queue=False, show_progress="hidden",
        ).then(
            reshaper.after_run, inputs=[speaker_view.state, speaker_view.names, *subtitle_controls.inputs],
            outputs=downloads,
            api_visibility="private", show_progress="hidden",
        ).then(
            editor.EditorHandlers.show, inputs=speaker_view.state, outputs=editor_view, api_visibility="private",
            queue=False, show_progress="hidden",
        ).then(
            lambda: (gr.update(interactive=True), gr.update(visible=False, value="Cancel", interactive=True)),
            outputs=[button, inputs.cancel], queue=False, show_progress="hidden", api_visibility="private",
        )  # fmt: skip
        subtitles_panel.wire(subtitle_controls, speaker_view.state, speaker_view.names, downloads, reshaper)
        editor.wire(editor_view, editor_handlers, speaker_view.state, speaker_view.names, subtitle_controls.inputs,
                    text, segments, downloads)
        speakers.wire(speaker_view, speaker_handlers, text, segments, downloads, subtitle_controls.inputs)
        inputs.opener.button.click(
            reopener.open, inputs=[inputs.opener.transcript, inputs.opener.audio, *subtitle_controls.inputs],
            outputs=[text, segments, downloads, stats, messages, speaker_view.state], api_visibility="private",
        ).success(
            speaker_handlers.show, inputs=speaker_view.state,
            outputs=[speaker_view.panel, speaker_view.timeline, speaker_view.names, segments], api_visibility="private",
            queue=False, show_progress="hidden",
        ).then(
            editor.EditorHandlers.show, inputs=speaker_view.state, outputs=editor_view, api_visibility="private",
            queue=False, show_progress="hidden",
        )  # fmt: skip
        checked.success(handler.follow_status, inputs=token, outputs=status, concurrency_limit=None,
                        show_progress="hidden", api_visibility="private")
        live_mode = live.LiveMode(store, settings.live, exports_root, handler.jobs, tab_vocabulary)
        vocabulary_panel.remember(demo, vocabulary, settings, tab_vocabulary)
        live.wire(demo, live_panel, live_mode, handler, model, [text, segments, downloads, stats, messages],
                  (vocabulary.phrases, vocabulary.replacements))

        def model_status() -> str:
            """Each model's local path and state: not installed, not loaded, loading…, ready on GPU/CPU."""
            return status_md(store)

        # Outside the queue, so the state stays live while a transcription runs.
        refresh = dict(fn=model_status, outputs=status, queue=False, show_progress="hidden")
        demo.load(**refresh, api_name="model_status")
        gr.Timer(STATUS_REFRESH_S).tick(**refresh, api_visibility="private")
    return demo.queue(default_concurrency_limit=1)  # one GPU job at a time; the others wait in the queue


def cleared_results() -> tuple:
    """What the results show while a new run starts: nothing of the last run (messages, transcript, segments,
    downloads, statistics, the speaker panel, the last answer)."""
    return "", "", segment_rows([]), [], [], gr.update(visible=False), ""


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts, so the browser fetches no web fonts."""
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
