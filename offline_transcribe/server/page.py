"""The Gradio page: upload or record audio, pick a model, read and download the transcript.

``build_app(settings, store)`` returns the ``gr.Blocks`` that the command line launches once the model files have
passed the start-up check (this module is imported only then: importing Gradio takes seconds). The work itself
is ``batch.transcribe_files``; this module checks requests, reports progress and formats the results. Everything
it says about the models comes from the registry.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

from ..backends import get_backend
from ..batch import FileResult, transcribe_files
from ..config import DELETE_CACHE, GUIDE, SETUP_SCRIPT, LongAudioPolicy, Settings
from ..errors import AppError
from ..models.files import models_dir_option
from ..models.registry import DIARIZER, MODELS, get_transcription_spec, required_keys, transcription_models
from ..models.store import ModelStore
from ..types import ModelState
from . import speakers

log = logging.getLogger("transcribe.ui")

STATUS_REFRESH_S = 2.0
AUDIO_FILE_TYPES = ["audio", "video", ".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm", ".aac", ".mp4"]
SEGMENT_HEADERS = ["File", "Start (s)", "End (s)", "Text"]
SEGMENT_WIDTHS = ["20%", "10%", "10%", "60%"]
SPEAKER_SEGMENT_HEADERS = ["File", "Start (s)", "End (s)", "Speaker", "Text"]  # when speakers were identified
TRANSCRIBERS = transcription_models()  # the models offered for transcription (not the diarizer)
STATS_HEADERS = ["File", "Result", "Audio", "Processing", "RTF", "Device", "Peak GPU memory"]
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"]
CSS = """
#app-header h1 { margin-bottom: 0.2em; }
#model-status { font-size: 0.9em; }
#messages pre, #messages pre code { white-space: pre-wrap; overflow-wrap: anywhere; }
""" + speakers.CSS


# ---------------------------------------------------------------------------------------------------------------
# Page text


def _names(keys: list[str]) -> str:
    """``**A**``, ``**A** and **B**``, ``**A**, **B** and **C**``."""
    names = [f"**{TRANSCRIBERS[k].display_name}**" for k in keys]
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]


def header_md(models_dir: Path) -> str:
    """The title and subtitle: where the models come from and that nothing goes online."""
    optional = [k for k in TRANSCRIBERS if k not in required_keys()]
    extra = f" (and {_names(optional)} when installed)" if optional else ""
    return (
        "# Offline Speech Transcription\n"
        f"NVIDIA {_names(required_keys())}{extra}, loaded from local model files in "
        f"`{models_dir}`. After the one-time setup everything runs fully offline: no downloads, no Hugging Face "
        "look-ups, and your audio never leaves this machine."
    )


def _model_summaries() -> str:
    return "\n".join(f"   - *{spec.display_name}*: {spec.summary}" for spec in TRANSCRIBERS.values())


def how_to_use_md(models_dir: Path) -> str:
    """The "How to Use" accordion."""
    return f"""
1. **Add audio**: drop one or more files into *Audio files* (WAV, FLAC, MP3, M4A, OGG/Opus, WebM, or a video
   with a sound track), or record a clip with the microphone (both are transcribed when you give both).
   Several files are transcribed one after another.
2. **Choose a model**:
{_model_summaries()}
3. **Who spoke?** Tick *Identify speakers* (and give the number of speakers, or leave *auto*) to have every
   segment labelled `Speaker 1`, `Speaker 2`…, with a timeline of who talks when; type names into the speaker
   table and press *Rename speakers* to rename them in the text and every download. This needs the optional
   speaker model (`python {SETUP_SCRIPT} --only {DIARIZER}`).
4. **Press Transcribe.** A progress bar follows each file.
5. **Read and download**: the transcript, a table of timed segments, and files in TXT, SRT and VTT (subtitles),
   JSON (everything, word timings included) and CSV. The statistics table shows, per file, the audio length,
   processing time, real-time factor, device and peak GPU memory.

**Models load from local files** in `{models_dir}`: each one the first time you use it (or at start with
`--preload`), and then it stays in memory. The *Model status* box shows whether each model is not loaded,
loading or ready, and on which device. Nothing is downloaded while the app runs.

The model files are created once by the setup script (`python {SETUP_SCRIPT}`; see `{GUIDE}`). If a file goes
missing, the page tells you which one and the command that restores it.

