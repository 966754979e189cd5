""""Open transcript": a JSON download of an earlier transcription plus its audio, back in the editor, so editing
goes on after the tab was closed. Both files must be uploads to this server (the same check as Transcribe's); the
JSON must be one this app wrote (``transcript_file``); audio whose length does not fit the transcript gets a
warning. After opening, the results are as after a transcription: transcript, segments, speakers, downloads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import gradio as gr

from ...audio import load_audio
from ...batch import FileResult
from ...errors import AppError, AudioDecodeError, TranscriptFileError
from ...exports import EXPORT_FORMATS, ExportOptions, write_exports
from ..run_downloads import RunDownloads
from ..subtitles_panel import options_of
from .transcript_file import read_transcript

AUDIO_TYPES = ["audio", "video", ".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm", ".aac", ".mp4"]
MISFIT_S = 2.0  # a transcript and audio whose lengths differ by more (and by more than 5 %) do not belong together


@dataclass
class OpenControls:
    """The "Open transcript" tab: the JSON download, its audio and the Open button."""

    transcript: gr.File
    audio: gr.File
    button: gr.Button


def build_controls() -> OpenControls:
    """The tab's contents (``page.build_inputs`` puts them in their own tab)."""
    gr.Markdown("Go on editing an earlier transcript: its **JSON** download and the **audio** it was made from.",
                elem_id="open-help")  # fmt: skip
    transcript = gr.File(label="Transcript (the JSON download)", file_types=[".json"], type="filepath",
                         elem_id="open-json")  # fmt: skip
    audio = gr.File(label="Its audio", file_types=AUDIO_TYPES, type="filepath", elem_id="open-audio")
    button = gr.Button("Open transcript", variant="primary", elem_id="open-button")
    return OpenControls(transcript, audio, button)


def audio_seconds(path: Path, name: str) -> float:
    """The length of an audio or video file (from its header; decoded when the header does not say)."""
    try:
        with av.open(str(path), mode="r") as container:
            stream = container.streams.best("audio")
            if stream is None:
                raise AudioDecodeError(f"'{name}' is not an audio file (no audio stream found).")
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        raise AudioDecodeError(f"'{name}' could not be read as audio or video: the file is damaged or in an unknown "
                               "format.") from None  # fmt: skip
    return len(load_audio(path)) / 16000


def misfit(transcript_s: float, audio_s: float) -> bool:
    """Whether a transcript of ``transcript_s`` seconds clearly was not made from audio of ``audio_s``."""
    return abs(transcript_s - audio_s) > max(MISFIT_S, 0.05 * max(transcript_s, audio_s))


class Reopener:
    """Opens a JSON download and its audio as the page's run: ``refuse_foreign_paths`` is the Transcribe handler's
    input check, ``stats`` the statistics table's rows."""

    def __init__(
        self,
        refuse_foreign_paths: Callable[[list[str]], None],
        downloads: RunDownloads,
        text: Callable[[list[FileResult]], str],
        segments: Callable[[list[FileResult]], dict],
        stats: Callable[[list[FileResult]], list[list]],
    ):
        self.refuse_foreign_paths, self.downloads = refuse_foreign_paths, downloads
        self.text, self.segments, self.stats = text, segments, stats

    def open(
        self, transcript_file: str | None, audio_file: str | None, preset: str | None = None, *limits: float | None
    ) -> tuple[str, dict, list[str], list[list], str, list[FileResult]]:
        """Transcript, segments, downloads (subtitles as the page's settings say), statistics, messages and the
        run's results, from the two uploads."""
        if not transcript_file or not audio_file:
            missing = " and ".join(w for w, f in (("the transcript's JSON", transcript_file), ("its audio", audio_file))
                                   if not f)  # fmt: skip
            raise gr.Error(f"Add {missing}, then press Open transcript.", title="Not opened", print_exception=False)
        self.refuse_foreign_paths([transcript_file, audio_file])  # before anything reads them
        json_path, audio_path = Path(transcript_file), Path(audio_file)
        try:
            t = read_transcript(json_path)
            if not any(seg.text.strip() for seg in t.segments):
                raise TranscriptFileError(f"'{json_path.name}' has no text to edit: it is the transcript of a file "
                                          "where no speech was recognised.")  # fmt: skip
            seconds = audio_seconds(audio_path, audio_path.name)
        except AppError as exc:
            raise gr.Error(str(exc), title="Not opened", print_exception=False) from None
        name = Path(t.source).name if t.source.strip() else audio_path.name
        out_dir = self.downloads.new_dir()
        options = ExportOptions(options_of(preset, *limits))
        res = FileResult(audio_path, name, t, write_exports(t, out_dir, Path(name).stem, EXPORT_FORMATS, options))
        message = (f"✓ Opened {name}: {len(t.segments)} segment{'s' if len(t.segments) != 1 else ''} "
                   f"({t.model_name or t.model}), with {audio_path.name}. Edit it in the results, then Save edits.")
        if misfit(t.audio_duration, seconds):
            warning = (f"The transcript is of {t.audio_duration:.1f} s of audio, but {audio_path.name} lasts "
                       f"{seconds:.1f} s: is it the audio this transcript was made from?")  # fmt: skip
            gr.Warning(warning, title="Audio and transcript differ")
            message += f"\n\n**⚠ {warning}**"
        results = [res]
        return (self.text(results), self.segments(results), self.downloads.listing(results, out_dir),
                self.stats(results), message, results)  # fmt: skip
