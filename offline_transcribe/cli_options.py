"""The options of ``transcribe_ui.py``, in groups that the commands (``cli_commands``) share: models, server,
vocabulary, outputs, jobs, speakers, live. ``build_parser`` has them all, as the flags of earlier versions."""

from __future__ import annotations

import argparse
from pathlib import Path

from .config import API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT, MAX_FILE_SIZE
from .diarize import MAX_SPEAKERS
from .exports import EXPORT_FORMATS
from .jobs.on_ray import options as ray_options
from .models.registry import DEFAULT_MODEL, DIARIZER, MODELS, transcription_models
from .subtitles import arguments as subtitle_arguments
from .vocabulary.options_cli import add_vocabulary_options

__all__ = ["add_live_options", "add_model_options", "add_output_options", "add_job_options", "add_server_options",
           "add_speaker_option", "add_vocabulary_options", "build_parser", "ray_options", "subtitle_arguments"]


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Where the models are, which one, and how they run: every command has these."""
    p.add_argument("--models-dir", help="folder with the model files (default: $LOCAL_MODELS_DIR or local_models/ "
                   "beside transcribe_ui.py)")
    p.add_argument("--only", metavar="KEY[,KEY]",
                   help=f"start with only these models set up ({', '.join(MODELS)}); the others are shown as "
                   "not installed, with their setup command (default: every required model must be set up)")
    p.add_argument("--model", choices=list(transcription_models()),
                   help=f"default model on the page; the model for --transcribe and --live (default: {DEFAULT_MODEL}, "
                   "or the first of --only)")
    p.add_argument("--float32", action="store_true",
                   help="run Canary in float32 on a GPU too (default: bfloat16 where the GPU supports it, about half "
                   "the GPU memory)")
    p.add_argument("--canary-word-times", choices=["on", "off"], default="on",
                   help="Canary-Qwen gets word times from Parakeet (which transcribes the audio too, when installed): "
                   "on (default) or off (times per window of up to 40 s)")
    p.add_argument("--half", action="store_true", help=argparse.SUPPRESS)  # deprecated: bfloat16 is the default
    p.add_argument("--unload-after", type=float, metavar="MINUTES",
                   help="unload a model from memory after this many minutes without use (default: keep it)")
    p.add_argument("--verbose", action="store_true", help="also show the log lines of NeMo, Lightning and transformers")


def add_server_options(p: argparse.ArgumentParser) -> None:
    """The page's and the API's server."""
    g = p.add_argument_group("the server (page and API)")
    g.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: 127.0.0.1, this computer only)")
    g.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    g.add_argument("--share", action="store_true", help="also create a public Gradio link (uses the internet)")
    g.add_argument("--preload", action="store_true", help="load the default model in the background at start")
    g.add_argument("--max-file-size", default=MAX_FILE_SIZE, help=f"largest upload (default: {MAX_FILE_SIZE})")
    g.add_argument("--allowed-hosts", default="", metavar="NAMES",
                   help="host names, separated by commas, that the server answers to besides 127.0.0.1, localhost "
                   "and [::1] (a reverse proxy's); requests for any other name are refused")
    g.add_argument("--allowed-origins", default="", metavar="ORIGINS",
                   help="web pages, separated by commas (scheme://host:port), whose scripts may use the server "
                   "besides its own page; every other page is refused, loopback ones on other ports too")
    g.add_argument("--api-key", metavar="KEY", help=f"the key that the API and the page ask for (default: "
                   f"${API_KEY_ENV}, which other users cannot see in the process list); needed with a --host "
                   "other computers can reach")


def add_output_options(g: argparse._ArgumentGroup, formats: bool = True) -> None:
    """Where the files go (and, with ``formats``, which files)."""
    if formats:
        g.add_argument("--format", help=f"{', '.join(EXPORT_FORMATS)}, several separated by commas, or all "
                       "(default: txt)")
    g.add_argument("--output-dir", type=Path, help="where to write the files (default: the current folder)")
    g.add_argument("--overwrite", action="store_true", help="replace output files that already exist")


def add_job_options(g: argparse._ArgumentGroup) -> None:
    """A job's retries and batches."""
    g.add_argument("--retries", type=int, default=2, metavar="N",
                   help="a job's failed files are tried again on later runs up to N times (default: 2)")
    g.add_argument("--batch-seconds", type=float, metavar="S",
                   help="audio per model call when short files are batched (default: 30 on a CPU, measured; "
                   "1920 on a GPU)")


def add_speaker_option(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--speakers", nargs="?", const="auto", metavar="N|auto",
                   help=f"identify the speakers (1 to {MAX_SPEAKERS}, or auto: the default); needs the speaker "
                   f"model (python setup_local_models.py --only {DIARIZER}); also writes an .rttm file")


def add_live_options(p: argparse.ArgumentParser) -> None:
    """How live transcription cuts the audio (the page's Live and ``live``)."""
    g = p.add_argument_group("live transcription (the page's Live and the live command)")
    for name, what in (("chunk", "audio decoded per step"), ("left", "audio before the chunk the model sees"),
                       ("right", "audio after the chunk the model waits for")):
        g.add_argument(f"--live-{name}", type=float, metavar="SECONDS",
                       help=f"{what} (default: measured per device, see docs/benchmarks.md)")


def build_parser() -> argparse.ArgumentParser:
    """Every option, as flags: the command line of earlier versions (``--transcribe``, ``--live``, ``--ask``,
    ``--status``, ``--watch``), which still works beside the commands."""
    p = argparse.ArgumentParser(description="Offline speech transcription with local NeMo models.")
    add_model_options(p)
    add_server_options(p)
    add_vocabulary_options(p)
    headless = p.add_argument_group("without a browser")
    headless.add_argument("--transcribe", nargs="+", metavar="PATH",
                          help="transcribe these files, folders (searched recursively; outputs mirror the tree) or "
                          "manifests (NeMo JSONL, or a list of paths) and exit; a folder or manifest runs as a job "
                          "that a rerun resumes")
    add_output_options(headless)
    jobs = p.add_argument_group("folders and archives (jobs)")
    add_job_options(jobs)
    jobs.add_argument("--status", action="store_true",
                      help="print the job of --output-dir: counts and failures with their messages; transcribe nothing")
    jobs.add_argument("--watch", metavar="DIR", type=Path,
                      help="transcribe DIR, then each new file once it stops growing, until Ctrl-C")
    ray_options.add_arguments(p)
    subtitle_arguments.add_arguments(headless)
    headless.add_argument("--live", metavar="SOURCE", help="transcribe live and print each segment when it is "
                          "final: - reads 16 kHz mono s16le PCM from standard input, a file is played at real-time "
                          "speed")
    add_live_options(p)
    headless.add_argument("--ask", action="append", metavar="QUESTION",
                          help="ask Canary-Qwen's own LLM about each transcript: a question, or summary, key-points, "
                          "action-items, questions; again for more questions (answers in <name>.answers.md)")
    headless.add_argument("--transcript", nargs="+", metavar="JSON",
                          help="ask --ask about transcripts the app wrote before (their .json) instead of transcribing")
    add_speaker_option(headless)
    return p