**Without a browser**: `python transcribe_ui.py --transcribe FILE... --model parakeet --format srt --output-dir DIR`.
"""


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


def model_info_md(models_dir: Path, policy: LongAudioPolicy | None = None) -> str:
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
- A model is loaded once, on first use (or at start with `--preload`), and kept in memory for later requests.
  Its files are checked against the manifest written by the setup script; a missing or damaged file gives a
  message naming it and the command that re-creates it, instead of a traceback.

### Accuracy and speed
{_card_table()}

These figures are **reported by NVIDIA's model cards** ({links}) from the Hugging Face Open ASR Leaderboard;
this app did not measure them. Lower WER (word error rate) is better. RTFx is seconds of audio per second of
compute (higher is faster); the statistics table here shows RTF = processing time ÷ audio length (lower is faster).

### GPU notes
{weights}
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


def _gpu_memory(mb: float | None) -> str:
    return "—" if mb is None else f"{mb:,.0f} MB"


def model_choices(store: ModelStore) -> list[tuple[str, str]]:
    """Selector entries: each model's name and whether its files are installed."""
    installed = set(store.installed())
    return [
        (f"{spec.display_name}{'' if key in installed else ' (not installed)'} · {spec.summary}", key)
        for key, spec in TRANSCRIBERS.items()
    ]


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
    """The segments table: one row per segment of every transcribed file, a Speaker column when identified."""
    with_speakers = speakers.has_speakers(results)
    rows = [
        [res.name, round(seg.start, 2), round(seg.end, 2), *([seg.speaker or ""] if with_speakers else []),
         seg.text.strip()]
        for res in results
        if res.transcript is not None
        for seg in res.transcript.segments
    ]  # fmt: skip
    return {"headers": SPEAKER_SEGMENT_HEADERS if with_speakers else SEGMENT_HEADERS, "data": rows}


def stats_rows(results: list[FileResult]) -> list[list]:
    """One table row per file: result, audio duration, processing time, RTF, device, peak GPU memory."""
    rows = []
    for res in results:
        t = res.transcript
        if t is None:
            rows.append([res.name, "✗ failed", "—", "—", "—", "—", "—"])
            continue
        rows.append([
            res.name,
            "✓ done" if t.text.strip() else "⚠ no text",
            _seconds(t.audio_duration),
            f"{t.processing_time:.2f} s",
            f"{t.real_time_factor:.3f}",
            t.device,
            _gpu_memory(t.peak_gpu_memory_mb),
        ])
    return rows


def transcript_text(results: list[FileResult]) -> str:
    """The transcript box: the text itself for one file; a headed block per file for several."""
    if len(results) == 1:
        t = results[0].transcript
        return t.text.strip() if t is not None else ""
    blocks = []
    for res in results:
        body = res.transcript.text.strip() if res.transcript is not None else "(not transcribed: see the messages)"
        blocks.append(f"── {res.name} ──\n{body or '(no speech found)'}")
    return "\n\n".join(blocks)


def messages_md(results: list[FileResult], model_name: str) -> str:
    """The run summary, then every failure (as written for the user) and every note."""
    done = sum(res.ok for res in results)
    icon = "✓" if done == len(results) else ("⚠" if done else "✗")
    lines = [f"{icon} Transcribed {done} of {len(results)} file{'s' if len(results) != 1 else ''} with {model_name}."]
    for res in results:
        if res.error:
            lines.append(f"\n**✗ {res.name}**\n```\n{res.error}\n```")
        elif res.transcript is not None and res.transcript.notes:
            lines.append(f"\n**{res.name}**: " + " ".join(res.transcript.notes))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# The event handler (thin: checks the request, runs batch.transcribe_files, formats the results)


class TranscribeHandler:
    """Runs one transcription request; the models folder and the exports folder are fixed at start."""

    def __init__(
        self,
        store: ModelStore,
        exports_root: Path,
        keep_exports_s: float = DELETE_CACHE[1],
        policy: LongAudioPolicy | None = None,
    ):
        self.store = store
        self.policy = policy
        self.exports_root = exports_root
        self.keep_exports_s = keep_exports_s
        self._job_ids = itertools.count(1)

    def __call__(
        self,
        files: list[str] | None,
        recording: str | None,
        model_key: str,
        identify_speakers: bool = False,
        speaker_count: str = "auto",
        progress: gr.Progress = gr.Progress(),  # noqa: B008  (Gradio's way of asking for a progress bar)
    ) -> tuple[str, dict, list[str], list[list], str]:
        """Transcribe the uploaded files and the recording; returns text, segments, downloads, stats, messages."""
        return self.transcribe(files, recording, model_key, identify_speakers, speaker_count, progress)[:5]

    def transcribe(
        self,
        files: list[str] | None,
        recording: str | None,
        model_key: str,
        identify_speakers: bool = False,
        speaker_count: str = "auto",
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, dict, list[str], list[list], str, list[FileResult]]:
        """What ``__call__`` returns, and the results themselves (the page keeps them to rename speakers).

        Logs one line when the job starts and one when it ends, with ``time.monotonic()`` (the queue's one-job-at-
        a-time rule can be checked from the log).
        """
        job = next(self._job_ids)
        started = time.monotonic()
        count = len(files or []) + bool(recording)
        log.info("job %d start t=%.6f files=%d model=%s", job, started, count, model_key)
        try:
            return self._run(files, recording, model_key, progress, identify_speakers, speaker_count)
        finally:
            ended = time.monotonic()
            log.info("job %d end t=%.6f (%.2f s)", job, ended, ended - started)

    def _run(
        self, files: list[str] | None, recording: str | None, model_key: str, progress: gr.Progress,
        identify_speakers: bool = False, speaker_count: str = "auto",
    ) -> tuple[str, dict, list[str], list[list], str, list[FileResult]]:  # fmt: skip
        paths = [str(f) for f in files or []] + ([str(recording)] if recording else [])
        if not paths:
            raise gr.Error("Add an audio file or record with the microphone, then press Transcribe.", title="No audio")
        try:
            spec = get_transcription_spec(model_key)
            options = speakers.speaker_options(identify_speakers, speaker_count)
        except AppError as exc:
            raise gr.Error(str(exc), title="Unknown model") from None
        except ValueError as exc:
            raise gr.Error(f"Number of speakers: {exc}.", title="Speakers") from None
        names = [Path(p).name for p in files or []] + (["microphone recording"] if recording else [])
        if problem := self._model_problem(spec.key):
            gr.Warning(f"{spec.display_name} is not available. See the messages below the transcript.")
            not_done = [FileResult(Path(name), name, error="model not available") for name in names]
            message = f"✗ {spec.display_name} is not available; nothing was transcribed.\n```\n{problem}\n```"
            return "", segment_rows([]), [], stats_rows(not_done), message, not_done
        speaker_problem = self._model_problem(DIARIZER) if options is not None else None
        if speaker_problem:
            gr.Warning("Speakers cannot be identified: the speaker model is not available. Transcribing without.")
            options = None
        progress(0.0, desc=f"Starting {spec.display_name}…")
        results = transcribe_files(
            paths,
            spec.key,
            self._new_exports_dir(),
            store=self.store,
            policy=self.policy,
            names=names,
            progress=lambda fraction, message: progress(fraction, desc=message),
            speakers=options,
        )
        failed = [res.name for res in results if not res.ok]
        if failed:
            gr.Warning(f"Not transcribed: {', '.join(failed)}. See the messages below the transcript.")
        downloads = [str(p) for res in results for p in res.outputs.values()]
        messages = messages_md(results, spec.display_name)
        if speaker_problem:
            messages += "\n\n**⚠ Speakers were not identified:** the speaker model is not available.\n```\n"
            messages += f"{speaker_problem}\n```"
        return transcript_text(results), segment_rows(results), downloads, stats_rows(results), messages, results

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


def build_inputs(
    store: ModelStore, default_model: str
) -> tuple[gr.File, gr.Audio, gr.Radio, gr.Markdown, gr.Button, speakers.SpeakerControls]:
    """Upload, microphone, model selector, speaker options, model status and the Transcribe button."""
    files = gr.File(
        label="Audio files", file_count="multiple", file_types=AUDIO_FILE_TYPES, type="filepath", elem_id="audio-files"
    )
    recording = gr.Audio(
        label="…or record with the microphone", sources=["microphone"], type="filepath", elem_id="recording"
    )
    model = gr.Radio(model_choices(store), value=default_model, label="Model", elem_id="model")
    speaker_controls = speakers.build_controls(store)
    button = gr.Button("Transcribe", variant="primary", elem_id="transcribe-button")
    status = gr.Markdown(status_md(store), elem_id="model-status")
    return files, recording, model, status, button, speaker_controls


def build_outputs() -> tuple[gr.Textbox, gr.Dataframe, gr.File, gr.Dataframe, gr.Markdown]:
    """Transcript, segments table, downloads, per-file statistics and messages."""
    text = gr.Textbox(label="Transcript", lines=12, max_lines=30, buttons=["copy"], elem_id="transcript")
    messages = gr.Markdown(label="Messages", elem_id="messages")
    segments = gr.Dataframe(
        headers=SEGMENT_HEADERS, datatype=["str", "number", "number", "str", "str"], label="Segments",
        interactive=False, wrap=True, max_height=400, column_widths=SEGMENT_WIDTHS, elem_id="segments",
    )
    downloads = gr.File(label="Downloads (TXT, SRT, VTT, JSON, CSV; RTTM with speakers)", file_count="multiple",
                        interactive=False,
                        elem_id="downloads")
    stats = gr.Dataframe(headers=STATS_HEADERS, label="Statistics per file", interactive=False, elem_id="stats")
    return text, segments, downloads, stats, messages


def build_accordions(models_dir: Path, policy: LongAudioPolicy) -> None:
    """How to Use, Privacy & Performance, Model Information."""
    with gr.Accordion("How to Use", open=False):
        gr.Markdown(how_to_use_md(models_dir))
    with gr.Accordion("Privacy & Performance", open=False):
        gr.Markdown(PRIVACY_MD)
    with gr.Accordion("Model Information", open=False):
        gr.Markdown(model_info_md(models_dir, policy))


def build_app(settings: Settings, store: ModelStore, exports_root: Path | None = None) -> gr.Blocks:
    """The whole page, wired to a ``TranscribeHandler``, with its queue (one transcription at a time).

    API: ``/transcribe`` (files, recording, model key → transcript, segments, downloads, statistics, messages)
    and ``/model_status`` (→ the model-status Markdown).
    """
    if exports_root is None:
        exports_root = Path(tempfile.mkdtemp(prefix="transcribe_ui_exports_"))
        atexit.register(shutil.rmtree, exports_root, ignore_errors=True)
    models_dir = store.models_dir
    handler = TranscribeHandler(store, exports_root, settings.keep_results_s, settings.long_audio)
    speaker_handlers = speakers.SpeakerHandlers(handler._new_exports_dir, transcript_text, segment_rows, SEGMENT_WIDTHS)
    with gr.Blocks(
        title="Offline Speech Transcription", analytics_enabled=False, delete_cache=settings.delete_cache
    ) as demo:
        gr.Markdown(header_md(models_dir), elem_id="app-header")
        with gr.Row():
            with gr.Column(scale=2):
                files, recording, model, status, button, speaker_controls = build_inputs(store, settings.default_model)
            with gr.Column(scale=3):
                speaker_view = speakers.build_view()  # the speaker timeline, above the transcript
                text, segments, downloads, stats, messages = build_outputs()
        build_accordions(models_dir, settings.long_audio)
        button.click(
            handler.transcribe,
            inputs=[files, recording, model, speaker_controls.identify, speaker_controls.count],
            outputs=[text, segments, downloads, stats, messages, speaker_view.state],
            api_name="transcribe",
            api_description="Transcribe audio files (and/or a recording) with a local model; optionally identify "
            "the speakers (identify_speakers, speaker_count: auto or 1-4).",
            concurrency_limit="default",  # the queue's default: one job at a time
        ).then(
            speaker_handlers.show, inputs=speaker_view.state,
            outputs=[speaker_view.panel, speaker_view.timeline, speaker_view.names, segments], api_visibility="private",
        )  # fmt: skip
        speakers.wire(speaker_view, speaker_handlers, text, segments, downloads)

        def model_status() -> str:
            """Each model's local path and state: not installed, not loaded, loading…, ready on GPU/CPU."""
            return status_md(store)

        # Outside the queue, so the state stays live while a transcription runs.
        refresh = dict(fn=model_status, outputs=status, queue=False, show_progress="hidden")
        demo.load(**refresh, api_name="model_status")
        gr.Timer(STATUS_REFRESH_S).tick(**refresh, api_visibility="private")
    return demo.queue(default_concurrency_limit=1)  # one GPU job at a time; the others wait in the queue


def theme() -> gr.themes.Base:
    """Gradio's default look with system fonts, so the browser fetches no web fonts."""
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
